"""embedding_pool's CUDA kernels through ydnn_kernels.arrays on CuPy arrays.

Mirrors tests/embedding_pool/test_arrays.py (float64 reference, edge cases, B
= 0; parameter lists and cases from tests/embedding_pool/cases.py) and adds
what only the GPU path has: every vector width and group size (D and pointer
alignment pick them), grid-stride tails, agreement with the CPU kernels,
bitwise determinism, outputs that must be fully written, and the error policy
(same ValueError text as the CPU path). bfloat16 is not a CuPy dtype, so it is
left to the CPU and TF tests. Skipped without CuPy, a CUDA device or a CUDA
build of ydnn_kernels."""

import numpy as np
import pytest

from tests.gpu.cuda_env import require_cuda

cp = require_cuda()

from tests.embedding_pool.cases import (  # noqa: E402
    COMBINERS,
    CUPY_DTYPES,
    EDGES,
    ID_DTYPES,
    LAYOUTS,
    WEIGHTED,
    check_pool_results,
    edge_cases,
    layout_kwargs,
    make_case,
)
from tests.tolerance import ROUNDING  # noqa: E402
from ydnn_kernels import arrays  # noqa: E402


def offset_copy(a, offset):
    """`a` on the device, its data `offset` elements past an allocation's
    start: misaligns it for the 16-byte (and, odd offsets, 4-byte) paths."""
    buf = cp.empty(a.size + offset, a.dtype)
    view = buf[offset:].reshape(a.shape)
    view[...] = cp.asarray(a)
    return view


def run_gpu(case, combiner, layout, offset=0):
    kw = layout_kwargs(case, layout, cp)
    table = offset_copy(case.table, offset)
    out = arrays.embedding_pool(table, combiner=combiner, **kw)
    up = np.random.default_rng(1).standard_normal(out.shape).astype(case.table.dtype)
    grads = arrays.embedding_pool_grad(
        table, pooled=out, grad=offset_copy(up, offset), combiner=combiner, **kw
    )
    return out.get(), up, tuple(None if g is None else g.get() for g in grads)


def check(case, combiner, layout, offset=0):
    """The CPU tests' check, on the GPU."""
    out, up, grads = run_gpu(case, combiner, layout, offset)
    check_pool_results(case, combiner, layout, out, up, *grads)


def assert_gpu_matches_cpu(gpu, cpu, dtype, scale, what):
    # Both sum in float32 (in different orders, the GPU with FMA) and round
    # once: allow each its own rounding.
    gpu, cpu = np.asarray(gpu, np.float64), np.asarray(cpu, np.float64)
    assert gpu.shape == cpu.shape, what
    bound = 2 * ROUNDING[dtype] * np.abs(cpu) + 2e-5 * scale
    err = np.abs(gpu - cpu)
    assert np.all(err <= bound), f"{what} ({dtype}): max |gpu - cpu| = {err.max():.3g}"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("weighted", WEIGHTED)
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
@pytest.mark.parametrize("dtype", CUPY_DTYPES)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_matches_reference(rng, combiner, dtype, id_dtype, weighted, layout):
    case = make_case(rng, B=9, L=7, V=70, D=37, dtype=dtype, id_dtype=id_dtype, weighted=weighted)
    check(case, combiner, layout)


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", CUPY_DTYPES)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_edge_cases(rng, combiner, dtype, layout, edge):
    check(edge_cases(rng, dtype=dtype, weighted=True)[edge], combiner, layout)


