"""`sampled_softmax_loss` and its gradient on NumPy and CuPy arrays (the
arrays API, re-exported by `ydnn_kernels.arrays`)."""

from typing import Any

import numpy as np

from ydnn_kernels._args import (
    bool_scalar,
    compute_dtype_arg,
    float_array,
    float_scalar,
    int_array,
    table_array,
)
from ydnn_kernels._device import _py, _stream, _xp
from ydnn_kernels._types import Array, ArrayLike


def _softmax_inputs(
    query,
    table,
    positive_ids,
    sampled_ids,
    true_expected_count,
    sampled_expected_count,
    temperature,
    remove_accidental_hits,
    in_batch_negatives,
    compute_dtype,
):
    """(xp, the kernels' positional arguments): arrays converted on the
    table's side (a CuPy table moves the rest to the device)."""
    xp = _xp(table)
    arrays = (
        float_array(xp, query, "query"),
        table_array(xp, table),
        int_array(xp, positive_ids, "positive_ids"),
        int_array(xp, sampled_ids, "sampled_ids"),
        float_array(xp, true_expected_count, "true_expected_count").reshape(-1),
        float_array(xp, sampled_expected_count, "sampled_expected_count"),
    )
    return xp, arrays + (
        float_scalar("temperature", temperature),
        bool_scalar("remove_accidental_hits", remove_accidental_hits),
        bool_scalar("in_batch_negatives", in_batch_negatives),
        compute_dtype_arg(compute_dtype),
    )


def sampled_softmax_loss(
    query: ArrayLike,
    table: ArrayLike,
    positive_ids: ArrayLike,
    sampled_ids: ArrayLike,
    true_expected_count: ArrayLike,
    sampled_expected_count: ArrayLike,
    temperature: float = 1.0,
    remove_accidental_hits: bool = True,
    in_batch_negatives: bool = False,
    return_logits: bool = False,
    compute_dtype: str = "float32",
) -> Any:
    """`ydnn_kernels.sampled_softmax_loss` on NumPy or CuPy arrays.

    A CuPy `table` selects the CUDA kernels, on CuPy's current stream; ids
    and expected counts are checked on the device and the call syncs once
    to report a bad one (or a loss that is not finite) as the CPU does.

    Args:
        query, table, positive_ids, sampled_ids, true_expected_count,
        sampled_expected_count, temperature, remove_accidental_hits,
        in_batch_negatives, return_logits, compute_dtype: as in the TF op
        (any real query dtype is converted to float32 first).

    Returns:
        `(loss [B], lse [B], logits [B, 1 + J] or None)` on the table's
        device; `lse` is what `sampled_softmax_loss_grad` needs.

    Raises:
        ValueError: bad shapes, dtypes, temperature, ids outside `[0, V)`,
            non-positive expected counts, or a loss that is not finite.
    """
    xp, args = _softmax_inputs(
        query,
        table,
        positive_ids,
        sampled_ids,
        true_expected_count,
        sampled_expected_count,
        temperature,
        remove_accidental_hits,
        in_batch_negatives,
        compute_dtype,
    )
    return_logits = bool_scalar("return_logits", return_logits)
    if xp is np:
        return _py.sampled_softmax_forward_cpu(*args, return_logits)
    B, num_sampled = args[0].shape[0], args[3].shape[0]
    J = num_sampled + (B if in_batch_negatives else 0)
    loss, lse = xp.empty((B,), np.float32), xp.empty((B,), np.float32)
    logits = xp.empty((B, J + 1), np.float32) if return_logits else None
    workspace = xp.empty((_py.sampled_softmax_forward_workspace_cuda(*args),), np.uint8)
    _py.sampled_softmax_forward_cuda(*args, workspace, loss, lse, logits, _stream())
    return loss, lse, logits


def sampled_softmax_loss_grad(
    query: ArrayLike,
    table: ArrayLike,
    positive_ids: ArrayLike,
    sampled_ids: ArrayLike,
    true_expected_count: ArrayLike,
    sampled_expected_count: ArrayLike,
    lse: ArrayLike,
    grad_loss: ArrayLike,
    temperature: float = 1.0,
    remove_accidental_hits: bool = True,
    in_batch_negatives: bool = False,
    compute_dtype: str = "float32",
) -> tuple[Array, Array, Array]:
    """Gradients of `sampled_softmax_loss` on NumPy or CuPy arrays.

    On CuPy arrays it syncs once (the plan returns the number of unique
    ids, which sizes two outputs); the result is bitwise reproducible.

    Args:
        lse: `[B]` from the forward.
        grad_loss: `[B]` gradient of the objective with respect to the loss.
        The rest: as in `sampled_softmax_loss` (pass the forward's
        `compute_dtype`).

    Returns:
        `(grad_query [B, D] float32, unique_ids [U] int64, grad_rows [U, D]
        of the table's dtype)` on the table's device: ids ascending,
        duplicates summed.
    """
    xp, args = _softmax_inputs(
        query,
        table,
        positive_ids,
        sampled_ids,
        true_expected_count,
        sampled_expected_count,
        temperature,
        remove_accidental_hits,
        in_batch_negatives,
        compute_dtype,
    )
    lse = float_array(xp, lse, "lse")
    grad_loss = float_array(xp, grad_loss, "grad_loss")
    if xp is np:
        return _py.sampled_softmax_backward_cpu(*args, lse, grad_loss)
    (B, D), table = args[0].shape, args[1]
    workspace = xp.empty((_py.sampled_softmax_backward_workspace_cuda(*args),), np.uint8)
    stream = _stream()
    num_unique = _py.sampled_softmax_backward_plan_cuda(*args, workspace, stream)
    grad_query = xp.empty((B, D), np.float32)
    unique_ids = xp.empty((num_unique,), np.int64)
    grad_rows = xp.empty((num_unique, D), table.dtype)
    _py.sampled_softmax_backward_cuda(
        *args, workspace, num_unique, lse, grad_loss, grad_query, unique_ids, grad_rows, stream
    )
    return grad_query, unique_ids, grad_rows
