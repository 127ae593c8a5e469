"""`embedding_pool`: fused embedding gather + pooling as a TensorFlow op."""

import tensorflow as tf

from ydnn_kernels._loader import load_tf_ops
from ydnn_kernels._tables import table_dense_shape, table_input
from ydnn_kernels._types import TensorLike
from ydnn_kernels.embedding_pool_arrays import check_combiner

_ops = load_tf_ops()

ID_DTYPES = (tf.int32, tf.int64)


def embedding_pool(
    table: TensorLike,
    ids: TensorLike,
    lengths: TensorLike | None = None,
    weights: TensorLike | None = None,
    combiner: str = "mean",
    validate_ids: bool = True,
    name: str | None = None,
) -> tf.Tensor:
    """Gathers embedding rows and pools each bag in one op.

    For bag `b` with ids `i_1..i_n` and weights `w_j` (1 when not given):
    `out[b] = s_b * sum_j w_j * table[i_j]`, where `s_b` is 1 (`"sum"`),
    `1 / sum_j w_j` (`"mean"`) or `1 / sqrt(sum_j w_j^2)` (`"sqrtn"`). A bag
    with no ids (or whose weights sum to 0 under `"mean"`) pools to zeros,
    never NaN. Padding past a bag's length is never read, so any value may
    fill it.

    The table gradient is a `tf.IndexedSlices` over the sorted unique ids
    with their summed rows: no dense `[V, D]` tensor and no `[B*L, D]`
    intermediate. A `tf.Variable` (or Keras variable) is read in place,
    never copied.

    Args:
        table: `[V, D]` float32, float16 or bfloat16 tensor or variable.
            16-bit tables accumulate in float32 and round once.
        ids: int32 or int64; either padded `[B, L]` (with `lengths`) or a
            `tf.RaggedTensor` `[B, None]`.
        lengths: `[B]` integer count of valid ids per row of padded `ids`;
            `None` means every row is full. Not allowed with ragged ids.
        weights: optional per-id weights with the layout of `ids` (dense
            `[B, L]` or ragged with the same row lengths); cast to float32.
        combiner: `"sum"`, `"mean"` or `"sqrtn"`.
        validate_ids: on the GPU, check ids against `[0, V)` (one host sync).
            With `False` an out-of-range id pools as a zero row, as stock TF
            does on the GPU. The CPU always checks (it costs nothing there).
        name: optional op name.

    Returns:
        `[B, D]` tensor of the table's dtype.

    Raises:
        ValueError: for a bad combiner, dtype, rank or argument combination.
        tf.errors.InvalidArgumentError: for ids outside `[0, V)`, lengths
            outside `[0, L]`, or shapes that do not fit (raised by the op).

    Example:

    ```python
    table = tf.Variable(tf.random.normal([1000, 16]))
    ids = tf.ragged.constant([[3, 5, 5], [], [999]])
    pooled = ydnn_kernels.embedding_pool(table, ids, combiner="mean")
    ```
    """
    check_combiner(combiner)
    with tf.name_scope(name or "embedding_pool"):
        var, table, dtype = table_input(table)
        ids, row_info, weights, ragged = _layout(ids, lengths, weights)
        attrs = dict(
            combiner=combiner,
            ragged=ragged,
            has_weights=weights is not None,
            validate_ids=validate_ids,
        )
        w = weights if weights is not None else tf.zeros([0], tf.float32)
        if var is not None:
            return _ops.ydnn_embedding_pool_resource(var.handle, ids, row_info, w, T=dtype, **attrs)
        return _ops.ydnn_embedding_pool(table, ids, row_info, w, **attrs)


