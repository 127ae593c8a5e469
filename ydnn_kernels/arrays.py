"""ydnn kernels on NumPy (CPU) and CuPy (CUDA) arrays, without TensorFlow.

The same compiled kernels as the TensorFlow ops, through the pybind11 module.
Host arrays run on ydnn's own thread pool (`YDNN_NUM_THREADS`); CuPy arrays
run on CuPy's current stream. Inputs are converted to the dtypes the kernels
take (int64 lengths / row_splits, float32 weights, C-contiguous, native
byte order) by `ydnn_kernels._args`, which refuses what cannot be converted
without changing its meaning (float ids or lengths, non-integer counts).
"""

import numpy as np

from ydnn_kernels._args import (bool_scalar, describe, float_array, float_scalar, int_array,
                                int_scalar, seed_scalars, table_array, true_ids_array)
from ydnn_kernels._device import _cupy, _py, _stream, _xp, check_device
from ydnn_kernels.unigram_arrays import (UnigramArrays, check_distortion, unigram_sample,
                                         unigram_table)

__all__ = ["COMBINERS", "SPARSE_KINDS", "UnigramArrays", "check_distortion", "embedding_pool",
           "embedding_pool_grad", "log_uniform_sample", "sampled_softmax_loss",
           "sampled_softmax_loss_grad", "sparse_apply", "unigram_sample", "unigram_table"]

COMBINERS = ("sum", "mean", "sqrtn")


def _layout(xp, ids, lengths, row_splits, weights, combiner):
    if not isinstance(combiner, str) or combiner not in COMBINERS:
        raise ValueError(f"combiner must be one of {COMBINERS}, got {combiner!r}")
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


def embedding_pool(table, ids, lengths=None, row_splits=None, weights=None, combiner="mean"):
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
    out = xp.empty((max(row_info.shape[0] - (1 if ragged else 0), 0), table.shape[1]),
                   table.dtype)
    error = xp.empty((2,), np.int64)
    _py.embedding_pool_forward_cuda(table, ids, row_info, weights, combiner, ragged, out, error,
                                    _stream())
    return out


def embedding_pool_grad(table, ids, pooled, grad, lengths=None, row_splits=None, weights=None,
                        combiner="mean"):
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
        return _py.embedding_pool_backward_cpu(table, ids, row_info, weights, pooled, grad,
                                               combiner, ragged)
    _pool_cuda(xp, table, ids, row_info, weights, combiner, ragged)
    args = (table, ids, row_info, weights, combiner, ragged)
    workspace = xp.empty((_py.embedding_pool_backward_workspace_cuda(*args),), np.uint8)
    stream = _stream()
    num_unique = _py.embedding_pool_backward_plan_cuda(*args, workspace, stream)
    unique_ids = xp.empty((num_unique,), ids.dtype)
    grad_rows = xp.empty((num_unique, table.shape[1]), table.dtype)
    grad_weights = xp.empty(weights.shape, np.float32) if weights is not None else None
    _py.embedding_pool_backward_cuda(*args, workspace, num_unique, pooled, grad, unique_ids,
                                     grad_rows, grad_weights, stream)
    return unique_ids, grad_rows, grad_weights


def _softmax_inputs(query, table, positive_ids, sampled_ids, true_expected_count,
                    sampled_expected_count, temperature, remove_accidental_hits,
                    in_batch_negatives):
    """(xp, the kernels' positional arguments): arrays converted on the
    table's side (a CuPy table moves the rest to the device)."""
    xp = _xp(table)
    arrays = (float_array(xp, query, "query"), table_array(xp, table),
              int_array(xp, positive_ids, "positive_ids"),
              int_array(xp, sampled_ids, "sampled_ids"),
              float_array(xp, true_expected_count, "true_expected_count").reshape(-1),
              float_array(xp, sampled_expected_count, "sampled_expected_count"))
    return xp, arrays + (float_scalar("temperature", temperature),
                         bool_scalar("remove_accidental_hits", remove_accidental_hits),
                         bool_scalar("in_batch_negatives", in_batch_negatives))


