"""`topk_scores`: exact score-and-top-k over a whole table as a TensorFlow op."""

from typing import Any

import tensorflow as tf

from ydnn_kernels._loader import load_tf_ops
from ydnn_kernels._tables import table_input
from ydnn_kernels._types import TensorLike
from ydnn_kernels.topk_scores_arrays import check_k_min_id

_ops = load_tf_ops()

# Retrieval is not differentiated: a gradient through the op is None, as
# through tf.math.top_k's indices.
tf.no_gradient("YdnnTopkScores")
tf.no_gradient("YdnnTopkScoresResource")


def topk_scores(
    queries: TensorLike,
    table: TensorLike,
    k: int,
    exclude: Any = None,
    min_id: int = 0,
    validate: bool = True,
    name: str | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The `k` best candidates of a whole table for each query row, exact.

    For query row `b`, the ids `v` in `[min_id, V)` outside the row's
    exclusion list with the largest `queries[b] . table[v]` (float32
    accumulation), best first. Nothing `[B, V]` is formed: the table is read
    once per call, a tile at a time, and each row keeps a running top k, so
    one query costs one pass over the table's bytes and a batch the
    `2 B V D` multiply-adds (`bench/RESULTS.md`, section `topk_scores`).
    The same ids in the same order as `tf.math.top_k(queries @ table^T)`
    over the allowed ids: equal scores go to the lower id.

    A `tf.Variable` (or Keras variable) table is read in place, never copied.

    Args:
        queries: `[B, D]` float tensor (cast to float32).
        table: `[V, D]` float32, float16 or bfloat16 tensor or variable.
        k: candidates per row, `1 <= k <= V - min_id` (a Python int: the
            output shape).
        exclude: ids each row must not get: None, a `tf.RaggedTensor`
            `[B, None]` of int32/int64 ids in `[0, V)`, or a dense `[B, L]`
            tensor whose 0 entries are padding (0 is then never an exclusion;
            use `min_id` to keep id 0 out).
        min_id: ids below it are never returned.
        validate: on the GPU, check the exclusion ids and the queries (one
            host sync); the CPU always checks.
        name: optional op name.

    Returns:
        `(scores [B, k] float32, ids [B, k] int64)`. A row left with fewer
        than `k` candidates ends in ids -1 with scores -inf; NaN and -inf
        scores are never returned.

    Raises:
        ValueError: a bad dtype, rank, `k` or `min_id` known when tracing.
        tf.errors.InvalidArgumentError: a non-finite query, an exclusion id
            outside `[0, V)`, `k` beyond the table, naming the argument, the
            position and the value (raised by the op).

    Example:

    ```python
    table = tf.Variable(tf.random.normal([10000, 32]))
    history = tf.ragged.constant([[3, 5], []], dtype=tf.int64)
    scores, ids = ydnn_kernels.topk_scores(tf.random.normal([2, 32]), table, 10, history)
    ```
    """
    with tf.name_scope(name or "topk_scores"):
        var, tensor, dtype = table_input(table)
        rows = (var if var is not None else tensor).shape[0]
        k, min_id = check_k_min_id(k, min_id, rows)
        queries = tf.convert_to_tensor(queries)
        if not queries.dtype.is_floating:
            raise ValueError(
                f"queries must be float [B, D], got {queries.dtype.name} of shape {queries.shape}"
            )
        if queries.shape.rank is not None and queries.shape.rank != 2:
            raise ValueError(f"queries must be 2-D [B, D], got shape {queries.shape}")
        queries = tf.cast(queries, tf.float32)
        values, splits = _exclusion_lists(exclude)
        attrs = dict(k=k, min_id=min_id, has_exclude=exclude is not None, validate=validate)
        if var is not None:
            return _ops.ydnn_topk_scores_resource(
                queries, var.handle, values, splits, T=dtype, **attrs
            )
        return _ops.ydnn_topk_scores(queries, tensor, values, splits, **attrs)


def _exclusion_lists(exclude):
    """`(values [N], row_splits [B+1] int64)` of `exclude` (empty when None)."""
    if exclude is None:
        return tf.zeros([0], tf.int64), tf.zeros([0], tf.int64)
    if isinstance(exclude, tf.SparseTensor):
        exclude = tf.RaggedTensor.from_sparse(exclude)
    if not isinstance(exclude, tf.RaggedTensor):
        exclude = tf.convert_to_tensor(exclude)
        if exclude.shape.rank != 2:
            raise ValueError(
                f"exclude must be a tf.RaggedTensor [B, None] or a 0-padded [B, L] tensor, "
                f"got shape {exclude.shape}"
            )
        exclude = tf.RaggedTensor.from_tensor(exclude, padding=tf.zeros([], exclude.dtype))
    if exclude.ragged_rank != 1 or exclude.shape.rank != 2:
        raise ValueError(f"exclude must have shape [B, None], got {exclude.shape}")
    if exclude.dtype not in (tf.int32, tf.int64):
        if not exclude.dtype.is_integer:
            raise ValueError(f"exclude must hold integer ids, got {exclude.dtype.name}")
        exclude = tf.cast(exclude, tf.int64)
    return exclude.values, tf.cast(exclude.row_splits, tf.int64)
