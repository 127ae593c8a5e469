"""compute_dtype="bfloat16": every product takes bfloat16 inputs (q and C in
the logits; dz, C and q in the gradients) and sums in float32.

Tolerances, with zs = zscale of the case (cases.py), u = 2**-8 (bfloat16's
unit roundoff: 8 significant bits, round to nearest), g = max|grad_loss|,
T the temperature and `row` the largest |value| of the other operand:

* Against the float64 reference on the inputs rounded to bfloat16
  (cases.rounded_case): a product of two bfloat16 values is exact in
  float32, so logits and loss keep float32's tolerance, 1e-5 (1 + zs). The
  gradients add the rounding of dz: each dz moves by at most u |dz|, and
  sum |dz| <= 2 g / T, so |err| <= (1e-5 (1 + zs) + u) 2 g / T |row|
  (check_grads' dz_rel = u), plus the table dtype's rounding.
* Against the same op with compute_dtype="float32": rounding both inputs
  moves a product by at most (2u + u^2) |q c|, so a logit by
  e = 2.01 u zs (+ float32's 1e-5 (1 + zs) on each side); the loss moves
  by at most 2 e (lse and z_pos). The probabilities move by at most
  sum |dp| <= exp(2 e) - 1, and dz and the rows are each rounded once more
  (u each), so a gradient moves by at most
  2 g / T |row| ((exp(2 e) - 1) / 2 + 2.01 u), plus the output's rounding on
  both sides.
* Against stock TF under mixed_bfloat16 (the stock twin with
  compute_dtype="bfloat16": the same rounded inputs, float32 sums, then a
  bfloat16 matmul output): its logits carry one more rounding, u |q c|, so
  e_s = u zs (+ float32 noise) and the loss 2 e_s. Its gradients round dz
  (as ours do) and then each matmul's bfloat16 output and the bfloat16 sum
  of the positive's and the columns' parts: at most 4 u of the terms in all
  beyond ours, so |diff| <= 2 g / T |row| ((exp(2 e_s) - 1) / 2 + 4 u),
  plus the table dtype's rounding on both sides.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.isa_run import run_json
from tests.sampled_softmax.cases import (
    DTYPES,
    NP_DTYPES,
    bf16_round,
    check_bf16_against_rounded_reference,
    check_loss,
    make_case,
    reference,
    rounded_case,
    zscale,
)
from tests.sampled_softmax.test_tf import fused_loss, loss_and_grads
from tests.tolerance import ROUNDING
from ydnn_kernels import arrays
from ydnn_kernels import stock as stock_ops
from ydnn_kernels._device import _py

U = ROUNDING["bfloat16"]  # 2**-8
# (B, D, V, S): one row; odd D (not a multiple of 2, 16 or 32) with vector
# tails; S small and large (several column tiles); 4 J <= B (rows split over
# thread groups, tiles packed once); D past one 32-wide AMX step.
SHAPES = [(1, 7, 20, 5), (37, 13, 300, 50), (70, 70, 2000, 129), (200, 33, 5000, 600)]
SHAPES += [(400, 16, 3000, 100), (33, 130, 500, 40)]


def run(case, temperature=0.5, in_batch=False, grad_loss=None, compute_dtype="bfloat16"):
    kw = dict(temperature=temperature, in_batch_negatives=in_batch, compute_dtype=compute_dtype)
    loss, lse, logits = arrays.sampled_softmax_loss(**case, return_logits=True, **kw)
    g = np.ones(len(loss), np.float32) if grad_loss is None else grad_loss
    return loss, logits, arrays.sampled_softmax_loss_grad(**case, lse=lse, grad_loss=g, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("B,D,V,S", SHAPES)
def test_matches_reference_on_rounded_inputs(rng, dtype, in_batch, B, D, V, S):
    case = make_case(rng, B, D, V, S, dtype=dtype, hits=3)
    g = rng.uniform(-2, 2, B).astype(np.float32)
    loss, logits, grads = run(case, 0.5, in_batch, g)
    want = check_bf16_against_rounded_reference(case, loss, grads, 0.5, in_batch, dtype, g)
    np.testing.assert_array_equal(np.isinf(logits), np.isinf(want[1]))
    finite = np.isfinite(want[1])
    check_loss(logits[finite], want[1][finite], rounded_case(case), 0.5, "logits")
    assert grads[2].dtype == case["table"].dtype


def test_the_inputs_are_rounded(rng):
    # float32 compute misses the rounded reference by far more than its
    # tolerance: what the test above checks is the rounding, not noise.
    case = make_case(rng, 64, 40, 500, 100)
    rc = rounded_case(case)
    want = reference(rc, 0.5)
    f32, _, _ = run(case, compute_dtype="float32")
    bf, _, _ = run(case)
    tol = 1e-5 * (1 + zscale(rc, 0.5))
    assert np.abs(f32 - want[0]).max() > 20 * tol
    assert np.abs(bf - want[0]).max() <= tol


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("B,D,V,S", [(37, 13, 300, 50), (200, 33, 5000, 600)])
def test_close_to_float32_compute(rng, dtype, in_batch, B, D, V, S):
    case = make_case(rng, B, D, V, S, dtype=dtype, hits=3)
    T = 1.0
    bf, _, (bgq, bids, brows) = run(case, T, in_batch)
    f32, _, (fgq, fids, frows) = run(case, T, in_batch, compute_dtype="float32")
    zs = zscale(case, T)
    e = 2.01 * U * zs + 2e-5 * (1 + zs)
    assert np.abs(bf - f32).max() <= 2 * e
    np.testing.assert_array_equal(bids, fids)
    spread = (math.exp(2 * e) - 1) / 2 + 2.01 * U
    tq = 2 / T * spread * np.abs(np.asarray(case["table"], np.float32)).max()
    assert np.abs(bgq - fgq).max() <= tq
    frows64 = np.asarray(frows, np.float64)
    tt = 2 / T * spread * np.abs(case["query"]).max() + 2 * ROUNDING[dtype] * np.abs(frows64)
    assert np.all(np.abs(np.asarray(brows, np.float64) - frows64) <= tt)


def stock_tolerances(case, T, g):
    zs = zscale(rounded_case(case), T)
    e = U * zs + 2e-5 * (1 + zs)
    spread = 2 * g / T * ((math.exp(2 * e) - 1) / 2 + 4 * U)
    return 2 * e, spread


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize("S", [3, 300])
def test_matches_stock_tf_mixed_bfloat16(rng, dtype, in_batch, graph, S):
    case = make_case(rng, 33, 19, 400, S, dtype=dtype, unique=True, hits=4)
    table = tf.Variable(case["table"])
    g = tf.constant(rng.uniform(0.5, 2.0, 33).astype(np.float32))
    T = 0.7
    kw = dict(temperature=T, in_batch_negatives=in_batch)

    def fused(c, t, q):
        return fused_loss(c, t, q, compute_dtype="bfloat16", **kw)

    def stock(c, t, q):
        args = [c[k] for k in ("positive_ids", "sampled_ids")]
        counts = [c[k] for k in ("true_expected_count", "sampled_expected_count")]
        return stock_ops.sampled_softmax_loss(q, t, *args, *counts, compute_dtype="bfloat16", **kw)

    def both(f):
        if graph:
            return tf.function(lambda: loss_and_grads(f, case, table, g))()
        return loss_and_grads(f, case, table, g)

    loss, gq, gt = both(fused)
    s_loss, s_gq, s_gt = both(stock)
    assert gt.values.dtype == table.dtype
    loss_tol, spread = stock_tolerances(case, T, 2.0)
    assert np.abs(loss.numpy() - s_loss.numpy()).max() <= loss_tol
    tq = spread * np.abs(bf16_round(case["table"])).max()
    assert np.abs(gq.numpy() - s_gq.numpy()).max() <= tq
    dense = np.asarray(tf.convert_to_tensor(gt), np.float64)
    s_dense = np.asarray(tf.convert_to_tensor(s_gt), np.float64)
    tt = spread * np.abs(bf16_round(case["query"])).max() + 2 * ROUNDING[dtype] * np.abs(s_dense)
    assert np.all(np.abs(dense - s_dense) <= tt)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("graph", [False, True])
def test_tf_op_matches_rounded_reference(rng, dtype, in_batch, graph):
    # Eager on a tensor table, tf.function on a variable (read in place).
    case = make_case(rng, 21, 11, 60, 30, dtype=dtype, hits=3)
    table = tf.Variable(case["table"]) if graph else tf.constant(case["table"])
    g = rng.uniform(-1, 1, 21).astype(np.float32)

    def fused(c, t, q):
        return fused_loss(
            c, t, q, temperature=0.3, in_batch_negatives=in_batch, compute_dtype="bfloat16"
        )

    step = lambda: loss_and_grads(fused, case, table, g)  # noqa: E731
    loss, gq, gt = tf.function(step)() if graph else step()
    assert gt.values.dtype == table.dtype
    grads = (gq.numpy(), gt.indices.numpy(), gt.values.numpy().astype(np.float64))
    check_bf16_against_rounded_reference(case, loss.numpy(), grads, 0.3, in_batch, dtype, g)


def test_bfloat16_query_is_taken_under_bfloat16_compute(rng):
    case = make_case(rng, 9, 6, 30, 12, hits=2)
    q16 = tf.constant(case["query"].astype(NP_DTYPES["bfloat16"]))
    with tf.GradientTape() as tape:
        tape.watch(q16)
        loss = fused_loss(case, tf.constant(case["table"]), q16, compute_dtype="bfloat16")
    assert tape.gradient(loss, q16).dtype == tf.bfloat16
    want = fused_loss(
        case, tf.constant(case["table"]), tf.cast(q16, tf.float32), compute_dtype="bfloat16"
    )
    np.testing.assert_array_equal(loss.numpy(), want.numpy())
    with pytest.raises(ValueError, match="query must be float32, got bfloat16"):
        fused_loss(case, tf.constant(case["table"]), q16)


@pytest.mark.parametrize("bad", ["float16", "fp32", "BFLOAT16", 3, None, tf.float16])
def test_bad_compute_dtype_is_a_value_error(rng, bad):
    case = make_case(rng, 5, 4, 10, 3)
    with pytest.raises(ValueError, match="compute_dtype must be .float32. or .bfloat16., got"):
        fused_loss(case, tf.constant(case["table"]), case["query"], compute_dtype=bad)
    with pytest.raises(ValueError, match="compute_dtype must be .float32. or .bfloat16., got"):
        arrays.sampled_softmax_loss(**case, compute_dtype=bad)
    with pytest.raises(ValueError, match="compute_dtype must be .float32. or .bfloat16., got"):
        arrays.sampled_softmax_loss_grad(
            **case, lse=np.zeros(5, np.float32), grad_loss=np.ones(5, np.float32), compute_dtype=bad
        )


def test_dtype_objects_name_the_compute_dtype(rng):
    case = make_case(rng, 5, 4, 10, 3)
    a = arrays.sampled_softmax_loss(**case, compute_dtype=tf.bfloat16)[0]
    b = arrays.sampled_softmax_loss(**case, compute_dtype="bfloat16")[0]
    np.testing.assert_array_equal(a, b)


_SUBPROCESS = """
import json, sys
import numpy as np
from ydnn_kernels import arrays
from ydnn_kernels._device import _py
p = json.load(sys.stdin)
out = {"isa": _py.cpu_isa(), "bf16": _py.cpu_bf16(), "runs": []}
for c in p["cases"]:
    case = {k: np.asarray(v, dtype=p["dtypes"][k]) for k, v in c.items()}
    kw = dict(temperature=0.5, in_batch_negatives=True, compute_dtype="bfloat16")
    loss, lse, _ = arrays.sampled_softmax_loss(**case, **kw)
    gq, ids, rows = arrays.sampled_softmax_loss_grad(**case, lse=lse,
        grad_loss=np.ones(len(loss), np.float32), **kw)
    out["runs"].append([loss.tolist(), gq.tolist(), ids.tolist(), rows.tolist()])
