"""Invariants of sparse_apply (hypothesis, NumPy entry point): one step over
any kind, table dtype, learning rate, weight decay, step and batch (with
duplicates) equals its float64 reference, touched rows within tolerance and
every other row and slot row bit-identical (tests/sparse_optim/cases.py's
check); duplicates are summed before the update, so a batch equals the
batch of its summed rows, in any order.

Tolerances: the reference's (tests/tolerance.py: one rounding to the
table's dtype); summed-first comparisons reorder float32 sums of <= 12 rows:
rtol 1e-5, atol 1e-5. Weight decay only on float32 tables: the kernels (as
Keras) store the decayed row before the update, a second rounding that
16-bit tables would show.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sparse_optim.cases import KINDS, NP_DTYPE, check_step, make_state
from ydnn_kernels import arrays

PROFILE = settings(
    max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def steps(draw, dtypes=("float32", "float16", "bfloat16")):
    kind, dtype = draw(st.sampled_from(KINDS)), draw(st.sampled_from(list(dtypes)))
    V, D = draw(st.integers(1, 30)), draw(st.integers(1, 12))
    ids = np.array(draw(st.lists(st.integers(0, V - 1), min_size=0, max_size=12)), np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    table, slots = make_state(rng, kind, V, D, dtype)
    grad = rng.standard_normal((len(ids), D)).astype(NP_DTYPE[dtype])
    hyper = dict(
        lr=draw(st.sampled_from([0.0, 1e-3, 0.05, 0.5])),
        step=draw(st.integers(1, 1000)),
        weight_decay=draw(st.sampled_from([0.0, 0.01, 0.3])) if dtype == "float32" else 0.0,
    )
    return kind, dtype, table, slots, ids, grad, hyper, rng


def apply(kind, table, slots, ids, grad, hyper):
    t, s = table.copy(), [x.copy() for x in slots]
    arrays.sparse_apply(
        kind, t, s, ids, grad, hyper["lr"], step=hyper["step"], weight_decay=hyper["weight_decay"]
    )
    return t, s


@PROFILE
@given(steps())
def test_one_step_equals_its_reference(drawn):
    kind, dtype, table, slots, ids, grad, hyper, _ = drawn
    got_table, got_slots = apply(kind, table, slots, ids, grad, hyper)
    f64 = (lambda a: a.astype(np.float64)) if dtype != "float32" else (lambda a: a)  # noqa: E731
    check_step(
        kind,
        f64(table),
        slots,
        ids,
        grad.astype(np.float64),
        f64(got_table),
        got_slots,
        dtype=dtype,
        **hyper,
    )


@PROFILE
@given(steps(dtypes=("float32",)))
def test_duplicates_are_summed_first_in_any_order(drawn):
    kind, _, table, slots, ids, grad, hyper, rng = drawn
    perm = rng.permutation(len(ids))
    unique, inverse = np.unique(ids, return_inverse=True)
    summed = np.zeros((len(unique), table.shape[1]), np.float64)
    np.add.at(summed, inverse, grad.astype(np.float64))
    want = apply(kind, table, slots, unique, summed.astype(np.float32), hyper)
    for got in (
        apply(kind, table, slots, ids, grad, hyper),
        apply(kind, table, slots, ids[perm], grad[perm], hyper),
    ):
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
        for g, w in zip(got[1], want[1]):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
