"""`topk_scores` on NumPy and CuPy arrays (the arrays API, re-exported by
`ydnn_kernels.arrays`), and the argument checks the TF op shares."""

from typing import Any

import numpy as np

from ydnn_kernels._args import float_array, int_array, int_scalar, table_array
from ydnn_kernels._device import _py, _stream, _xp
from ydnn_kernels._types import Array, ArrayLike


def check_k_min_id(k: Any, min_id: Any, num_rows: int | None) -> tuple[int, int]:
    """`(k, min_id)` as ints, with `1 <= k <= V - min_id` and `0 <= min_id < V`
    when the table's row count `num_rows` (V) is known; the ValueError every
    path raises otherwise."""
    min_id = int_scalar("min_id", min_id, 0)
    k = int_scalar("k", k, 1)
    if num_rows is not None:
        if min_id >= num_rows:
            raise ValueError(
                f"min_id must be in [0, {num_rows - 1}] (the table has {num_rows} rows), "
                f"got {min_id}"
            )
        if k > num_rows - min_id:
            raise ValueError(
                f"k must be in [1, {num_rows - min_id}] (the table has {num_rows} rows, "
                f"{min_id} below min_id), got {k}"
            )
    return k, min_id


def exclusion_lists(xp: Any, exclude: Any, num_queries: int) -> tuple[Array, Array] | None:
    """`exclude` as `(values [N], row_splits [B+1] int64)`.

    Accepts None, a `(values, row_splits)` pair, or a sequence of `B` id
    lists (one per query row, any lengths).
    """
    if exclude is None:
        return None
    if isinstance(exclude, tuple) and len(exclude) == 2 and hasattr(exclude[1], "shape"):
        values = int_array(xp, exclude[0], "exclude values")
        splits = int_array(xp, exclude[1], "exclude row_splits", np.int64)
    else:
        rows = list(exclude)
        if len(rows) != num_queries:
            raise ValueError(
                f"exclude must hold one id list per query row ({num_queries}), "
                f"got {len(rows)} lists"
            )
        # An empty list is no ids, whatever dtype NumPy gives it.
        lists = [
            int_array(np, r if len(r) else np.zeros(0, np.int64), f"exclude[{i}]", np.int64)
            for i, r in enumerate(rows)
        ]
        lengths = np.array([len(r) for r in lists], np.int64)
        values = xp.asarray(np.concatenate(lists) if lists else np.zeros(0, np.int64))
        splits = xp.asarray(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    if values.ndim != 1 or splits.ndim != 1:
        raise ValueError(
            f"exclude must be values [N] and row_splits [B+1], got shapes "
            f"{list(values.shape)} and {list(splits.shape)}"
        )
    return values, splits


def topk_scores(
    queries: ArrayLike,
    table: ArrayLike,
    k: int,
    exclude: Any = None,
    min_id: int = 0,
) -> tuple[Array, Array]:
    """The `k` best candidates of a whole table for each query row, exact.

    Scores are inner products `queries @ table.T` accumulated in float32,
    never formed as a `[B, V]` matrix: the table is read once per call in
    tiles and each row keeps a running top k.

    Args:
        queries: `[B, D]` real array (converted to float32).
        table: `[V, D]` float32, float16 or bfloat16 (ml_dtypes) array,
            read in place; a CuPy array selects the CUDA kernel.
        k: candidates per row, `1 <= k <= V - min_id`.
        exclude: ids each row must not get: None, one id list per row, or
            the ragged pair `(values [N], row_splits [B+1])`. Ids must lie in
            `[0, V)`.
        min_id: ids below it are never returned (padding, reserved ids).

    Returns:
        `(scores [B, k] float32, ids [B, k] int64)`, best first; equal
        scores are ordered by lower id. A row left with fewer than `k`
        candidates (after exclusions) ends in ids -1 with scores -inf; NaN
        and -inf scores are never returned.

    Raises:
        ValueError: a bad shape, dtype, `k` or `min_id`; a non-finite query;
            an exclusion id outside `[0, V)` or row_splits out of order,
            naming the argument, the position and the value.

    Example:

    ```python
    table = np.random.rand(1000, 16).astype(np.float32)
    scores, ids = topk_scores(np.random.rand(2, 16), table, k=5, exclude=[[3, 7], []])
    ```
    """
    xp = _xp(table)
    table = table_array(xp, table)
    queries = float_array(xp, queries, "queries")
    if queries.ndim != 2:
        raise ValueError(f"queries must be 2-D [B, D], got shape {list(queries.shape)}")
    k, min_id = check_k_min_id(k, min_id, table.shape[0])
    lists = exclusion_lists(xp, exclude, queries.shape[0])
    if xp is np:
        return _py.topk_scores_cpu(queries, table, k, lists, min_id)
    ws = xp.empty((_py.topk_scores_workspace_cuda(queries, table, k, lists, min_id),), np.uint8)
    scores = xp.empty((queries.shape[0], k), np.float32)
    ids = xp.empty((queries.shape[0], k), np.int64)
    error = xp.empty((2,), np.int64)
    _py.topk_scores_cuda(queries, table, k, lists, min_id, ws, scores, ids, error, _stream())
    return scores, ids
