"""The fused sampled softmax's CUDA kernels through ydnn_kernels.arrays on CuPy arrays.

Mirrors tests/sampled_softmax/test_arrays.py (float64 loop reference; the
same parameter lists, edge cases and tolerances from
tests/sampled_softmax/cases.py) and adds what
only the GPU path has: shapes that leave tile and split tails (64-row and
64-column tiles, 64-wide D chunks, column and row splits), agreement with the
CPU kernels on shapes too large for the loop reference, bitwise determinism,
outputs that must be fully written, a non-default stream, and the error
policy (the CPU path's ValueError text, checked on the device), and
compute_dtype="bfloat16" against the reference on rounded inputs
(tolerances in tests/sampled_softmax/test_bf16_compute.py). bfloat16 tables
are not a CuPy dtype, so they are left to the CPU and TF tests. Skipped without
CuPy, a CUDA device or a CUDA build of ydnn_kernels.
"""

import numpy as np
import pytest

from tests.gpu.cuda_env import require_cuda

cp = require_cuda()

from tests.sampled_softmax import cases as C  # noqa: E402
from tests.sampled_softmax.cases import (  # noqa: E402
    CUPY_DTYPES,
    ID_DTYPES,
    SHAPES,
    TEMPERATURES,
    check_bf16_against_rounded_reference,
    check_grads,
    check_loss,
    check_outputs,
    make_case,
    reference,
)
from ydnn_kernels import _ydnn_py, arrays  # noqa: E402


def on_device(case):
    return {k: cp.asarray(v) for k, v in case.items()}


def run(case, temperature=1.0, rah=True, in_batch=False, grad_loss=None, xp=cp):
    """Forward (with logits) and backward on `xp`; results as NumPy."""
    c = on_device(case) if xp is cp else case
    loss, lse, logits = arrays.sampled_softmax_loss(
        **c,
        temperature=temperature,
        remove_accidental_hits=rah,
        in_batch_negatives=in_batch,
        return_logits=True,
    )
    g = np.ones(len(case["positive_ids"]), np.float32) if grad_loss is None else grad_loss
    grads = arrays.sampled_softmax_loss_grad(
        **c,
        lse=lse,
        grad_loss=xp.asarray(g),
        temperature=temperature,
        remove_accidental_hits=rah,
        in_batch_negatives=in_batch,
    )
    if xp is cp:
        loss, lse, logits = loss.get(), lse.get(), logits.get()
        grads = tuple(x.get() for x in grads)
    return loss, lse, logits, grads


def check(case, temperature=1.0, rah=True, in_batch=False, dtype="float32", grad_loss=None):
    """The CPU tests' check, on the GPU: loss, logits and gradients against
    the float64 loop reference."""
    loss, _, logits, grads = run(case, temperature, rah, in_batch, grad_loss)
    check_outputs(case, loss, logits, grads, temperature, rah, in_batch, dtype, grad_loss)
    return loss, logits, grads[0], grads[2]


def check_against_cpu(case, temperature=1.0, rah=True, in_batch=False, grad_loss=None):
    """GPU against the CPU kernels (themselves tested against the reference)
    on shapes too large for the loop reference; the reference tolerances."""
    gpu = run(case, temperature, rah, in_batch, grad_loss)
    cpu = run(case, temperature, rah, in_batch, grad_loss, xp=np)
    check_loss(gpu[0], cpu[0].astype(np.float64), case, temperature)
    check_loss(gpu[1], cpu[1].astype(np.float64), case, temperature, "lse")
    np.testing.assert_array_equal(np.isinf(gpu[2]), np.isinf(cpu[2]))
    finite = np.isfinite(cpu[2])
    check_loss(gpu[2][finite], cpu[2][finite].astype(np.float64), case, temperature, "logits")
    c_gq, c_ids, c_rows = cpu[3]
    as_ref = (
        None,
        None,
        c_gq.astype(np.float64),
        {int(i): r.astype(np.float64) for i, r in zip(c_ids, c_rows)},
    )
    check_grads(*gpu[3], as_ref, case, temperature, str(case["table"].dtype), grad_loss)


@pytest.mark.parametrize("dtype", CUPY_DTYPES)
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


@pytest.mark.parametrize("pos_dtype,sampled_dtype", [(np.int32, np.int64), (np.int64, np.int32)])
def test_mixed_id_dtypes(rng, pos_dtype, sampled_dtype):
    case = make_case(rng, B=20, D=16, V=100, S=30, hits=3)
    case["positive_ids"] = case["positive_ids"].astype(pos_dtype)
    case["sampled_ids"] = case["sampled_ids"].astype(sampled_dtype)
    check(case, in_batch=True)


