"""`embedding_pool` and its gradient on NumPy and CuPy arrays (the arrays API,
re-exported by `ydnn_kernels.arrays`). `COMBINERS` is the one list of the
poolings, read by the TF op, the stock twin and the model's input block."""

from typing import Any

import numpy as np

from ydnn_kernels._args import float_array, int_array, table_array
from ydnn_kernels._device import _py, _stream, _xp
from ydnn_kernels._types import Array, ArrayLike

COMBINERS = ("sum", "mean", "sqrtn")


def check_combiner(combiner: Any) -> str:
    """`combiner` if it is one of `COMBINERS`, else the ValueError every path raises."""
    if not isinstance(combiner, str) or combiner not in COMBINERS:
        raise ValueError(f"combiner must be one of {COMBINERS}, got {combiner!r}")
    return combiner


def _layout(xp, ids, lengths, row_splits, weights, combiner):
    check_combiner(combiner)
    ids = int_array(xp, ids, "ids")
    if row_splits is not None:
        if lengths is not None:
            raise ValueError("pass lengths (padded ids) or row_splits (ragged ids), not both")
        if ids.ndim != 1:
            raise ValueError(f"ragged ids must be 1-D values [N], got shape {ids.shape}")
        row_info, ragged = int_array(xp, row_splits, "row_splits", np.int64), True
    else:
        if ids.ndim != 2:
            raise ValueError(f"padded ids must be 2-D [B, L], got shape {ids.shape}")
        if lengths is None:
            row_info = xp.full((ids.shape[0],), ids.shape[1], dtype=np.int64)
        else:
            row_info = int_array(xp, lengths, "lengths", np.int64)
        ragged = False
    if weights is not None:
        weights = float_array(xp, weights, "weights")
    return ids, row_info, weights, ragged


def embedding_pool(
    table: ArrayLike,
    ids: ArrayLike,
    lengths: ArrayLike | None = None,
    row_splits: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    combiner: str = "mean",
) -> Array:
    """Pooled embedding rows `[B, D]`; the maths of `ydnn_kernels.embedding_pool`.

    Args:
        table: `[V, D]` float32, float16 or bfloat16 (ml_dtypes) array;
            a CuPy array selects the CUDA kernels (float32 or float16).
        ids: int32/int64 ids, padded `[B, L]` or ragged values `[N]`.
        lengths: `[B]` valid ids per padded row (default: all `L`).
        row_splits: `[B+1]` offsets of ragged rows into `ids`.
        weights: optional float weights with the layout of `ids`.
        combiner: `"sum"`, `"mean"` or `"sqrtn"`.

    Returns:
        `[B, D]` array of the table's dtype, on the table's device.

    Raises:
        ValueError: for bad arguments, ids outside `[0, V)` or bad lengths,
            with the argument, position and value in the message; the same
            on both devices (on CUDA the check costs one stream sync).

    Example:

    ```python
    table = np.random.rand(100, 8).astype(np.float32)
    out = embedding_pool(table, np.array([3, 5, 7]), row_splits=np.array([0, 2, 3]))
    ```
    """
    xp = _xp(table)
    ids, row_info, weights, ragged = _layout(xp, ids, lengths, row_splits, weights, combiner)
    table = table_array(xp, table)
    if xp is np:
        return _py.embedding_pool_forward_cpu(table, ids, row_info, weights, combiner, ragged)
    return _pool_cuda(xp, table, ids, row_info, weights, combiner, ragged)


def _pool_cuda(xp, table, ids, row_info, weights, combiner, ragged):
    """The CUDA forward with its id and layout check (one sync)."""
    out = xp.empty((max(row_info.shape[0] - (1 if ragged else 0), 0), table.shape[1]), table.dtype)
    error = xp.empty((2,), np.int64)
    _py.embedding_pool_forward_cuda(
        table, ids, row_info, weights, combiner, ragged, out, error, _stream()
    )
    return out


def embedding_pool_grad(
    table: ArrayLike,
    ids: ArrayLike,
    pooled: ArrayLike,
    grad: ArrayLike,
    lengths: ArrayLike | None = None,
    row_splits: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    combiner: str = "mean",
) -> tuple[Array, Array, Array | None]:
    """Sparse gradient of `embedding_pool`.

    Args:
        table, ids, lengths, row_splits, weights, combiner: as in
            `embedding_pool`.
        pooled: `[B, D]` the forward result (used for weight gradients).
        grad: `[B, D]` gradient of the loss with respect to the output.

    Returns:
        `(unique_ids [U], grad_rows [U, D], grad_weights or None)`: ids in
        ascending order, each with the sum of its rows' gradients; the weight
        gradient has the layout of `weights` (zeros at padding).

    Raises:
        ValueError: as `embedding_pool`, on both devices (on CUDA the ids
            and layout are checked by a forward pass first: the backward
            kernels skip bad ids rather than fault, so an unchecked call
            would drop them silently).
    """
    xp = _xp(table)
    ids, row_info, weights, ragged = _layout(xp, ids, lengths, row_splits, weights, combiner)
    table = table_array(xp, table)
    pooled = float_array(xp, pooled, "pooled", table.dtype)
    grad = float_array(xp, grad, "grad", table.dtype)
    if xp is np:
        return _py.embedding_pool_backward_cpu(
            table, ids, row_info, weights, pooled, grad, combiner, ragged
        )
    _pool_cuda(xp, table, ids, row_info, weights, combiner, ragged)
    args = (table, ids, row_info, weights, combiner, ragged)
    workspace = xp.empty((_py.embedding_pool_backward_workspace_cuda(*args),), np.uint8)
    stream = _stream()
    num_unique = _py.embedding_pool_backward_plan_cuda(*args, workspace, stream)
    unique_ids = xp.empty((num_unique,), ids.dtype)
    grad_rows = xp.empty((num_unique, table.shape[1]), table.dtype)
    grad_weights = xp.empty(weights.shape, np.float32) if weights is not None else None
    _py.embedding_pool_backward_cuda(
        *args, workspace, num_unique, pooled, grad, unique_ids, grad_rows, grad_weights, stream
    )
    return unique_ids, grad_rows, grad_weights