print(json.dumps(out))
"""

# YDNN_CPU_ISA level -> (cpu_isa, cpu_bf16) the subprocess must report.
_PATHS = {
    "scalar": ("scalar", "none"),
    "avx2": ("avx2", "none"),
    "avx512": ("avx512", "none"),
    "avx512_bf16": ("avx512", "avx512_bf16"),
    "amx": ("avx512", "amx"),
}
_LADDER = list(_PATHS)


def _available(level):
    isa, bf16 = _py.cpu_isa(), _py.cpu_bf16()
    best = _LADDER.index(isa) if bf16 == "none" else _LADDER.index(bf16)
    return _LADDER.index(level) <= best


@pytest.mark.parametrize("level", _LADDER)
@pytest.mark.parametrize("threads", [1, 3])
def test_every_path_matches_the_rounded_reference(rng, level, threads):
    if not _available(level):
        pytest.skip(f"this CPU has no {level} path")
    # B = 45: AMX where the level has it; B = 5: below AMX's 16 rows, so the
    # amx level runs the avx512_bf16 loops there.
    cases = [make_case(rng, 45, 37, 200, 70, hits=3), make_case(rng, 5, 37, 200, 70, hits=3)]
    payload = {
        "cases": [{k: v.tolist() for k, v in c.items()} for c in cases],
        "dtypes": {k: str(v.dtype) for k, v in cases[0].items()},
    }
    out = run_json(_SUBPROCESS, payload, level, threads)
    assert (out["isa"], out["bf16"]) == _PATHS[level]
    for case, run_ in zip(cases, out["runs"]):
        loss, gq, ids, rows = (np.array(x) for x in run_)
        check_bf16_against_rounded_reference(case, loss, (gq, ids, rows), 0.5, True, "float32")
