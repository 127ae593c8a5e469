"""The fused sampled softmax against its float64 loop reference (NumPy entry point).

The same kernels run under the TF op (test_tf.py); here the maths is covered
over dtypes, id dtypes, modes, temperatures, shapes that leave vector and
tile tails, the named edge cases, every CPU vector path and thread count.
No TensorFlow: bench/gpu/run.sh runs this file on a TF-free GPU box.
"""

import numpy as np
import pytest

from tests.isa_run import run_json
from tests.sampled_softmax import cases as C
from tests.sampled_softmax.cases import (
    DTYPES,
    ID_DTYPES,
    SHAPES,
    TEMPERATURES,
    check_grads,
    check_loss,
    check_outputs,
    make_case,
    reference,
)
from ydnn_kernels import arrays


def run(case, temperature=1.0, rah=True, in_batch=False, grad_loss=None):
    loss, lse, logits = arrays.sampled_softmax_loss(
        **case,
        temperature=temperature,
        remove_accidental_hits=rah,
        in_batch_negatives=in_batch,
        return_logits=True,
    )
    g = np.ones(len(loss), np.float32) if grad_loss is None else grad_loss
    grads = arrays.sampled_softmax_loss_grad(
        **case,
        lse=lse,
        grad_loss=g,
        temperature=temperature,
        remove_accidental_hits=rah,
        in_batch_negatives=in_batch,
    )
    return loss, logits, grads


def check(case, temperature=1.0, rah=True, in_batch=False, dtype="float32", grad_loss=None):
    loss, logits, grads = run(case, temperature, rah, in_batch, grad_loss)
    check_outputs(case, loss, logits, grads, temperature, rah, in_batch, dtype, grad_loss)
    return loss, grads[0], grads[2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("rah", [True, False])
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_matches_reference(rng, dtype, in_batch, rah, temperature):
    case = make_case(rng, B=37, D=24, V=300, S=50, dtype=dtype, hits=5)
    g = rng.uniform(-2, 2, 37).astype(np.float32)
    check(case, temperature, rah, in_batch, dtype, grad_loss=g)


@pytest.mark.parametrize("B,D,V,S", SHAPES)
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
def test_shapes_and_id_dtypes(rng, B, D, V, S, id_dtype):
    check(make_case(rng, B, D, V, S, id_dtype=id_dtype, hits=2), in_batch=B % 2 == 1)


def test_every_sampled_id_is_some_positive(rng):
    check(C.every_sampled_id_is_some_positive(rng))


def test_duplicate_sampled_ids_are_all_masked(rng):
    case = C.duplicate_sampled_ids(rng)
    C.check_duplicates_all_masked(run(case)[1])
    check(case)


def test_row_with_every_negative_masked_has_zero_loss_and_gradient(rng):
    loss, gq, rows = check(C.every_negative_masked_in_row_1(rng))
    assert loss[1] == 0.0
    assert np.all(gq[1] == 0.0)


def test_in_batch_masks_the_rows_own_positive_and_its_duplicates(rng):
    case = C.in_batch_duplicate_positives(rng)
    C.check_in_batch_masks(run(case, in_batch=True, rah=False)[1])
    check(case, in_batch=True, rah=False)


def test_empty_batch(rng):
    case = make_case(rng, B=0, D=8, V=20, S=5)
    loss, logits, (gq, ids, rows) = run(case)
    assert loss.shape == (0,) and logits.shape == (0, 6) and gq.shape == (0, 8)
    np.testing.assert_array_equal(ids, np.unique(case["sampled_ids"]))
    assert np.all(rows == 0.0)


def test_logits_near_float32_limits_do_not_overflow(rng):
    loss, _, (gq, _, rows) = run(C.near_float32_limits(rng))
    assert np.all(np.isfinite(loss)) and np.all(loss == 0.0)
    assert np.all(np.isfinite(gq)) and np.all(np.isfinite(rows))


def test_large_logit_gaps_stay_exact(rng):
    check(C.large_logit_gaps(rng), temperature=0.05)


@pytest.mark.parametrize("logit", [88.9, 89.3, 120.0, 322.0])
def test_small_expected_counts_with_a_partial_row_block(rng, logit):
    # B = 17 leaves a block of rows that is mostly padding. With Q =
    # exp(-logit * T), every -log Q / T term is `logit`, so a zero query
    # (padding) scores `logit` on every column: exp of it overflows float32
    # (or its exponent bits wrap), and 0 * inf in padding rows or masked hits
    # would turn the table gradient's sums NaN.
    case = make_case(rng, B=17, D=24, V=60, S=30, hits=5)
    q = np.float32(np.exp(-logit * 0.05))
    case["sampled_expected_count"][:] = q
    case["true_expected_count"][:] = q
    check(case, temperature=0.05)


_SUBPROCESS = """
import json, sys
import numpy as np
from ydnn_kernels import arrays
p = json.load(sys.stdin)
case = {k: np.asarray(v, dtype=p["dtypes"][k]) for k, v in p["case"].items()}
loss, lse, _ = arrays.sampled_softmax_loss(**case, temperature=0.5, in_batch_negatives=True)
gq, ids, rows = arrays.sampled_softmax_loss_grad(**case, lse=lse,
    grad_loss=np.ones(len(loss), np.float32), temperature=0.5, in_batch_negatives=True)
print(json.dumps([loss.tolist(), gq.tolist(), ids.tolist(), rows.tolist()]))
"""


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize("threads", [1, 3])
def test_every_vector_path_and_thread_count_agree(rng, isa, threads):
    from ydnn_kernels._loader import load_py_module

    if isa == "avx512" and load_py_module().cpu_isa() != "avx512":
        pytest.skip("this CPU has no AVX-512")
    case = make_case(rng, B=45, D=37, V=200, S=70, hits=3)
    payload = {
        "case": {k: v.tolist() for k, v in case.items()},
        "dtypes": {k: str(v.dtype) for k, v in case.items()},
    }
    loss, gq, ids, rows = (np.array(x) for x in run_json(_SUBPROCESS, payload, isa, threads))
    want = reference(case, 0.5, True, True)
    check_loss(loss, want[0], case, 0.5)
    check_grads(gq, ids, rows, want, case, 0.5, "float32")


def test_results_are_deterministic(rng):
    case = make_case(rng, B=300, D=32, V=100, S=200, hits=10)
    first = run(case)
    for _ in range(3):
        again = run(case)
        np.testing.assert_array_equal(first[0], again[0])
        for a, b in zip(first[2], again[2]):
            np.testing.assert_array_equal(a, b)