def sampled_softmax_loss(query, table, positive_ids, sampled_ids, true_expected_count,
                         sampled_expected_count, temperature=1.0, remove_accidental_hits=True,
                         in_batch_negatives=False, return_logits=False):
    """`ydnn_kernels.sampled_softmax_loss` on NumPy or CuPy arrays.

    A CuPy `table` selects the CUDA kernels, on CuPy's current stream; ids
    and expected counts are checked on the device and the call syncs once
    to report a bad one (or a loss that is not finite) as the CPU does.

    Args:
        query, table, positive_ids, sampled_ids, true_expected_count,
        sampled_expected_count, temperature, remove_accidental_hits,
        in_batch_negatives, return_logits: as in the TF op.

    Returns:
        `(loss [B], lse [B], logits [B, 1 + J] or None)` on the table's
        device; `lse` is what `sampled_softmax_loss_grad` needs.

    Raises:
        ValueError: bad shapes, dtypes, temperature, ids outside `[0, V)`,
            non-positive expected counts, or a loss that is not finite.
    """
    xp, args = _softmax_inputs(query, table, positive_ids, sampled_ids, true_expected_count,
                               sampled_expected_count, temperature, remove_accidental_hits,
                               in_batch_negatives)
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


def sampled_softmax_loss_grad(query, table, positive_ids, sampled_ids, true_expected_count,
                              sampled_expected_count, lse, grad_loss, temperature=1.0,
                              remove_accidental_hits=True, in_batch_negatives=False):
    """Gradients of `sampled_softmax_loss` on NumPy or CuPy arrays.

    On CuPy arrays it syncs once (the plan returns the number of unique
    ids, which sizes two outputs); the result is bitwise reproducible.

    Args:
        lse: `[B]` from the forward.
        grad_loss: `[B]` gradient of the objective with respect to the loss.
        The rest: as in `sampled_softmax_loss`.

    Returns:
        `(grad_query [B, D] float32, unique_ids [U] int64, grad_rows [U, D]
        of the table's dtype)` on the table's device: ids ascending,
        duplicates summed.
    """
    xp, args = _softmax_inputs(query, table, positive_ids, sampled_ids, true_expected_count,
                               sampled_expected_count, temperature, remove_accidental_hits,
                               in_batch_negatives)
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
    _py.sampled_softmax_backward_cuda(*args, workspace, num_unique, lse, grad_loss, grad_query,
                                      unique_ids, grad_rows, stream)
    return grad_query, unique_ids, grad_rows


def log_uniform_sample(num_sampled, max_id, min_id=0, unique=True, true_ids=None, seed=0,
                       seed2=0, counter=0, device="cpu"):
    """`ydnn_kernels.log_uniform_sample` on NumPy (`device="cpu"`) or CuPy
    (`device="cuda"`) arrays, with its state made explicit.

    Args:
        num_sampled, max_id, min_id, unique: as in the TF op.
        true_ids: optional int array whose expected counts are returned.
        seed, seed2: the Philox key and stream (the TF op's seed, seed2).
        counter: index of this call's first draw in the stream; pass the
            previous call's `counter + num_tries` for fresh ids.
        device: "cpu" or "cuda".

    Returns:
        `(sampled_ids [num_sampled] int64, true_expected_count,
        sampled_expected_count, num_tries)`.
    """
    check_device(device)
    params = (int_scalar("num_sampled", num_sampled), int_scalar("min_id", min_id),
              int_scalar("max_id", max_id), bool_scalar("unique", unique))
    seed, seed2, counter = seed_scalars(seed, seed2, counter)
    if device == "cpu":
        sampled, sampled_ec, tries = _py.log_uniform_sample_cpu(*params, seed, seed2, counter)
        true_ids = true_ids_array(np, true_ids)
        return (sampled, _py.log_uniform_expected_count_cpu(true_ids, *params, tries),
                sampled_ec, tries)
    cupy = _cupy()
    stream = _stream()
    sampled = cupy.empty((num_sampled,), np.int64)
    workspace = cupy.empty((_py.log_uniform_sample_workspace_cuda(*params),), np.uint8)
    tries = _py.log_uniform_sample_cuda(*params, seed, seed2, counter, sampled, workspace, stream)
    true_ids = true_ids_array(cupy, true_ids)
    counts = []
    for ids in (true_ids, sampled):
        out = cupy.empty(ids.shape, np.float32)
        _py.log_uniform_expected_count_cuda(ids, *params, tries, out, stream)
        counts.append(out)
    return sampled, counts[0], counts[1], tries


