"""ydnn kernels on NumPy (CPU) and CuPy (CUDA) arrays, without TensorFlow.

The same compiled kernels as the TensorFlow ops, through the pybind11 module.
Host arrays run on ydnn's own thread pool (`YDNN_NUM_THREADS`); CuPy arrays
run on CuPy's current stream. Inputs are converted to the dtypes the kernels
take (int64 lengths / row_splits, float32 weights, C-contiguous).
"""

import math
from typing import NamedTuple

import numpy as np

from ydnn_kernels._loader import load_py_module

_py = load_py_module()

COMBINERS = ("sum", "mean", "sqrtn")


def _is_device(x):
    return hasattr(x, "__cuda_array_interface__")


def _cupy():
    if not _py.with_cuda:
        raise ValueError("CUDA arrays were given but ydnn_kernels was built without CUDA")
    import cupy

    return cupy


def _xp(table):
    return _cupy() if _is_device(table) else np


def _ids(xp, ids):
    ids = xp.ascontiguousarray(ids)
    if ids.dtype not in (np.int32, np.int64):
        raise ValueError(f"ids must be int32 or int64, got {ids.dtype}")
    return ids


def _layout(xp, ids, lengths, row_splits, weights, combiner):
    if combiner not in COMBINERS:
        raise ValueError(f"combiner must be one of {COMBINERS}, got {combiner!r}")
    ids = _ids(xp, ids)
    if row_splits is not None:
        if lengths is not None:
            raise ValueError("pass lengths (padded ids) or row_splits (ragged ids), not both")
        if ids.ndim != 1:
            raise ValueError(f"ragged ids must be 1-D values [N], got shape {ids.shape}")
        row_info, ragged = xp.ascontiguousarray(row_splits, dtype=np.int64), True
    else:
        if ids.ndim != 2:
            raise ValueError(f"padded ids must be 2-D [B, L], got shape {ids.shape}")
        if lengths is None:
            row_info = xp.full((ids.shape[0],), ids.shape[1], dtype=np.int64)
        else:
            row_info = xp.ascontiguousarray(lengths, dtype=np.int64)
        ragged = False
    if weights is not None:
        weights = xp.ascontiguousarray(weights, dtype=np.float32)
    return ids, row_info, weights, ragged


def _stream():
    import cupy

    return cupy.cuda.get_current_stream().ptr


