"""Inputs and checks shared by the sampled softmax tests (NumPy, TF op,
CuPy): parameter lists, random cases, the named edge cases, and the checks
against the float64 reference. No TensorFlow here, so the CuPy tests run on
a TF-free GPU box.

Tolerances (float32 kernels against the float64 reference, computed on the
table as stored, so 16-bit tables differ only by the output's rounding):

* a logit is a D-term float32 dot product: error <= 1e-6 * zscale, where
  zscale = max_b sum_d |q_bd| |c_d| / T (+ |log Q| / T); we allow 1e-5 * zscale;
* the loss inherits that error from every logit: |err| <= 1e-5 * (1 + zscale);
* each gradient is sum_j dz_j * row_j with sum_j |dz_j| <= 2 |g| / T, and
  a logit error dz moves p by p * dz, so
  |err| <= 1e-5 * (1 + zscale) * 2 |g| / T * max|row|;
* 16-bit gradient rows add one rounding: ROUNDING[dtype] * |ref|.

compute_dtype="bfloat16" is checked against the same reference computed on
the inputs rounded to bfloat16 (rounded_case); its tolerances are derived
in test_bf16_compute.py.
"""

import ml_dtypes
import numpy as np
import pytest

from tests.sampled_softmax import reference as ref
from tests.tolerance import ROUNDING

NP_DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}

# Parameter lists of every entry point's tests.
DTYPES = ["float32", "float16", "bfloat16"]
CUPY_DTYPES = ["float32", "float16"]  # bfloat16 is not a CuPy dtype
ID_DTYPES = [pytest.param(np.int32, id="int32"), pytest.param(np.int64, id="int64")]
TEMPERATURES = [0.05, 1.0, 20.0]
# (B, D, V, S): vector and tile tails on the CPU (AVX-512 16-wide d, 4-row
# groups) and on the GPU (64-row / 64-column tiles, 16-deep slices, 64-wide
# D chunks: D = 70, 130 take two and three), a single row, a single column,
# D = 1. (400, 16, 3000, 100) splits rows over several CPU thread groups
# (4 J <= B: dC partials per group, two column tiles packed once for all
# groups); D = 300 pads d to whole vectors and makes a packed tile outgrow L1.
SHAPES = [
    (1, 8, 10, 1),
    (16, 64, 1000, 64),
    (33, 13, 40, 65),
    (70, 70, 2000, 129),
    (5, 1, 7, 3),
    (200, 32, 50, 300),
    (400, 16, 3000, 100),
    (40, 300, 500, 110),
    (65, 130, 300, 63),
]


def make_case(rng, B, D, V, S, dtype="float32", id_dtype=np.int64, unique=False, hits=0, scale=0.5):
    """Random query, table, ids and expected counts; `hits` sampled ids copy positives."""
    query = (rng.standard_normal((B, D)) * scale).astype(np.float32)
    table = (rng.standard_normal((V, D)) * scale).astype(NP_DTYPES[dtype])
    pos = rng.integers(0, V, B).astype(id_dtype)
    sampled = rng.choice(V, S, replace=False) if unique else rng.integers(0, V, S)
    sampled = sampled.astype(id_dtype)
    for k in range(min(hits, S, B)):
        if unique and pos[k] in sampled:
            continue
        sampled[k] = pos[k]
    tec = rng.uniform(0.05, 3.0, B).astype(np.float32)
    sec = rng.uniform(0.05, 3.0, S).astype(np.float32)
    return dict(
        query=query,
        table=table,
        positive_ids=pos,
        sampled_ids=sampled,
        true_expected_count=tec,
        sampled_expected_count=sec,
    )


def reference(case, temperature=1.0, remove_accidental_hits=True, in_batch=False, grad_loss=None):
    return ref.sampled_softmax(
        case["query"],
        np.asarray(case["table"], np.float64),
        case["positive_ids"],
        case["sampled_ids"],
        case["true_expected_count"],
        case["sampled_expected_count"],
        temperature,
        remove_accidental_hits,
        in_batch,
        grad_loss,
    )


def zscale(case, temperature):
    q = np.abs(case["query"].astype(np.float64))
    t = np.abs(np.asarray(case["table"], np.float64))
    logq = np.abs(
        np.log(np.concatenate([case["true_expected_count"], case["sampled_expected_count"]]))
    ).max()
    return float((q @ t.T).max(initial=0.0) + logq) / temperature


def check_loss(loss, ref_loss, case, temperature, what="loss"):
    tol = 1e-5 * (1.0 + zscale(case, temperature))
    err = np.abs(np.asarray(loss, np.float64) - ref_loss)
    assert np.all(err <= tol), f"{what}: max error {err.max():.3g} > {tol:.3g}"


