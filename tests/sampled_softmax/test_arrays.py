"""The fused sampled softmax against its float64 loop reference (NumPy entry point).

The same kernels run under the TF op (tests/test_sampled_softmax_tf.py); here
the maths is covered over dtypes, id dtypes, modes, temperatures, shapes that
leave vector and tile tails, and the edge cases of the issue.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.softmax_cases import check_grads, check_loss, make_case, reference
from ydnn_kernels import arrays


def run(case, temperature=1.0, rah=True, in_batch=False, grad_loss=None):
    loss, lse, logits = arrays.sampled_softmax_loss(
        **case, temperature=temperature, remove_accidental_hits=rah,
        in_batch_negatives=in_batch, return_logits=True)
    g = np.ones(len(loss), np.float32) if grad_loss is None else grad_loss
    grads = arrays.sampled_softmax_loss_grad(
        **case, lse=lse, grad_loss=g, temperature=temperature, remove_accidental_hits=rah,
        in_batch_negatives=in_batch)
    return loss, logits, grads


def check(case, temperature=1.0, rah=True, in_batch=False, dtype="float32", grad_loss=None):
    loss, logits, (gq, ids, rows) = run(case, temperature, rah, in_batch, grad_loss)
    want = reference(case, temperature, rah, in_batch, grad_loss)
    check_loss(loss, want[0], case, temperature)
    # Masked logits are -inf in both; the rest within the loss tolerance.
    np.testing.assert_array_equal(np.isinf(logits), np.isinf(want[1]))
    finite = np.isfinite(want[1])
    check_loss(logits[finite], want[1][finite], case, temperature, "logits")
    check_grads(gq, ids, rows, want, case, temperature, dtype, grad_loss)
    return loss, gq, rows


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("rah", [True, False])
@pytest.mark.parametrize("temperature", [0.05, 1.0, 20.0])
def test_matches_reference(rng, dtype, in_batch, rah, temperature):
    case = make_case(rng, B=37, D=24, V=300, S=50, dtype=dtype, hits=5)
    g = rng.uniform(-2, 2, 37).astype(np.float32)
    check(case, temperature, rah, in_batch, dtype, grad_loss=g)


# (400, 16, 3000, 100) is the one shape that splits rows over several thread
# groups (4 J <= B: dC partials per group, two column tiles packed once for
# all groups). D = 300 pads d to whole vectors and makes a packed tile
# outgrow L1.
@pytest.mark.parametrize("B,D,V,S", [(1, 8, 10, 1), (16, 64, 1000, 64), (33, 13, 40, 65),
                                     (70, 70, 2000, 129), (5, 1, 7, 3), (200, 32, 50, 300),
                                     (400, 16, 3000, 100), (40, 300, 500, 110)])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_shapes_and_id_dtypes(rng, B, D, V, S, id_dtype):
    check(make_case(rng, B, D, V, S, id_dtype=id_dtype, hits=2), in_batch=B % 2 == 1)


def test_every_sampled_id_is_some_positive(rng):
    case = make_case(rng, B=20, D=16, V=30, S=10)
    case["sampled_ids"] = case["positive_ids"][:10].copy()
    check(case)


def test_duplicate_sampled_ids_are_all_masked(rng):
    case = make_case(rng, B=6, D=8, V=20, S=9)
    case["sampled_ids"][:] = [3, 3, 3, 5, 5, 7, 7, 7, 7]
    case["positive_ids"][:3] = [3, 7, 9]
    loss, logits, _ = run(case)
    assert np.isinf(logits[0, 1:4]).all() and np.isfinite(logits[0, 4:]).all()
    assert np.isinf(logits[1, 6:10]).all()
    check(case)


def test_row_with_every_negative_masked_has_zero_loss_and_gradient(rng):
    case = make_case(rng, B=3, D=8, V=20, S=4)
    case["sampled_ids"][:] = case["positive_ids"][1]
    loss, gq, rows = check(case)
    assert loss[1] == 0.0
    assert np.all(gq[1] == 0.0)


def test_in_batch_masks_the_rows_own_positive_and_its_duplicates(rng):
    case = make_case(rng, B=4, D=8, V=20, S=3)
    case["positive_ids"][:] = [5, 9, 5, 11]
    case["sampled_ids"][:] = [1, 2, 3]
    _, logits, _ = run(case, in_batch=True, rah=False)
    # Columns: 0 positive, 1..4 in-batch (rows 0..3), 5..7 sampled.
    assert np.isinf(logits[0, [1, 3]]).all() and np.isfinite(logits[0, [2, 4]]).all()
    assert np.isinf(logits[1, 2]) and np.isfinite(logits[1, [1, 3, 4]]).all()
    assert np.isfinite(logits[:, 5:]).all()
    check(case, in_batch=True, rah=False)


def test_empty_batch(rng):
    case = make_case(rng, B=0, D=8, V=20, S=5)
    loss, logits, (gq, ids, rows) = run(case)
    assert loss.shape == (0,) and logits.shape == (0, 6) and gq.shape == (0, 8)
    np.testing.assert_array_equal(ids, np.unique(case["sampled_ids"]))
    assert np.all(rows == 0.0)


def test_logits_near_float32_limits_do_not_overflow(rng):
    # q.c = +-3e38: the positive dominates; exp never sees an overflow.
    case = make_case(rng, B=2, D=1, V=3, S=2)
    case["query"][:] = [[1e19], [-1e19]]
    case["table"][:] = [[3e19], [-3e19], [1.0]]
    case["positive_ids"][:] = [0, 1]
    case["sampled_ids"][:] = [1, 2]
    case["true_expected_count"][:] = 1.0
    case["sampled_expected_count"][:] = 1.0
    loss, _, (gq, _, rows) = run(case)
    assert np.all(np.isfinite(loss)) and np.all(loss == 0.0)
    assert np.all(np.isfinite(gq)) and np.all(np.isfinite(rows))


def test_large_logit_gaps_stay_exact(rng):
    case = make_case(rng, B=8, D=16, V=50, S=20, scale=6.0)
    check(case, temperature=0.05)


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
    payload = {"case": {k: v.tolist() for k, v in case.items()},
               "dtypes": {k: str(v.dtype) for k, v in case.items()}}
    env = dict(os.environ, YDNN_CPU_ISA=isa, YDNN_NUM_THREADS=str(threads))
    res = subprocess.run([sys.executable, "-c", _SUBPROCESS], input=json.dumps(payload),
                         capture_output=True, text=True, env=env, check=True)
    loss, gq, ids, rows = (np.array(x) for x in json.loads(res.stdout))
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
