"""topk_scores on NumPy arrays against the float64 reference: shapes x table
dtypes x exclusions x min_id, exact ties, rows left short of k, NaN rows,
every vector path and thread count (tolerances: tests/topk/cases.py)."""

import numpy as np
import pytest

from tests.isa_run import run_json
from tests.topk.cases import DTYPES, NP_DTYPES, SHAPES, check_topk, make_case
from tests.topk.reference import topk_reference
from ydnn_kernels.arrays import topk_scores


def run(case):
    return topk_scores(case.queries, case.table, case.k, case.exclude, case.min_id)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B, V, D, k", SHAPES)
def test_matches_reference(rng, B, V, D, k, dtype):
    case = make_case(rng, B, V, D, k, dtype)
    check_topk(case, *run(case), *topk_reference(case.queries, case.table, k), f"{dtype} {B}x{V}")


@pytest.mark.parametrize("B, V, D, k", [(1, 300, 64, 10), (5, 2000, 33, 20), (40, 20011, 16, 5)])
@pytest.mark.parametrize("min_id", [0, 1, 7])
def test_exclusions_and_min_id(rng, B, V, D, k, min_id):
    case = make_case(rng, B, V, D, k, "float32", exclude=True, min_id=min_id)
    want = topk_reference(case.queries, case.table, k, case.exclude, min_id)
    check_topk(case, *run(case), *want, "exclusions")


def test_ragged_pair_and_int32_exclusions_agree_with_lists(rng):
    case = make_case(rng, 6, 700, 16, 8, exclude=True)
    lengths = [len(r) for r in case.exclude]
    values = np.array([i for r in case.exclude for i in r], np.int32)
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    a = topk_scores(case.queries, case.table, case.k, (values, splits))
    b = run(case)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B, D", [(1, 64), (3, 33), (50, 16)])
def test_exact_ties_go_to_the_lower_id(rng, B, D, dtype):
    # 40 distinct rows, each repeated at 25 ids spread over the table: every
    # score comes 25 times, bit for bit.
    base = rng.standard_normal((40, D)).astype(np.float32)
    table = base[np.arange(1000) % 40].astype(NP_DTYPES[dtype])
    queries = rng.standard_normal((B, D)).astype(np.float32)
    scores, ids = topk_scores(queries, table, 60)
    _, want = topk_reference(queries, table, 60)
    np.testing.assert_array_equal(ids, want)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_rows_left_short_of_k_end_in_minus_one():
    table = np.eye(6, dtype=np.float32)
    q = np.array([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], np.float32)
    scores, ids = topk_scores(q, table, 5, exclude=[[5, 4, 3], []], min_id=1)
    np.testing.assert_array_equal(ids, [[2, 1, -1, -1, -1], [1, 2, 3, 4, 5]])
    np.testing.assert_array_equal(scores[0], [3, 2, -np.inf, -np.inf, -np.inf])
    # Every id excluded: nothing at all, not an error.
    scores, ids = topk_scores(q[:1], table, 2, exclude=[[0, 1, 2, 3, 4, 5]])
    np.testing.assert_array_equal(ids, [[-1, -1]])
    assert np.all(scores == -np.inf)


def test_nan_and_minus_inf_rows_are_never_returned(rng):
    table = rng.standard_normal((100, 16)).astype(np.float32)
    table[[3, 50]] = np.nan
    table[7] = -np.inf
    q = np.abs(rng.standard_normal((2, 16))).astype(np.float32)
    scores, ids = topk_scores(q, table, 99)
    assert not np.isin([3, 50, 7], ids).any()
    assert np.array_equal(ids[:, -2:], [[-1, -1], [-1, -1]])
    assert np.isfinite(scores[:, :-2]).all()


def test_empty_batch_and_k_equal_to_the_catalog(rng):
    table = rng.standard_normal((30, 8)).astype(np.float32)
    scores, ids = topk_scores(np.zeros((0, 8), np.float32), table, 4)
    assert scores.shape == (0, 4) and ids.shape == (0, 4)
    q = rng.standard_normal((2, 8)).astype(np.float32)
    _, ids = topk_scores(q, table, 28, min_id=2)
    assert sorted(ids[0].tolist()) == list(range(2, 30))


def test_read_only_and_non_contiguous_inputs(rng):
    table = rng.standard_normal((500, 32)).astype(np.float32)
    q = rng.standard_normal((4, 64)).astype(np.float32)[:, ::2]
    table.flags.writeable = False
    want = topk_scores(np.ascontiguousarray(q), table.copy(), 5)
    got = topk_scores(q, table, 5)
    np.testing.assert_array_equal(got[1], want[1])


_SUBPROCESS = """
import json, sys
import ml_dtypes
import numpy as np
from ydnn_kernels import _device
from ydnn_kernels.arrays import topk_scores
p = json.loads(sys.stdin.read())
dtype = ml_dtypes.bfloat16 if p["dtype"] == "bfloat16" else p["dtype"]
q, t = np.array(p["q"], np.float32), np.array(p["t"], np.float32).astype(dtype)
s, i = topk_scores(q, t, p["k"], p["exclude"], 1)
py = _device._py
out = dict(isa=py.cpu_isa(), threads=py.num_threads(), s=s.tolist(), i=i.tolist())
print(json.dumps(out))
"""


def _cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return "avx512f" in f.read()
    except OSError:
        return False


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("B, D", [(1, 32), (9, 24), (40, 64)])
@pytest.mark.parametrize("isa, threads", [("scalar", 1), ("avx2", 2), ("avx512", 2)])
def test_every_vector_path_gives_the_same_answer(rng, isa, threads, B, D, dtype):
    if isa == "avx512" and not _cpu_has_avx512():
        pytest.skip("this CPU has no AVX-512")
    case = make_case(rng, B, 20011, D, 12, dtype, exclude=True, min_id=1)
    payload = dict(
        q=case.queries.tolist(),
        t=case.table.astype(np.float32).tolist(),
        dtype=dtype,
        k=case.k,
        exclude=case.exclude,
    )
    got = run_json(_SUBPROCESS, payload, isa, threads)
    assert got["isa"] == isa and got["threads"] == threads
    want = topk_reference(case.queries, case.table, case.k, case.exclude, 1)
    check_topk(case, np.array(got["s"]), np.array(got["i"], np.int64), *want, isa)


def test_batches_larger_than_one_pass_of_rows(rng):
    # 5000 rows: two passes of the kernel's 4096-row bound on its lists.
    q = rng.standard_normal((5000, 8)).astype(np.float32)
    table = rng.standard_normal((300, 8)).astype(np.float32)
    scores, ids = topk_scores(q, table, 3)
    full = q.astype(np.float64) @ table.astype(np.float64).T
    want = np.argsort(-full, axis=1, kind="stable")[:, :3]
    top = np.take_along_axis(full, want, 1)
    clear = np.abs(np.diff(np.sort(full, axis=1)[:, -4:], axis=1)).min(axis=1) > 1e-4
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(ids[clear], want[clear])
    np.testing.assert_allclose(scores, top, rtol=1e-5, atol=1e-5)
