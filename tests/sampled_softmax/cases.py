"""Inputs and checks shared by the sampled softmax tests.

Tolerances (float32 kernels against the float64 reference, computed on the
table as stored, so 16-bit tables differ only by the output's rounding):

* a logit is a D-term float32 dot product: error <= 1e-6 * zscale, where
  zscale = max_b sum_d |q_bd| |c_d| / T (+ |log Q| / T); we allow 1e-5 * zscale;
* the loss inherits that error from every logit: |err| <= 1e-5 * (1 + zscale);
* each gradient is sum_j dz_j * row_j with sum_j |dz_j| <= 2 |g| / T, and
  a logit error dz moves p by p * dz, so
  |err| <= 1e-5 * (1 + zscale) * 2 |g| / T * max|row|;
* 16-bit gradient rows add one rounding: ROUNDING[dtype] * |ref|.
"""

import ml_dtypes
import numpy as np

from tests import reference_softmax as ref
from tests.tolerance import ROUNDING

NP_DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def make_case(rng, B, D, V, S, dtype="float32", id_dtype=np.int64, unique=False, hits=0,
              scale=0.5):
    """Random query, table, ids and expected counts; `hits` sampled ids copy positives."""
    query = (rng.standard_normal((B, D)) * scale).astype(np.float32)
    table = (rng.standard_normal((V, D)) * scale).astype(NP_DTYPES[dtype])
    pos = rng.integers(0, V, B).astype(id_dtype)
    sampled = (rng.choice(V, S, replace=False) if unique else rng.integers(0, V, S))
    sampled = sampled.astype(id_dtype)
    for k in range(min(hits, S, B)):
        if unique and pos[k] in sampled:
            continue
        sampled[k] = pos[k]
    tec = rng.uniform(0.05, 3.0, B).astype(np.float32)
    sec = rng.uniform(0.05, 3.0, S).astype(np.float32)
    return dict(query=query, table=table, positive_ids=pos, sampled_ids=sampled,
                true_expected_count=tec, sampled_expected_count=sec)


def reference(case, temperature=1.0, remove_accidental_hits=True, in_batch=False,
              grad_loss=None):
    return ref.sampled_softmax(case["query"], np.asarray(case["table"], np.float64),
                               case["positive_ids"], case["sampled_ids"],
                               case["true_expected_count"], case["sampled_expected_count"],
                               temperature, remove_accidental_hits, in_batch, grad_loss)


def zscale(case, temperature):
    q = np.abs(case["query"].astype(np.float64))
    t = np.abs(np.asarray(case["table"], np.float64))
    logq = np.abs(np.log(np.concatenate([case["true_expected_count"],
                                         case["sampled_expected_count"]]))).max()
    return float((q @ t.T).max(initial=0.0) + logq) / temperature


def check_loss(loss, ref_loss, case, temperature, what="loss"):
    tol = 1e-5 * (1.0 + zscale(case, temperature))
    err = np.abs(np.asarray(loss, np.float64) - ref_loss)
    assert np.all(err <= tol), f"{what}: max error {err.max():.3g} > {tol:.3g}"


def check_grads(grad_query, unique_ids, grad_rows, ref_out, case, temperature, dtype,
                grad_loss=None):
    _, _, ref_gq, ref_gt = ref_out
    g = 1.0 if grad_loss is None else float(np.abs(grad_loss).max(initial=0.0))
    base = 1e-5 * (1.0 + zscale(case, temperature)) * 2.0 * g / temperature
    tol_q = base * float(np.abs(np.asarray(case["table"], np.float64)).max(initial=1.0))
    err = np.abs(np.asarray(grad_query, np.float64) - ref_gq)
    assert np.all(err <= tol_q), f"grad_query: max error {err.max():.3g} > {tol_q:.3g}"
    want_ids = np.array(sorted(ref_gt), np.int64)
    np.testing.assert_array_equal(np.asarray(unique_ids), want_ids, err_msg="unique ids")
    want = np.array([ref_gt[i] for i in want_ids]).reshape(len(want_ids), -1)
    tol_t = base * float(np.abs(case["query"]).max(initial=1.0)) + ROUNDING[dtype] * np.abs(want)
    err = np.abs(np.asarray(grad_rows, np.float64) - want)
    assert np.all(err <= tol_t), f"grad rows: max error {err.max():.3g}"
