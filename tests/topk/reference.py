"""Float64 reference of topk_scores (see ydnn_kernels.arrays.topk_scores).

Per query row: every candidate id in [min_id, V) outside the row's
exclusion list, scored q . t in float64; NaN and -inf scores dropped; the
rest ordered by score, best first, equal scores by lower id; the first k,
padded with id -1 and score -inf.
"""

import numpy as np


def _host(x):
    return x.get() if hasattr(x, "__cuda_array_interface__") else np.asarray(x)


def exclusion_rows(exclude, B):
    """`exclude` (None, one id list per row, or a `(values, row_splits)`
    pair, NumPy or CuPy) as B sets of ids."""
    if exclude is None:
        return [set() for _ in range(B)]
    if isinstance(exclude, tuple) and len(exclude) == 2 and hasattr(exclude[1], "shape"):
        values, splits = _host(exclude[0]), _host(exclude[1])
        return [{int(v) for v in values[splits[b] : splits[b + 1]]} for b in range(B)]
    return [{int(v) for v in row} for row in exclude]


def topk_reference(queries, table, k, exclude=None, min_id=0):
    """Returns (scores float64 [B, k], ids int64 [B, k])."""
    q = _host(queries).astype(np.float64)
    t = _host(table).astype(np.float64)
    B, V = q.shape[0], t.shape[0]
    banned = exclusion_rows(exclude, B)
    scores = np.full((B, k), -np.inf)
    ids = np.full((B, k), -1, np.int64)
    for b in range(B):
        with np.errstate(invalid="ignore", over="ignore"):
            s = t @ q[b]  # [V]
        allowed = ~np.isnan(s) & (s != -np.inf)
        allowed[:min_id] = False
        allowed[[v for v in banned[b] if 0 <= v < V]] = False
        cand = np.flatnonzero(allowed)
        order = np.lexsort((cand, -s[cand]))[:k]  # score descending, then id ascending
        scores[b, : len(order)] = s[cand[order]]
        ids[b, : len(order)] = cand[order]
    return scores, ids