def embedding_pool(table, ids, lengths=None, row_splits=None, weights=None, combiner="mean",
                   validate_ids=True):
    """Pooled embedding rows `[B, D]`; the maths of `ydnn_kernels.embedding_pool`.

    Args:
        table: `[V, D]` float32, float16 or bfloat16 (ml_dtypes) array;
            a CuPy array selects the CUDA kernels (float32 or float16).
        ids: int32/int64 ids, padded `[B, L]` or ragged values `[N]`.
        lengths: `[B]` valid ids per padded row (default: all `L`).
        row_splits: `[B+1]` offsets of ragged rows into `ids`.
        weights: optional float weights with the layout of `ids`.
        combiner: `"sum"`, `"mean"` or `"sqrtn"`.
        validate_ids: CUDA only: check ids and lengths (one stream sync).

    Returns:
        `[B, D]` array of the table's dtype, on the table's device.

    Raises:
        ValueError: for bad arguments, ids outside `[0, V)` or bad lengths,
            with the argument, position and value in the message.

    Example:

    ```python
    table = np.random.rand(100, 8).astype(np.float32)
    out = embedding_pool(table, np.array([3, 5, 7]), row_splits=np.array([0, 2, 3]))
    ```
    """
    xp = _xp(table)
    ids, row_info, weights, ragged = _layout(xp, ids, lengths, row_splits, weights, combiner)
    table = xp.ascontiguousarray(table)
    if xp is np:
        return _py.embedding_pool_forward_cpu(table, ids, row_info, weights, combiner, ragged)
    out = xp.empty((row_info.shape[0] - (1 if ragged else 0), table.shape[1]), table.dtype)
    error = xp.empty((2,), np.int64) if validate_ids else None
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
    """
    xp = _xp(table)
    ids, row_info, weights, ragged = _layout(xp, ids, lengths, row_splits, weights, combiner)
    table = xp.ascontiguousarray(table)
    pooled = xp.ascontiguousarray(pooled, dtype=table.dtype)
    grad = xp.ascontiguousarray(grad, dtype=table.dtype)
    if xp is np:
        return _py.embedding_pool_backward_cpu(table, ids, row_info, weights, pooled, grad,
                                               combiner, ragged)
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
    arrays = (xp.ascontiguousarray(xp.asarray(query), dtype=np.float32),
              xp.ascontiguousarray(table), _ids(xp, xp.asarray(positive_ids)),
              _ids(xp, xp.asarray(sampled_ids)),
              xp.ascontiguousarray(xp.asarray(true_expected_count), dtype=np.float32).reshape(-1),
              xp.ascontiguousarray(xp.asarray(sampled_expected_count), dtype=np.float32))
    return xp, arrays + (float(temperature), bool(remove_accidental_hits),
                         bool(in_batch_negatives))


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
    if xp is np:
        return _py.sampled_softmax_forward_cpu(*args, bool(return_logits))
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
    lse = xp.ascontiguousarray(xp.asarray(lse), dtype=np.float32)
    grad_loss = xp.ascontiguousarray(xp.asarray(grad_loss), dtype=np.float32)
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
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    params = (num_sampled, min_id, max_id, unique)
    if device == "cpu":
        sampled, sampled_ec, tries = _py.log_uniform_sample_cpu(*params, seed, seed2, counter)
        true_ids = np.zeros(0, np.int64) if true_ids is None else np.ascontiguousarray(
            true_ids, dtype=np.int64)
        return (sampled, _py.log_uniform_expected_count_cpu(true_ids, *params, tries),
                sampled_ec, tries)
    cupy = _cupy()
    stream = _stream()
    sampled = cupy.empty((num_sampled,), np.int64)
    workspace = cupy.empty((_py.log_uniform_sample_workspace_cuda(*params),), np.uint8)
    tries = _py.log_uniform_sample_cuda(*params, seed, seed2, counter, sampled, workspace, stream)
    true_ids = cupy.zeros(0, np.int64) if true_ids is None else cupy.ascontiguousarray(
        cupy.asarray(true_ids), dtype=np.int64)
    counts = []
    for ids in (true_ids, sampled):
        out = cupy.empty(ids.shape, np.float32)
        _py.log_uniform_expected_count_cuda(ids, *params, tries, out, stream)
        counts.append(out)
    return sampled, counts[0], counts[1], tries


def check_distortion(distortion):
    """A unigram distortion as a float, or ValueError if it is not finite
    and >= 0 (shared with `ydnn_kernels.UnigramTable`)."""
    if isinstance(distortion, bool) or not isinstance(distortion, (int, float, np.floating,
                                                                   np.integer)):
        raise ValueError(f"distortion must be a number, got {distortion!r}")
    distortion = float(distortion)
    if not math.isfinite(distortion) or distortion < 0:
        raise ValueError(f"distortion must be finite and >= 0, got {distortion}")
    return distortion


class UnigramArrays(NamedTuple):
    """A unigram sampler's alias table on NumPy or CuPy arrays (see
    `ydnn_kernels.UnigramTable` for the maths)."""

    table: object  # [V, 2] float64: accept probability, alias id
    prob: object  # [V] float64: P(k)
    num_positive: int  # ids with a positive count


def unigram_table(counts, distortion=1.0, device="cpu"):
    """Builds a unigram sampler's alias table once (on the CPU, float64).

    Args:
        counts: `[V]` non-negative finite counts.
        distortion: finite exponent `>= 0` applied to the counts.
        device: "cpu" (NumPy arrays) or "cuda" (copied to CuPy arrays).

    Returns:
        `UnigramArrays(table, prob, num_positive)`.

    Raises:
        ValueError: naming the bad count or distortion.
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if _is_device(counts):
        counts = counts.get()
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    table, prob, num_positive = _py.unigram_build(counts, check_distortion(distortion))
    if device == "cuda":
        cupy = _cupy()
        table, prob = cupy.asarray(table), cupy.asarray(prob)
    return UnigramArrays(table, prob, num_positive)