SPARSE_KINDS = ("sgd", "adagrad", "rowwise_adagrad", "lazy_adam")


def sparse_apply(kind, table, slots, indices, values, learning_rate, step=1, weight_decay=0.0,
                 epsilon=1e-7, beta_1=0.9, beta_2=0.999, indices_unique=False):
    """`ydnn_kernels.sparse_apply` on NumPy or CuPy arrays: one optimizer step
    on the rows of `table` named by `indices`, in place (table and slots).

    Args:
        kind: "sgd", "adagrad", "rowwise_adagrad" or "lazy_adam".
        table: `[V, D]` float32, float16 or bfloat16 (ml_dtypes) array,
            C-contiguous (it is written in place, so it is never converted);
            a CuPy array selects the CUDA kernels.
        slots: list of C-contiguous float32 arrays, updated in place: `[]`,
            `[acc [V, D]]`, `[acc [V]]` (row-wise) or `[m, v]` (lazy_adam).
        indices: `[N]` int32/int64 ids, duplicates allowed (summed first).
        values: `[N, D]` gradient rows (converted to the table's dtype).
        learning_rate, step, weight_decay, epsilon, beta_1, beta_2: as in
            the TF op (`step` is the 1-based global step for lazy_adam).
        indices_unique: CUDA only: promise of no duplicates (skips the sort;
            duplicates then race).

    Raises:
        ValueError: for bad arguments, shapes, dtypes or ids outside
            `[0, V)`, naming the argument, its shape and the value; a
            read-only, big-endian or aliased table or slot. A call that
            raises has written nothing, on either device (on CUDA the id
            check costs one stream sync).

    Example:

    ```python
    table = np.zeros((100, 8), np.float32)
    sparse_apply("sgd", table, [], np.array([3, 3, 7]), np.ones((3, 8), np.float32), 0.1)
    ```
    """
    if not isinstance(kind, str) or kind not in SPARSE_KINDS:
        raise ValueError(f"kind must be one of {SPARSE_KINDS}, got {kind!r}")
    xp = _xp(table)
    table = table_array(xp, table, in_place=True)
    if not isinstance(slots, (list, tuple)):
        raise ValueError(f"slots must be a list of arrays, got {describe(slots)}")
    slots = [_slot(xp, s, f"slots[{i}]") for i, s in enumerate(slots)]
    _check_no_alias([("table", table)] + [(f"slots[{i}]", s) for i, s in enumerate(slots)])
    indices = int_array(xp, indices, "indices")
    values = float_array(xp, values, "values", table.dtype)
    hyper = (float_scalar("learning_rate", learning_rate), int_scalar("step", step),
             float_scalar("weight_decay", weight_decay), float_scalar("epsilon", epsilon),
             float_scalar("beta_1", beta_1), float_scalar("beta_2", beta_2))
    indices_unique = bool_scalar("indices_unique", indices_unique)
    if xp is np:
        _py.sparse_apply_cpu(kind, table, list(slots), indices, values, *hyper)
        return
    n = int(indices.shape[0]) if indices.ndim == 1 else 0
    d = int(table.shape[1]) if table.ndim == 2 else 0
    workspace = xp.empty((_py.sparse_apply_workspace_cuda(n, d, indices.dtype.name,
                                                          indices_unique),), np.uint8)
    error = xp.empty((1,), np.int64)
    _py.sparse_apply_cuda(kind, table, slots, indices, values, *hyper, indices_unique,
                          workspace, error, _stream())


def _slot(xp, slot, name):
    """A slot array as given (it is updated in place, so never converted)."""
    if not hasattr(slot, "dtype") or not hasattr(slot, "shape"):
        raise ValueError(f"{name} must be an array, got {describe(slot)}")
    if isinstance(slot, np.ndarray) and not slot.dtype.isnative:
        raise ValueError(f"{name} is big-endian ({describe(slot)}) and is updated in place: "
                         f"convert it first with x.astype(x.dtype.newbyteorder('='))")
    return slot


def _check_no_alias(named):
    """ValueError if two arrays that are updated in place share memory (an
    update would read what another just wrote)."""
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1:]:
            if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
                    np.may_share_memory(a, b):
                raise ValueError(f"{name_a} and {name_b} share memory: each optimizer state "
                                 f"must be an array of its own")