# D and alignment choose the vector width VEC (fp32: 4 or 1; fp16: 8, 2 or
# 1) and the group size G = 4..32; D > G*VEC*4 takes several passes. Table
# and grad offset by one element force VEC = 1 where D alone would allow
# more; by two, fp16 rows are 4- but not 16-byte aligned (VEC = 2).
@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("D", [1, 2, 3, 64, 100, 131, 1000])
@pytest.mark.parametrize("dtype", CUPY_DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_vector_widths(rng, layout, dtype, D, offset):
    case = make_case(rng, B=11, L=6, V=30, D=D, dtype=dtype, weighted=True)
    check(case, "sqrtn", layout, offset)


def test_zero_bags(rng):
    table = cp.asarray(rng.standard_normal((5, 3)).astype(np.float32))
    ids, lengths = cp.zeros((0, 4), cp.int64), cp.zeros(0, cp.int64)
    out = arrays.embedding_pool(table, ids, lengths=lengths)
    assert out.shape == (0, 3)
    idx, rows, g_w = arrays.embedding_pool_grad(table, ids, out, out, lengths=lengths)
    assert idx.shape == (0,) and rows.shape == (0, 3) and g_w is None
    out = arrays.embedding_pool(table, cp.zeros(0, cp.int32), row_splits=cp.array([0]))
    assert out.shape == (0, 3)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", CUPY_DTYPES)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_gpu_matches_cpu(rng, combiner, dtype, layout):
    case = make_case(rng, B=200, L=20, V=300, D=96, dtype=dtype, id_dtype=np.int32, weighted=True)
    out, up, (idx, rows, g_w) = run_gpu(case, combiner, layout)
    kw = layout_kwargs(case, layout, np)
    cpu_out = arrays.embedding_pool(case.table, combiner=combiner, **kw)
    c_idx, c_rows, c_gw = arrays.embedding_pool_grad(
        case.table, pooled=cpu_out, grad=up, combiner=combiner, **kw
    )
    g_scale = case.scale * float(np.abs(up.astype(np.float64)).max())
    assert_gpu_matches_cpu(out, cpu_out, dtype, case.scale, "forward")
    np.testing.assert_array_equal(idx, c_idx)
    assert_gpu_matches_cpu(rows, c_rows, dtype, g_scale, "table gradient")
    assert_gpu_matches_cpu(g_w, c_gw, dtype, case.table.shape[1] * g_scale, "weight gradient")


def test_grid_stride_tails(rng):
    # Grids are capped at 65536 blocks of 256 threads. With D = 3 (G = 4) one
    # pass covers 65536 * 64 bags (or runs): 37 more make a few groups of a
    # warp loop again while their neighbours have left, n = 4 * B occurrences
    # pass the 65536 * 256 of the flat backward kernels, and V = 2^23 random
    # ids give over 65536 * 64 unique ids for the row sums.
    B, L, D, V = 65536 * 64 + 37, 4, 3, 1 << 23
    table = rng.standard_normal((V, D)).astype(np.float32)
    ids = rng.integers(0, V, size=(B, L), dtype=np.int32)
    lengths = rng.integers(0, L + 1, size=B)
    weights = rng.uniform(0.25, 1.75, size=(B, L)).astype(np.float32)
    grad = rng.standard_normal((B, D)).astype(np.float32)
    kw = dict(lengths=lengths, weights=weights, combiner="mean")
    cpu_out = arrays.embedding_pool(table, ids, **kw)
    c_idx, c_rows, c_gw = arrays.embedding_pool_grad(table, ids, cpu_out, grad, **kw)
    assert len(c_idx) > 65536 * 64
    g = {k: cp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    d_table, d_ids = cp.asarray(table), cp.asarray(ids)
    out = arrays.embedding_pool(d_table, d_ids, **g)
    idx, rows, g_w = arrays.embedding_pool_grad(d_table, d_ids, out, cp.asarray(grad), **g)
    scale = 4 * 1.75 * float(np.abs(table).max())
    assert_gpu_matches_cpu(out.get(), cpu_out, "float32", scale, "forward")
    np.testing.assert_array_equal(idx.get(), c_idx)
    assert_gpu_matches_cpu(rows.get(), c_rows, "float32", 20 * scale, "table gradient")
    assert_gpu_matches_cpu(g_w.get(), c_gw, "float32", 20 * D * scale, "weight gradient")


@pytest.mark.parametrize("combiner", ["sum", "mean"])
@pytest.mark.parametrize("dtype", CUPY_DTYPES)
def test_hot_ids_longer_than_a_chunk(rng, dtype, combiner):
    # The backward cuts runs longer than 512 occurrences into chunks summed
    # apart (kRunChunk). Runs of 512 (the short path), 513 and 1025 (just past
    # one and two chunks) and 7000 (a Zipf head): a chunk lost, doubled or
    # added to the wrong run is off by hundreds of rows, far past rounding.
    B, L, D, V = 700, 20, 40, 1000
    hot = np.repeat([3, 5, 7, 11], [512, 513, 1025, 7000])
    filler = rng.integers(12, V, B * L - hot.size)
    ids = rng.permutation(np.concatenate([hot, filler])).reshape(B, L).astype(np.int32)
    table = rng.standard_normal((V, D)).astype(dtype)
    weights = rng.uniform(0.25, 1.75, (B, L)).astype(np.float32)
    grad = rng.standard_normal((B, D)).astype(dtype)
    cpu_out = arrays.embedding_pool(table, ids, weights=weights, combiner=combiner)
    c_idx, c_rows, _ = arrays.embedding_pool_grad(
        table, ids, cpu_out, grad, weights=weights, combiner=combiner
    )
    d_table, d_ids, d_w = cp.asarray(table), cp.asarray(ids), cp.asarray(weights)
    out = arrays.embedding_pool(d_table, d_ids, weights=d_w, combiner=combiner)
    idx, rows, _ = arrays.embedding_pool_grad(
        d_table, d_ids, out, cp.asarray(grad), weights=d_w, combiner=combiner
    )
    np.testing.assert_array_equal(idx.get(), c_idx)
    # fp32 sums of up to 7000 terms in two orders: ~sqrt(n) eps of the run's sum.
    scale = 30 * 1.75 * float(np.abs(grad.astype(np.float64)).max())
    assert_gpu_matches_cpu(rows.get(), c_rows, dtype, scale, "table gradient")


@pytest.mark.parametrize("dtype", CUPY_DTYPES)
def test_deterministic(rng, dtype):
    # Few ids, long bags: long runs, where an order-dependent sum would show.
    case = make_case(rng, B=300, L=40, V=12, D=64, dtype=dtype, weighted=True)
    first, second = run_gpu(case, "sqrtn", "padded"), run_gpu(case, "sqrtn", "padded")
    for a, b in zip([first[0], *first[2]], [second[0], *second[2]]):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("dtype", CUPY_DTYPES)
def test_outputs_fully_written(rng, dtype):
    # Same shapes twice on fresh data: the pool hands the first call's freed
    # blocks to the second, so a result that leaked from one call into the
    # next, or an element left unwritten (NaN from the poison), fails.
    for _ in range(2):
        case = make_case(rng, B=33, L=9, V=500, D=40, dtype=dtype, weighted=True)
        check(case, "mean", "padded")


def _same_error(table, **kw):
    """Runs both paths on the same bad input; returns the GPU's message."""
    with pytest.raises(ValueError) as cpu:
        arrays.embedding_pool(table, **kw)
    gpu_kw = {k: cp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    with pytest.raises(ValueError) as gpu:
        arrays.embedding_pool(cp.asarray(table), **gpu_kw)
    assert str(gpu.value) == str(cpu.value)
    return str(gpu.value)


TABLE = np.arange(40, dtype=np.float32).reshape(10, 4)


@pytest.mark.parametrize("id_dtype", ID_DTYPES)
@pytest.mark.parametrize(
    "ids, lengths, where",
    [
        ([[1, 2, 3], [10, 0, 0]], [3, 1], "ids[1, 0] = 10"),
        ([[1, 2, -1], [10, 0, 0]], [3, 1], "ids[0, 2] = -1"),  # the first of two
        ([[1, 2, 3], [0, 2**31 - 1, 0]], [3, 3], "ids[1, 1] = 2147483647"),
    ],
)
def test_bad_padded_id(id_dtype, ids, lengths, where):
    msg = _same_error(TABLE, ids=np.array(ids, id_dtype), lengths=np.array(lengths))
    assert msg.startswith(where + " is out of range [0, 10)")


def test_bad_ragged_id():
    msg = _same_error(TABLE, ids=np.array([1, 2, 3, 10]), row_splits=np.array([0, 2, 2, 4]))
    assert msg.startswith("ids[3] = 10 is out of range")


@pytest.mark.parametrize("lengths", [[3, -1], [4, 0], [4, -1]])
def test_bad_lengths(lengths):
    msg = _same_error(TABLE, ids=np.zeros((2, 3), np.int64), lengths=np.array(lengths))
    assert "is outside [0, 3] (ids have shape [2, 3])" in msg


def test_bad_lengths_reported_before_bad_ids():
    ids = np.array([[10, 0, 0], [1, 2, 3]])
    assert _same_error(TABLE, ids=ids, lengths=np.array([1, 5])).startswith("lengths[1] = 5")


@pytest.mark.parametrize(
    "ids, splits",
    [
        ([1, 2, 3], [0, 2, 1, 3]),  # decreasing
        ([1, 2, 3], [1, 2, 3]),  # not starting at 0
        ([1, 2, 3], [0, 2, 2]),  # not ending at N
        ([1, 2, 3], [0, 5, 3]),  # past N
        ([1, 2, 3], [0, -1, 3]),  # negative
        ([1, 2, 3], [3]),  # B = 0 but ids given: no kernel runs, still checked
        ([1, 2, 3], [0]),
    ],
)
def test_bad_row_splits(ids, splits):
    msg = _same_error(TABLE, ids=np.array(ids), row_splits=np.array(splits))
    assert msg.startswith("row_splits must be non-decreasing from 0 to 3")


@pytest.mark.parametrize(
    "bags, kw",
    [
        (2, dict(ids=np.array([[1, 2, 3], [10, 0, 0]]), lengths=np.array([3, 1]))),
        (2, dict(ids=np.array([[1, 2, 3], [4, 0, 0]]), lengths=np.array([3, 4]))),
        (3, dict(ids=np.array([1, 2, 3]), row_splits=np.array([0, 2, 1, 3]))),
    ],
    ids=["bad-id", "bad-length", "bad-splits"],
)
def test_backward_raises_as_the_cpu(bags, kw):
    """The backward kernels skip bad ids rather than fault: the arrays API
    checks first, so the GPU raises the CPU's error instead of dropping them."""
    grad = np.ones((bags, 4), np.float32)
    with pytest.raises(ValueError) as cpu:
        arrays.embedding_pool_grad(TABLE, pooled=grad, grad=grad, **kw)
    gpu_kw = {k: cp.asarray(v) for k, v in kw.items()}
    with pytest.raises(ValueError) as gpu:
        arrays.embedding_pool_grad(
            cp.asarray(TABLE), pooled=cp.asarray(grad), grad=cp.asarray(grad), **gpu_kw
        )
    assert str(gpu.value) == str(cpu.value)