def _layout(ids, lengths, weights):
    """Normalises ids/lengths/weights to (ids, row_info int64, weights, ragged)."""
    if isinstance(ids, tf.SparseTensor):
        ids = tf.RaggedTensor.from_sparse(ids)
    if isinstance(ids, tf.RaggedTensor):
        if lengths is not None:
            raise ValueError("lengths is only for padded ids; ragged ids carry their own")
        if ids.ragged_rank != 1 or ids.shape.rank != 2:
            raise ValueError(f"ragged ids must have shape [B, None], got {ids.shape}")
        _check_id_dtype(ids.dtype)
        if weights is not None:
            if isinstance(weights, tf.SparseTensor):
                weights = tf.RaggedTensor.from_sparse(weights)
            if not isinstance(weights, tf.RaggedTensor):
                raise ValueError("weights must be ragged like ids (a tf.RaggedTensor)")
            _check_same_rows(weights, ids)
            weights = tf.cast(weights.values, tf.float32)
        return ids.values, tf.cast(ids.row_splits, tf.int64), weights, True
    ids = tf.convert_to_tensor(ids)
    _check_id_dtype(ids.dtype)
    if ids.shape.rank is not None and ids.shape.rank != 2:
        raise ValueError(
            f"padded ids must be 2-D [B, L] (or pass a tf.RaggedTensor), got shape {ids.shape}"
        )
    if lengths is None:
        lengths = tf.fill(tf.shape(ids, out_type=tf.int64)[:1], tf.shape(ids, out_type=tf.int64)[1])
    else:
        lengths = tf.convert_to_tensor(lengths)
        if not lengths.dtype.is_integer:
            raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype.name}")
        lengths = tf.cast(lengths, tf.int64)
    if weights is not None:
        if isinstance(weights, tf.RaggedTensor):
            raise ValueError("weights must be dense [B, L] like the padded ids")
        weights = tf.cast(weights, tf.float32)
    return ids, lengths, weights, False


def _check_same_rows(weights, ids):
    """InvalidArgumentError unless ragged `weights` has the row lengths of
    `ids`: the op reads weights.values by ids' row splits, so rows of other
    lengths with the same total would weight bag b with bag b+1's values."""
    w_splits = tf.cast(weights.row_splits, tf.int64)
    i_splits = tf.cast(ids.row_splits, tf.int64)
    n_w, n_i = w_splits.shape[0], i_splits.shape[0]
    if n_w is not None and n_i is not None and n_w != n_i:
        raise ValueError(
            f"weights must have the row lengths of ids: weights has {n_w - 1} rows, ids {n_i - 1}"
        )
    same = tf.cond(
        tf.equal(tf.size(w_splits), tf.size(i_splits)),
        lambda: tf.reduce_all(tf.equal(w_splits, i_splits)),
        lambda: tf.constant(False),
    )
    tf.debugging.Assert(
        same,
        [
            "weights must have the row lengths of ids; weights.row_splits:",
            w_splits,
            "ids.row_splits:",
            i_splits,
        ],
        summarize=20,
    )


def _check_id_dtype(dtype):
    if dtype not in ID_DTYPES:
        raise ValueError(f"ids must be int32 or int64, got {dtype.name}")


def _pool_grad(op, grad, grad_op):
    attrs = {k: op.get_attr(k) for k in ("combiner", "ragged", "has_weights", "validate_ids")}
    unique_ids, rows, grad_weights = grad_op(
        op.inputs[0],
        op.inputs[1],
        op.inputs[2],
        op.inputs[3],
        op.outputs[0],
        tf.convert_to_tensor(grad),
        **attrs,
    )
    table_grad = tf.IndexedSlices(rows, unique_ids, table_dense_shape(op.inputs[0]))
    return [table_grad, None, None, grad_weights if attrs["has_weights"] else None]


@tf.RegisterGradient("YdnnEmbeddingPool")
def _embedding_pool_grad(op, grad):
    return _pool_grad(op, grad, _ops.ydnn_embedding_pool_grad)


@tf.RegisterGradient("YdnnEmbeddingPoolResource")
def _embedding_pool_resource_grad(op, grad):
    return _pool_grad(op, grad, _ops.ydnn_embedding_pool_resource_grad)