def check_grads(
    grad_query, unique_ids, grad_rows, ref_out, case, temperature, dtype, grad_loss=None, dz_rel=0.0
):
    """`dz_rel`: a relative error of every dz the kernels may carry on top of
    float32's (2**-8 when compute_dtype="bfloat16" rounds dz)."""
    _, _, ref_gq, ref_gt = ref_out
    g = 1.0 if grad_loss is None else float(np.abs(grad_loss).max(initial=0.0))
    base = (1e-5 * (1.0 + zscale(case, temperature)) + dz_rel) * 2.0 * g / temperature
    tol_q = base * float(np.abs(np.asarray(case["table"], np.float64)).max(initial=1.0))
    err = np.abs(np.asarray(grad_query, np.float64) - ref_gq)
    assert np.all(err <= tol_q), f"grad_query: max error {err.max():.3g} > {tol_q:.3g}"
    want_ids = np.array(sorted(ref_gt), np.int64)
    np.testing.assert_array_equal(np.asarray(unique_ids), want_ids, err_msg="unique ids")
    want = np.array([ref_gt[i] for i in want_ids]).reshape(len(want_ids), -1)
    tol_t = base * float(np.abs(case["query"]).max(initial=1.0)) + ROUNDING[dtype] * np.abs(want)
    err = np.abs(np.asarray(grad_rows, np.float64) - want)
    assert np.all(err <= tol_t), f"grad rows: max error {err.max():.3g}"


def check_outputs(
    case,
    loss,
    logits,
    grads,
    temperature=1.0,
    rah=True,
    in_batch=False,
    dtype="float32",
    grad_loss=None,
):
    """One entry point's loss, logits and (grad_query, unique_ids, grad_rows)
    against the float64 reference: masked logits -inf in both, the rest and
    the loss within the loss tolerance, the gradients within theirs."""
    want = reference(case, temperature, rah, in_batch, grad_loss)
    check_loss(loss, want[0], case, temperature)
    np.testing.assert_array_equal(np.isinf(logits), np.isinf(want[1]))
    finite = np.isfinite(want[1])
    check_loss(logits[finite], want[1][finite], case, temperature, "logits")
    check_grads(*grads, want, case, temperature, dtype, grad_loss)


def bf16_round(x):
    """x (any float dtype) rounded to bfloat16, to nearest even, as float32."""
    return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


def rounded_case(case):
    """`case` with query and table rounded to bfloat16: the inputs the products
    of compute_dtype="bfloat16" see."""
    return dict(case, query=bf16_round(case["query"]), table=bf16_round(case["table"]))


def check_bf16_against_rounded_reference(case, loss, grads, temperature, in_batch, dtype, g=None):
    """compute_dtype="bfloat16"'s loss and (grad_query, unique_ids, grad_rows)
    against the reference on the rounded inputs: float32's tolerances, and
    dz's rounding (2**-8 of each) in the gradients' (test_bf16_compute.py).
    Returns the reference."""
    rc = rounded_case(case)
    want = reference(rc, temperature, True, in_batch, g)
    check_loss(loss, want[0], rc, temperature)
    check_grads(*grads, want, rc, temperature, dtype, g, dz_rel=ROUNDING["bfloat16"])
    return want


# ------------------------------------------------------ the named edge cases --


def every_sampled_id_is_some_positive(rng):
    case = make_case(rng, B=20, D=16, V=30, S=10)
    case["sampled_ids"] = case["positive_ids"][:10].copy()
    return case


def duplicate_sampled_ids(rng):
    """Sampled ids 3 3 3 5 5 7 7 7 7; rows 0 and 1 have positives 3 and 7."""
    case = make_case(rng, B=6, D=8, V=20, S=9)
    case["sampled_ids"][:] = [3, 3, 3, 5, 5, 7, 7, 7, 7]
    case["positive_ids"][:3] = [3, 7, 9]
    return case


def check_duplicates_all_masked(logits):
    """Every copy of a row's positive among the sampled ids is masked."""
    assert np.isinf(logits[0, 1:4]).all() and np.isfinite(logits[0, 4:]).all()
    assert np.isinf(logits[1, 6:10]).all()


def every_negative_masked_in_row_1(rng):
    """Every sampled id is row 1's positive: its loss and gradient are 0."""
    case = make_case(rng, B=3, D=8, V=20, S=4)
    case["sampled_ids"][:] = case["positive_ids"][1]
    return case


def in_batch_duplicate_positives(rng):
    """Positives 5 9 5 11: in-batch columns of rows 0 and 2 mask each other."""
    case = make_case(rng, B=4, D=8, V=20, S=3)
    case["positive_ids"][:] = [5, 9, 5, 11]
    case["sampled_ids"][:] = [1, 2, 3]
    return case


def check_in_batch_masks(logits):
    """Columns: 0 positive, 1..4 in-batch (rows 0..3), 5..7 sampled."""
    assert np.isinf(logits[0, [1, 3]]).all() and np.isfinite(logits[0, [2, 4]]).all()
    assert np.isinf(logits[1, 2]) and np.isfinite(logits[1, [1, 3, 4]]).all()
    assert np.isfinite(logits[:, 5:]).all()


def near_float32_limits(rng):
    """q.c = +-3e38: the positive dominates; exp must never overflow."""
    case = make_case(rng, B=2, D=1, V=3, S=2)
    case["query"][:] = [[1e19], [-1e19]]
    case["table"][:] = [[3e19], [-3e19], [1.0]]
    case["positive_ids"][:] = [0, 1]
    case["sampled_ids"][:] = [1, 2]
    case["true_expected_count"][:] = 1.0
    case["sampled_expected_count"][:] = 1.0
    return case


def large_logit_gaps(rng):
    """Logits far apart (run at temperature 0.05)."""
    return make_case(rng, B=8, D=16, V=50, S=20, scale=6.0)
