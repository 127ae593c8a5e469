"""Invariants of the fused sampled softmax (hypothesis, NumPy entry point).

The loss of a row is unchanged when a constant is added to all its logits.
Derived setup: append a column of ones to the table and a per-row value a_b
to the query; every logit of row b (positive, in-batch and sampled columns
alike) gains a_b / T, so the loss, the first D columns of both gradients and
the unique ids stay as they were, and the gradient of the new query column,
g_b * (sum_k p_k - 1) / T, is 0. Also: permuting the sampled columns (ids
with their expected counts) changes neither the loss nor the gradients.

Tolerances: those of tests/sampled_softmax/cases.py, computed on the
shifted case (its larger logits carry the larger float32 error).
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sampled_softmax.cases import check_grads, check_loss, make_case
from ydnn_kernels import arrays

PROFILE = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def softmax_cases(draw):
    B, D, V, S = (
        draw(st.integers(1, 12)),
        draw(st.integers(1, 16)),
        draw(st.integers(2, 40)),
        draw(st.integers(0, 20)),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    case = make_case(rng, B, D, V, S, hits=draw(st.integers(0, 3)))
    return (
        case,
        draw(st.sampled_from([0.05, 0.5, 1.0, 3.0])),
        draw(st.booleans()),
        draw(st.booleans()),
        rng,
    )


def run(case, temperature, rah, in_batch, grad_loss):
    kw = dict(temperature=temperature, remove_accidental_hits=rah, in_batch_negatives=in_batch)
    loss, lse, _ = arrays.sampled_softmax_loss(**case, **kw)
    return loss, arrays.sampled_softmax_loss_grad(**case, lse=lse, grad_loss=grad_loss, **kw)


def as_reference(grads):
    """(grad_query, ids, rows) in check_grads' reference form."""
    gq, ids, rows = grads
    return (
        None,
        None,
        gq.astype(np.float64),
        {int(i): r.astype(np.float64) for i, r in zip(ids, rows)},
    )


@PROFILE
@given(softmax_cases(), st.floats(-20, 20))
def test_loss_is_invariant_to_a_constant_added_to_a_rows_logits(drawn, spread):
    case, temperature, rah, in_batch, rng = drawn
    B, D = case["query"].shape
    g = rng.uniform(-2, 2, B).astype(np.float32)
    loss, grads = run(case, temperature, rah, in_batch, g)
    shift = (spread * rng.uniform(-1, 1, B)).astype(np.float32)
    shifted = dict(
        case,
        query=np.concatenate([case["query"], shift[:, None]], axis=1),
        table=np.concatenate([case["table"], np.ones((len(case["table"]), 1), np.float32)], axis=1),
    )
    s_loss, (s_gq, s_ids, s_rows) = run(shifted, temperature, rah, in_batch, g)
    check_loss(s_loss, loss.astype(np.float64), shifted, temperature)
    check_grads(
        s_gq[:, :D], s_ids, s_rows[:, :D], as_reference(grads), shifted, temperature, "float32", g
    )
    check_grads(
        s_gq[:, D:],
        s_ids,
        s_rows[:, :D],
        as_reference((np.zeros((B, 1)), *grads[1:])),
        shifted,
        temperature,
        "float32",
        g,
    )


@PROFILE
@given(softmax_cases())
def test_loss_is_invariant_to_permuting_the_sampled_columns(drawn):
    case, temperature, rah, in_batch, rng = drawn
    g = rng.uniform(-2, 2, len(case["query"])).astype(np.float32)
    loss, grads = run(case, temperature, rah, in_batch, g)
    perm = rng.permutation(len(case["sampled_ids"]))
    permuted = dict(
        case,
        sampled_ids=case["sampled_ids"][perm],
        sampled_expected_count=case["sampled_expected_count"][perm],
    )
    p_loss, p_grads = run(permuted, temperature, rah, in_batch, g)
    check_loss(p_loss, loss.astype(np.float64), case, temperature)
    check_grads(*p_grads, as_reference(grads), case, temperature, "float32", g)