def test_ids_at_both_ends_of_the_range(rng):
    case = make_case(rng, B=6, D=8, V=50, S=4)
    case["positive_ids"][:] = [0, 49, 0, 49, 3, 4]
    case["sampled_ids"][:] = [49, 0, 1, 48]
    check(case)
    check(case, in_batch=True, rah=False)


def test_every_sampled_id_is_some_positive(rng):
    check(C.every_sampled_id_is_some_positive(rng))


def test_duplicate_sampled_ids_are_all_masked(rng):
    case = C.duplicate_sampled_ids(rng)
    C.check_duplicates_all_masked(run(case)[2])
    check(case)


def test_row_with_every_negative_masked_has_zero_loss_and_gradient(rng):
    loss, _, gq, _ = check(C.every_negative_masked_in_row_1(rng))
    assert loss[1] == 0.0
    assert np.all(gq[1] == 0.0)


def test_in_batch_masks_the_rows_own_positive_and_its_duplicates(rng):
    case = C.in_batch_duplicate_positives(rng)
    C.check_in_batch_masks(run(case, in_batch=True, rah=False)[2])
    check(case, in_batch=True, rah=False)


def test_empty_batch(rng):
    case = make_case(rng, B=0, D=8, V=20, S=5)
    loss, _, logits, (gq, ids, rows) = run(case)
    assert loss.shape == (0,) and logits.shape == (0, 6) and gq.shape == (0, 8)
    np.testing.assert_array_equal(ids, np.unique(case["sampled_ids"]))
    assert np.all(rows == 0.0)


@pytest.mark.parametrize("in_batch", [False, True])
def test_no_sampled_ids(rng, in_batch):
    # S = 0: with no in-batch columns J = 0, the loss is 0 and only the
    # positives carry gradient.
    check(make_case(rng, B=9, D=8, V=20, S=0), in_batch=in_batch)


def test_logits_near_float32_limits_do_not_overflow(rng):
    loss, _, _, (gq, _, rows) = run(C.near_float32_limits(rng))
    assert np.all(np.isfinite(loss)) and np.all(loss == 0.0)
    assert np.all(np.isfinite(gq)) and np.all(np.isfinite(rows))


def test_large_logit_gaps_stay_exact(rng):
    check(C.large_logit_gaps(rng), temperature=0.05)


# Split paths: B = 1000, J = 4000 gives 16 row tiles x 16 column splits in
# the forward, 8 column splits of dq over two D chunks (D = 96), 3 row
# splits of dC; B = 16384 gives 256 row tiles: one split everywhere, dq
# written in place. Tails in B, J and D throughout.
@pytest.mark.parametrize(
    "B,D,V,S,in_batch", [(1000, 96, 5000, 3000, True), (16384, 16, 3000, 500, False)]
)
def test_gpu_matches_cpu_across_splits(rng, B, D, V, S, in_batch):
    case = make_case(rng, B, D, V, S, hits=20)
    g = rng.uniform(-1, 1, B).astype(np.float32)
    check_against_cpu(case, temperature=0.5, in_batch=in_batch, grad_loss=g)


def test_deterministic(rng):
    # Few ids, many rows: long runs of equal ids in the gradient sums, and
    # several splits, where an order-dependent sum would show.
    case = make_case(rng, B=700, D=40, V=30, S=200, hits=10)
    first, second = run(case, in_batch=True), run(case, in_batch=True)
    for a, b in zip(first[:3] + first[3], second[:3] + second[3]):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def test_outputs_fully_written(rng):
    # The same shapes twice on fresh data: a result that leaked from one call
    # into the next, or an element left unwritten (NaN poison), fails.
    for _ in range(2):
        check(make_case(rng, B=45, D=37, V=200, S=70, hits=3), 0.5, in_batch=True)


def test_non_default_stream(rng):
    case = make_case(rng, B=50, D=20, V=100, S=40, hits=4)
    want = run(case)
    with cp.cuda.Stream(non_blocking=True):
        got = run(case)
    for a, b in zip(want[:3] + want[3], got[:3] + got[3]):
        np.testing.assert_array_equal(a, b)


def test_strided_device_table_is_made_contiguous(rng):
    # arrays.py copies a strided CuPy view into a contiguous array.
    case = make_case(rng, B=10, D=8, V=40, S=12)
    wide = cp.zeros((40, 16), np.float32)
    wide[:, ::2] = cp.asarray(case["table"])
    c = on_device(case)
    c["table"] = wide[:, ::2]
    loss, _, _ = arrays.sampled_softmax_loss(**c)
    check_loss(loss.get(), reference(case)[0], case, 1.0)


# ---------------------------------------------------------------- errors ----


