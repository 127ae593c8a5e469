"""`embedding_pool` in stock TF ops: padded gather + reduce, and
`tf.nn.safe_embedding_lookup_sparse` for ragged ids (the A/B twins)."""

import tensorflow as tf

from ydnn_kernels._tables import table_variable
from ydnn_kernels.embedding_pool_arrays import check_combiner


def embedding_pool_gather(table, ids, lengths=None, weights=None, combiner="mean"):
    """Masked `tf.gather` + reduce over padded `[B, L]` ids.

    Padding positions are replaced by id 0 before the gather and weighted by
    0, so they never contribute; an empty row pools to zeros (`div_no_nan`).
    The table gradient is the `tf.gather` one: `IndexedSlices` with a row for
    every position, `[B*L, D]`.

    Args:
        table: `[V, D]` tensor or variable.
        ids: `[B, L]` int32/int64.
        lengths: `[B]` valid ids per row, or None for full rows.
        weights: optional `[B, L]` float weights.
        combiner: `"sum"`, `"mean"` or `"sqrtn"`.

    Returns:
        `[B, D]` in the table's dtype.
    """
    check_combiner(combiner)
    ids = tf.convert_to_tensor(ids)
    dtype = table.dtype
    if lengths is None:
        mask = tf.ones(tf.shape(ids), tf.float32)
    else:
        mask = tf.sequence_mask(lengths, tf.shape(ids)[1], dtype=tf.float32)
    w = mask if weights is None else mask * tf.cast(weights, tf.float32)
    safe_ids = tf.where(mask > 0, ids, tf.zeros_like(ids))
    rows = tf.cast(tf.gather(table, safe_ids), tf.float32)  # [B, L, D]
    pooled = tf.einsum("bl,bld->bd", w, rows)
    if combiner == "mean":
        pooled = tf.math.divide_no_nan(pooled, tf.reduce_sum(w, axis=1, keepdims=True))
    elif combiner == "sqrtn":
        norm = tf.sqrt(tf.reduce_sum(w * w, axis=1, keepdims=True))
        pooled = tf.math.divide_no_nan(pooled, norm)
    return tf.cast(pooled, dtype)


def embedding_pool_lookup_sparse(table, ids, weights=None, combiner="mean"):
    """`tf.nn.safe_embedding_lookup_sparse` over ragged `[B, None]` ids.

    TF's own sparse path (unique + gather + sparse segment reduce, empty rows
    zeroed). Weights, when given, are ragged like `ids`.

    Returns:
        `[B, D]` in the table's dtype.
    """
    check_combiner(combiner)
    sp_ids = ids.to_sparse()
    sp_weights = weights.to_sparse() if weights is not None else None
    var = table_variable(table)  # TF's lookup wants a tf.Variable, not a Keras one
    return tf.nn.safe_embedding_lookup_sparse(
        table if var is None else var, sp_ids, sp_weights, combiner=combiner
    )
