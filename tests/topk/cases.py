"""Cases of topk_scores and the one check every path's results go through.

Tolerance (see tests/tolerance.py): the kernel accumulates the scores in
float32 from the table's values (exact in float32 for all three dtypes),
so a score differs from the float64 reference by float32 accumulation
error only: |err| <= 1e-5 * (1 + sum_d |q_d t_d|). Ids must equal the
reference's except where two reference scores at the k boundary or next to
each other lie within that error of each other (then either order is a
correct float32 answer, and the check asks only that the scores agree).
Exact ties (equal rows) are exact in float32 too: lower id first, checked
exactly.
"""

from dataclasses import dataclass

import ml_dtypes
import numpy as np

DTYPES = ("float32", "float16", "bfloat16")
NP_DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
# (B, V, D, k): one query on the dot path (D a multiple of every ISA's
# lanes) and off it (D = 33), batches on the 1- and 2-vector blocks, tails
# of every tile and group, a catalog large enough to split across threads.
SHAPES = (
    (1, 1, 8, 1),
    (1, 50, 64, 10),
    (1, 37, 33, 5),
    (3, 1000, 16, 100),
    (7, 500, 33, 7),
    (20, 2000, 64, 10),
    (64, 3001, 24, 50),
    (2, 20000, 32, 10),
    (40, 20011, 16, 3),
)


@dataclass
class Case:
    queries: np.ndarray  # [B, D] float32
    table: np.ndarray  # [V, D] of the case's dtype
    k: int
    exclude: list | None  # one id list per row
    min_id: int


def make_case(rng, B, V, D, k, dtype="float32", exclude=False, min_id=0):
    """Random normal queries and table; with `exclude`, each row excludes a
    few random ids, among them some of its would-be best."""
    queries = rng.standard_normal((B, D)).astype(np.float32)
    table = rng.standard_normal((V, D)).astype(np.float32).astype(NP_DTYPES[dtype])
    lists = None
    if exclude:
        best = np.argsort(-(queries @ table.astype(np.float32).T), axis=1)
        lists = []
        for b in range(B):
            n = int(rng.integers(0, min(V, 6) + 1))
            picked = list(rng.choice(V, size=n, replace=False)) + list(best[b, : min(3, V)])
            lists.append(sorted({int(i) for i in picked}) if b % 3 else [])
    return Case(queries, table, k, lists, min_id)


def scale(queries, table):
    """sum_d |q_d t_d| per (row, candidate): what float32 accumulation error scales with."""
    return np.abs(queries.astype(np.float64)) @ np.abs(table.astype(np.float64)).T


def check_topk(case, scores, ids, ref_scores, ref_ids, what="topk"):
    """Asserts `(scores, ids)` is a correct top k of `case` given the float64 reference."""
    scores, ids = np.asarray(scores, np.float64), np.asarray(ids)
    B, k = case.queries.shape[0], case.k
    assert scores.shape == (B, k) and ids.shape == (B, k), f"{what}: shapes {scores.shape}"
    assert ids.dtype == np.int64, f"{what}: ids dtype {ids.dtype}"
    exact = case.queries.astype(np.float64) @ case.table.astype(np.float64).T
    tol = 1e-5 * (1 + scale(case.queries, case.table))
    for b in range(B):
        filled = ids[b] >= 0
        assert np.array_equal(filled, ref_ids[b] >= 0), f"{what}: row {b} fills {filled.sum()}"
        assert np.all(scores[b, ~filled] == -np.inf), f"{what}: row {b} padding scores"
        got = ids[b, filled]
        assert len(set(got.tolist())) == len(got), f"{what}: row {b} repeats an id: {got}"
        assert np.all(got >= case.min_id), f"{what}: row {b} returned ids below min_id"
        if case.exclude is not None:
            assert not set(got.tolist()) & set(case.exclude[b]), f"{what}: row {b} excluded"
        err = np.abs(scores[b, filled] - exact[b, got])
        assert np.all(err <= tol[b, got]), f"{what}: row {b} scores off by {err.max():.3g}"
        ref = ref_scores[b, filled]
        assert np.all(np.abs(scores[b, filled] - ref) <= tol[b].max()), f"{what}: row {b} ranks"
        # Ids must match wherever the reference's neighbours are not within error.
        t = tol[b].max()
        after = _next_score(exact[b], ref_ids[b], case, b)
        gaps = np.abs(np.diff(np.concatenate([[np.inf], ref, [after]])))
        clear = (gaps[:-1] > t) & (gaps[1:] > t)
        assert np.array_equal(got[clear], ref_ids[b, filled][clear]), (
            f"{what}: row {b} ids {got} != reference {ref_ids[b, filled]}"
        )


def _next_score(row_scores, ref_ids, case, b):
    """The best score the reference left out (the k+1-th), -inf if none."""
    allowed = np.ones(len(row_scores), bool)
    allowed[: case.min_id] = False
    if case.exclude is not None:
        allowed[list(case.exclude[b])] = False
    allowed[ref_ids[ref_ids >= 0]] = False
    return row_scores[allowed].max() if allowed.any() else -np.inf