def same_error(case, grad=False, **kw):
    """Runs the CPU and the GPU path on the same bad input; returns the GPU's
    message, which must be the CPU's."""

    def call(c, xp):
        if not grad:
            return arrays.sampled_softmax_loss(**c, **kw)
        B = len(case["positive_ids"])
        ones = xp.ones(B, np.float32)
        return arrays.sampled_softmax_loss_grad(**c, lse=ones, grad_loss=ones, **kw)

    with pytest.raises(ValueError) as cpu:
        call(case, np)
    with pytest.raises(ValueError) as gpu:
        call(on_device(case), cp)
    assert str(gpu.value) == str(cpu.value)
    return str(gpu.value)


@pytest.fixture
def small(rng):
    return make_case(rng, B=5, D=4, V=10, S=3)


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("bad", [-1, 10, 2**31 - 1])
def test_positive_id_out_of_range(small, grad, id_dtype, bad):
    small["positive_ids"] = small["positive_ids"].astype(id_dtype)
    small["positive_ids"][3] = bad
    small["positive_ids"][4] = -7  # a later bad id: the first is reported
    msg = same_error(small, grad)
    assert msg.startswith(f"positive_ids[3] = {bad} is outside [0, 10)")


def test_huge_int64_id(small):
    small["sampled_ids"][2] = 2**40
    assert same_error(small).startswith(f"sampled_ids[2] = {2**40} is outside [0, 10)")


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("in_batch", [False, True])
def test_sampled_id_out_of_range(small, grad, in_batch):
    small["sampled_ids"][1] = 10
    msg = same_error(small, grad, in_batch_negatives=in_batch)
    assert msg.startswith("sampled_ids[1] = 10 is outside [0, 10)")


def test_positive_ids_reported_before_sampled_ids_and_counts(small):
    small["sampled_ids"][0] = -3
    small["true_expected_count"][0] = 0.0
    small["positive_ids"][2] = 11
    assert same_error(small).startswith("positive_ids[2] = 11")
    small["positive_ids"][2] = 1
    assert same_error(small).startswith("sampled_ids[0] = -3")


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_expected_counts_must_be_positive_and_finite(small, grad, bad):
    small["sampled_expected_count"][1] = bad
    assert "sampled_expected_count[1] = " in same_error(small, grad)
    small["sampled_expected_count"][1] = 1.0
    small["true_expected_count"][4] = bad
    msg = same_error(small, grad)
    assert msg.startswith("true_expected_count[4] = ") and "positive and finite" in msg


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_temperature(small, bad):
    assert "temperature must be positive and finite" in same_error(small, temperature=bad)


def test_overflowing_logits_are_an_error_not_nan(small):
    # Not same_error: the message quotes the NaN loss, whose sign bit x86
    # and the GPU set differently ("-nan" / "nan").
    small["query"][2] = 1e30
    small["table"][:] = 1e30
    prefix = "the loss of row 2 is not finite ("
    with pytest.raises(ValueError, match=r"^the loss of row 2 is not finite \(") as cpu:
        arrays.sampled_softmax_loss(**small)
    with pytest.raises(ValueError) as gpu:
        arrays.sampled_softmax_loss(**on_device(small))
    tail = str(cpu.value).split("): ", 1)[1]
    assert str(gpu.value).startswith(prefix) and str(gpu.value).endswith("): " + tail)


def test_mixed_host_and_device_inputs_are_rejected(small):
    c = on_device(small)
    c["true_expected_count"] = small["true_expected_count"]  # arrays.py moves it
    loss, _, _ = arrays.sampled_softmax_loss(**c)
    check_loss(loss.get(), reference(small)[0], small, 1.0)
    with pytest.raises(ValueError, match="must be a device"):
        _ydnn_py.sampled_softmax_forward_workspace_cuda(
            c["query"],
            c["table"],
            small["positive_ids"],
            c["sampled_ids"],
            c["true_expected_count"],
            c["sampled_expected_count"],
            1.0,
            True,
            False,
        )


@pytest.mark.parametrize("dtype", CUPY_DTYPES)
@pytest.mark.parametrize("in_batch", [False, True])
@pytest.mark.parametrize("B,D,V,S", [(1, 7, 20, 5), (37, 13, 300, 50), (70, 130, 2000, 129)])
def test_bfloat16_compute_matches_the_reference_on_rounded_inputs(rng, dtype, in_batch, B, D, V, S):
    case = make_case(rng, B, D, V, S, dtype=dtype, hits=3)
    g = rng.uniform(-2, 2, B).astype(np.float32)
    c = on_device(case)
    kw = dict(temperature=0.5, in_batch_negatives=in_batch, compute_dtype="bfloat16")
    loss, lse, _ = arrays.sampled_softmax_loss(**c, **kw)
    grads = arrays.sampled_softmax_loss_grad(**c, lse=lse, grad_loss=cp.asarray(g), **kw)
    grads = tuple(x.get() for x in grads)
    check_bf16_against_rounded_reference(case, loss.get(), grads, 0.5, in_batch, dtype, g)
