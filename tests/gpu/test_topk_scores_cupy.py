"""topk_scores' CUDA kernel through ydnn_kernels.arrays on CuPy arrays.

Mirrors the CPU tests (float64 reference in tests/topk/reference.py, random
cases and the tolerance-aware check from tests/topk/cases.py) and adds what
only the GPU path has: the three tile shapes (B <= 4, <= 16, more), chunk
tails and merge levels (B = 1 over 10^5 - 10^6 rows: dozens to hundreds of
chunks, one or two merge levels before the last), k past the 4096 keys the
last merge sorts in shared memory, a cut that moves on every tile (scores
rising with the id), exact ties across chunks, agreement with the CPU
kernel, determinism, outputs fully written (tests/gpu/conftest.py poisons
every allocation, the workspace included), a non-default stream, and the
error policy (the CPU path's ValueError text, found on the device).

Exact cases use small integers for queries and table: every score is then
exact in float32 whatever the summation order, so scores and ids must
equal the reference's exactly, ties (repeated rows) included. bfloat16 runs
only where CuPy can hold a bfloat16 array (older CuPy cannot; the CPU and
TF tests cover it there). Skipped without CuPy, a CUDA device or a CUDA
build of ydnn_kernels.
"""

import numpy as np
import pytest

from tests.gpu.cuda_env import require_cuda

cp = require_cuda()

from tests.topk.cases import NP_DTYPES, Case, check_topk, make_case  # noqa: E402
from tests.topk.reference import topk_reference  # noqa: E402
from ydnn_kernels import arrays  # noqa: E402

DTYPES = ("float32", "float16", "bfloat16")


def _bf16_on_device():
    try:
        t = cp.asarray(np.zeros((2, 2), NP_DTYPES["bfloat16"]))
        arrays.topk_scores(cp.zeros((1, 2), cp.float32), t, 1)
        return True
    except (TypeError, ValueError):
        return False


BF16 = _bf16_on_device()


def on_device(table):
    if table.dtype == NP_DTYPES["bfloat16"] and not BF16:
        pytest.skip("this CuPy cannot hold a bfloat16 table")
    return cp.asarray(table)


def gpu_exclude(exclude, int32=False):
    """One id list per row as the CuPy ragged pair (values, row_splits)."""
    if exclude is None:
        return None
    lengths = [len(r) for r in exclude]
    values = np.concatenate([np.asarray(r, np.int64) for r in exclude] + [np.zeros(0, np.int64)])
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return cp.asarray(values.astype(np.int32 if int32 else np.int64)), cp.asarray(splits)


def run(case, int32=False):
    scores, ids = arrays.topk_scores(
        cp.asarray(case.queries),
        on_device(case.table),
        case.k,
        exclude=gpu_exclude(case.exclude, int32),
        min_id=case.min_id,
    )
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    return scores.get(), ids.get()


def check(case, int32=False):
    scores, ids = run(case, int32)
    ref_s, ref_i = topk_reference(case.queries, case.table, case.k, case.exclude, case.min_id)
    check_topk(case, scores, ids, ref_s, ref_i)
    return scores, ids


def exact_case(rng, B, V, D, k, dtype="float32", repeats=0, exclude=None, min_id=0):
    """Integer queries and table (exact in every dtype and in any summation
    order); `repeats` > 0 copies rows from the first `repeats` ids all over
    the table, so most scores tie."""
    queries = rng.integers(-3, 4, (B, D)).astype(np.float32)
    table = rng.integers(-3, 4, (V, D)).astype(np.float32)
    if repeats:
        table = table[rng.integers(0, repeats, V)]
    return Case(queries, table.astype(NP_DTYPES[dtype]), k, exclude, min_id)


def check_exact(case, int32=False):
    scores, ids = run(case, int32)
    ref_s, ref_i = topk_reference(case.queries, case.table, case.k, case.exclude, case.min_id)
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_array_equal(scores, ref_s.astype(np.float32))
    return scores, ids


# ------------------------------------------------------------ results ----