def unigram_sample(table, num_sampled, unique=True, true_ids=None, seed=0, seed2=0, counter=0):
    """`ydnn_kernels.unigram_sample` on a `UnigramArrays` table, on its
    device (NumPy: CPU; CuPy: CUDA), with its state made explicit.

    Args:
        table: `UnigramArrays` from `unigram_table`.
        num_sampled, unique: as in the TF op.
        true_ids: optional int array whose expected counts are returned.
        seed, seed2: the Philox key and stream (the TF op's seed, seed2).
        counter: index of this call's first draw in the stream; pass the
            previous call's `counter + num_tries` for fresh ids.

    Returns:
        `(sampled_ids [num_sampled] int64, true_expected_count,
        sampled_expected_count, num_tries)`.
    """
    params = (num_sampled, table.num_positive, unique)
    if not _is_device(table.table):
        sampled, tries = _py.unigram_sample_cpu(table.table, *params, seed, seed2, counter)
        true_ids = np.zeros(0, np.int64) if true_ids is None else np.ascontiguousarray(
            true_ids, dtype=np.int64)
        counts = [_py.unigram_expected_count_cpu(table.prob, ids, num_sampled, tries)
                  for ids in (true_ids, sampled)]
        return sampled, counts[0], counts[1], tries
    cupy = _cupy()
    stream = _stream()
    sampled = cupy.empty((num_sampled,), np.int64)
    workspace = cupy.empty(
        (_py.unigram_sample_workspace_cuda(table.table.shape[0], *params),), np.uint8)
    tries = _py.unigram_sample_cuda(table.table, *params, seed, seed2, counter, sampled,
                                    workspace, stream)
    true_ids = cupy.zeros(0, np.int64) if true_ids is None else cupy.ascontiguousarray(
        cupy.asarray(true_ids), dtype=np.int64)
    counts = []
    for ids in (true_ids, sampled):
        out = cupy.empty(ids.shape, np.float32)
        _py.unigram_expected_count_cuda(table.prob, ids, num_sampled, tries, out, stream)
        counts.append(out)
    return sampled, counts[0], counts[1], tries


SPARSE_KINDS = ("sgd", "adagrad", "rowwise_adagrad", "lazy_adam")


def sparse_apply(kind, table, slots, indices, values, learning_rate, step=1, weight_decay=0.0,
                 epsilon=1e-7, beta_1=0.9, beta_2=0.999, indices_unique=False,
                 validate_indices=True):
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
        indices_unique: CUDA only: promise of no duplicates (skips the sort).
        validate_indices: CUDA only: check ids (one stream sync).

    Raises:
        ValueError: for bad arguments, shapes, dtypes or ids outside
            `[0, V)`, naming the argument, its shape and the value.

    Example:

    ```python
    table = np.zeros((100, 8), np.float32)
    sparse_apply("sgd", table, [], np.array([3, 3, 7]), np.ones((3, 8), np.float32), 0.1)
    ```
    """
    if kind not in SPARSE_KINDS:
        raise ValueError(f"kind must be one of {SPARSE_KINDS}, got {kind!r}")
    xp = _xp(table)
    indices = _ids(xp, indices)
    values = xp.ascontiguousarray(values, dtype=table.dtype)
    hyper = (float(learning_rate), int(step), float(weight_decay), float(epsilon),
             float(beta_1), float(beta_2))
    if xp is np:
        _py.sparse_apply_cpu(kind, table, list(slots), indices, values, *hyper)
        return
    n = int(indices.shape[0]) if indices.ndim == 1 else 0
    d = int(table.shape[1]) if table.ndim == 2 else 0
    workspace = xp.empty((_py.sparse_apply_workspace_cuda(n, d, indices.dtype.name,
                                                          bool(indices_unique)),), np.uint8)
    error = xp.empty((1,), np.int64) if validate_indices else None
    _py.sparse_apply_cuda(kind, table, list(slots), indices, values, *hyper,
                          bool(indices_unique), workspace, error, _stream())