@pytest.mark.parametrize("V,k", [(V, k) for V in (1, 50, 10000) for k in (1, 10, 100) if k <= V])
@pytest.mark.parametrize("B", [1, 7, 256])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference(rng, dtype, B, V, k):
    check(make_case(rng, B, V, 32, k, dtype, exclude=V > 1))


@pytest.mark.parametrize("B", [1, 7, 256])
@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_ties_by_lower_id(rng, dtype, B):
    # 10000 rows copied from 40 (or 3): every score ties with hundreds of
    # others spread over every chunk and merge group; equal scores must come
    # lowest id first, and the k-th place is decided by the id alone.
    check_exact(exact_case(rng, B, 10000, 16, 100, dtype, repeats=40))
    check_exact(exact_case(rng, B, 10000, 16, 10, dtype, repeats=3, min_id=17))


@pytest.mark.parametrize("int32", [False, True])
@pytest.mark.parametrize("B", [1, 7, 256])
def test_exclusions(rng, B, int32):
    V, k = 500, 100
    lists = []
    for b in range(B):
        kind = b % 4
        if kind == 0:  # empty list
            lists.append([])
        elif kind == 1:  # leaves fewer than k: the row ends in -1 / -inf
            lists.append(sorted(rng.choice(V, V - k // 2, replace=False).tolist()))
        elif kind == 2:  # everything but 3 ids
            lists.append([v for v in range(V) if v not in (0, 250, V - 1)])
        else:  # short history with duplicates, ids at both ends
            lists.append([0, V - 1, 7, 7] + rng.integers(0, V, 20).tolist())
    case = exact_case(rng, B, V, 8, k, exclude=lists)
    scores, ids = check_exact(case, int32)
    if B > 1:
        assert np.all(ids[1, k // 2 :] == -1) and np.all(scores[1, k // 2 :] == -np.inf)
    if B > 2:
        assert sorted(ids[2, :3].tolist()) == [0, 250, V - 1] and np.all(ids[2, 3:] == -1)
    check(make_case(rng, B, 3000, 24, 50, exclude=True), int32)


@pytest.mark.parametrize("min_id", [1, 5, 4999])
def test_min_id(rng, min_id):
    case = exact_case(rng, 7, 5000, 8, 1, min_id=min_id)
    check_exact(case)
    case.k = 5000 - min_id  # every candidate, sorted
    scores, ids = check_exact(case)
    assert ids.min() >= min_id


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_nan_and_minus_inf_scores_never_enter(rng, dtype):
    case = exact_case(rng, 5, 300, 4, 300, dtype)
    case.queries = np.abs(case.queries) + 1  # positive: a -inf entry gives a -inf score
    case.table[3] = np.nan
    case.table[10, 0] = -np.inf
    case.table[11] = 0  # score 0: ties with every other exact 0, lower id first
    scores, ids = check_exact(case)
    assert not np.isin(ids, [3, 10]).any()
    assert np.all(ids[:, -2:] == -1) and np.all(scores[:, -2:] == -np.inf)


# Chunks: B = 1 splits V into chunks of at least max(4 k, 2048) candidates,
# about 4 per SM: V = 2 * 10^5 gives ~97 chunks (one merge level before the
# last), V = 10^6 ~490 (two). k = 5000 > 4096 sorts in the workspace.
@pytest.mark.parametrize(
    "B,V,D,k",
    [(1, 200_000, 8, 10), (2, 1_000_000, 4, 10), (1, 1_000_000, 4, 300), (3, 6000, 8, 5000)],
)
def test_chunks_and_merge_levels(rng, B, V, D, k):
    check_exact(exact_case(rng, B, V, D, k, repeats=V // 7))
    check(make_case(rng, B, V, D, k))


@pytest.mark.parametrize("B", [1, 9, 70])
@pytest.mark.parametrize("direction", [1, -1])
def test_scores_monotone_in_id(B, direction):
    # Rising: every candidate beats the row's cut, so every row's buffer
    # fills and is flushed every one or two tiles; falling: each chunk's
    # first tile holds its best, and the cut then rejects everything else.
    V, D, k = 20000, 2, 100
    table = (direction * np.stack([np.arange(V), np.ones(V)], 1)).astype(np.float32)
    case = Case(np.ones((B, D), np.float32), table, k, None, 0)
    scores, ids = check_exact(case)
    want = np.arange(V - 1, V - 1 - k, -1) if direction > 0 else np.arange(k)
    np.testing.assert_array_equal(ids, np.broadcast_to(want, (B, k)))


@pytest.mark.parametrize("B,V,D,k", [(300, 20011, 64, 50), (5, 100_000, 33, 128)])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_gpu_matches_cpu(rng, dtype, B, V, D, k):
    case = make_case(rng, B, V, D, k, dtype, exclude=True)
    gpu_s, gpu_i = run(case)
    cpu_s, cpu_i = arrays.topk_scores(case.queries, case.table, k, case.exclude)
    check_topk(case, gpu_s, gpu_i, cpu_s.astype(np.float64), cpu_i, "gpu vs cpu")


def test_deterministic(rng):
    case = make_case(rng, 40, 30000, 32, 64, exclude=True)
    first, second = run(case), run(case)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def test_outputs_fully_written(rng):
    # The same shapes twice on fresh data: a result that leaked from one call
    # into the next, or an element left unwritten (NaN / -1 poison), fails.
    for _ in range(2):
        check(make_case(rng, 33, 2000, 20, 40, exclude=True))


def test_non_default_stream(rng):
    case = make_case(rng, 20, 5000, 16, 10)
    want = run(case)
    with cp.cuda.Stream(non_blocking=True):
        got = run(case)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_empty_batch():
    table = cp.ones((10, 4), cp.float32)
    scores, ids = arrays.topk_scores(cp.zeros((0, 4), cp.float32), table, 3)
    assert scores.shape == (0, 3) and ids.shape == (0, 3)


# ------------------------------------------------------------- errors ----


def _same_error(queries, table, k, exclude=None, min_id=0):
    """Runs both paths on the same bad input; returns the GPU's message."""
    with pytest.raises(ValueError) as cpu:
        arrays.topk_scores(queries, table, k, exclude, min_id)
    dev = None if exclude is None else tuple(cp.asarray(x) for x in exclude)
    with pytest.raises(ValueError) as gpu:
        arrays.topk_scores(cp.asarray(queries), cp.asarray(table), k, dev, min_id)
    assert str(gpu.value) == str(cpu.value)
    return str(gpu.value)


Q = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
TABLE = np.arange(60, dtype=np.float32).reshape(20, 3) / 7


@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
@pytest.mark.parametrize(
    "values, splits, where",
    [
        ([1, 2, 20, 3], [0, 1, 2, 4, 4], "has 20 at [2]"),
        ([1, -1, 3, 25], [0, 2, 2, 3, 4], "has -1 at [1]"),  # the first of two
        ([1, 2, 3, 2**31 - 1], [0, 1, 1, 1, 4], "at [3]"),  # the value prints as %g
    ],
)
def test_bad_exclusion_id(id_dtype, values, splits, where):
    msg = _same_error(Q, TABLE, 3, (np.array(values, id_dtype), np.array(splits)))
    assert msg.startswith("exclude values must be ids in [0, 20)") and where in msg


@pytest.mark.parametrize(
    "splits", [[0, 2, 1, 3, 3], [1, 2, 2, 3, 3], [0, 1, 2, 2, 2], [0, 5, 5, 5, 3], [0, -1, 2, 3, 3]]
)
def test_bad_row_splits(splits):
    msg = _same_error(Q, TABLE, 3, (np.array([1, 2, 3]), np.array(splits)))
    assert msg.startswith("exclude row_splits must run non-decreasing from 0 to N = 3")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_query(bad):
    q = Q.copy()
    q[2, 1] = bad
    q[3, 0] = np.nan  # a later one: the first is reported
    msg = _same_error(q, TABLE, 3, (np.array([1, 99]), np.array([0, 1, 1, 2, 2])))
    assert msg.startswith("queries must be finite") and "at [2, 1]" in msg
