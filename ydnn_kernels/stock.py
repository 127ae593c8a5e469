"""The same maths as ydnn's fused ops, in stock TensorFlow ops.

The A/B path: tests compare the fused ops against these, benchmarks time
them side by side, and the model's `ops="stock"` backend runs on them.
"""

import tensorflow as tf

from ydnn_kernels._tables import table_variable
from ydnn_kernels.embedding_pool_op import COMBINERS


def _check_combiner(combiner):
    if combiner not in COMBINERS:
        raise ValueError(f"combiner must be one of {COMBINERS}, got {combiner!r}")


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
    _check_combiner(combiner)
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
    _check_combiner(combiner)
    sp_ids = ids.to_sparse()
    sp_weights = weights.to_sparse() if weights is not None else None
    var = table_variable(table)  # TF's lookup wants a tf.Variable, not a Keras one
    return tf.nn.safe_embedding_lookup_sparse(table if var is None else var, sp_ids, sp_weights, combiner=combiner)


def log_uniform_sample(num_sampled, max_id, min_id=0, unique=True, true_ids=None, seed=None):
    """`tf.random.log_uniform_candidate_sampler` over `[min_id, max_id]`, both ends.

    TF samples `[0, range_max)`; with `range_max = max_id - min_id + 1` and
    ids shifted by `min_id` this is exactly `ydnn_kernels.log_uniform_sample`'s
    law (Merlin passes `max_id - min_id` and so never draws `max_id`).

    Returns:
        `(sampled_ids [S] int64, true_expected_count [B] (empty without
        true_ids), sampled_expected_count [S])`.
    """
    given = true_ids is not None
    true_ids = tf.reshape(tf.cast(true_ids, tf.int64), [-1, 1]) if given else tf.zeros(
        [1, 1], tf.int64)
    sampled, true_ec, sampled_ec = tf.random.log_uniform_candidate_sampler(
        true_classes=true_ids - min_id, num_true=1, num_sampled=num_sampled, unique=unique,
        range_max=max_id - min_id + 1, seed=seed)
    true_ec = tf.reshape(true_ec, [-1]) if given else tf.zeros([0], tf.float32)
    return sampled + min_id, true_ec, sampled_ec


def sampled_softmax_loss(query, table, positive_ids, sampled_ids, true_expected_count,
                         sampled_expected_count, temperature=1.0, remove_accidental_hits=True,
                         in_batch_negatives=False, normalize_candidates=False):
    """`ydnn_kernels.sampled_softmax_loss` in stock ops: gather, matmul, mask, CE.

    Same order as the fused op (logits, minus log expected count, masked
    hits at -inf, divided by temperature, cross-entropy), built from
    `tf.gather` (a `[J, D]` copy of the candidate rows) and `[B, 1+J]`
    tensors. `normalize_candidates` L2-normalises every candidate row first
    (cosine scores with an L2-normalised query), which the fused op does not
    do.

    Returns:
        The per-example loss `[B]` float32.
    """
    query = tf.convert_to_tensor(query, tf.float32)
    positive_ids = tf.cast(tf.reshape(positive_ids, [-1]), tf.int64)
    sampled_ids = tf.cast(tf.reshape(sampled_ids, [-1]), tf.int64)
    true_ec = tf.reshape(tf.cast(true_expected_count, tf.float32), [-1])
    sampled_ec = tf.reshape(tf.cast(sampled_expected_count, tf.float32), [-1])
    cols = tf.concat([positive_ids, sampled_ids], 0) if in_batch_negatives else sampled_ids
    col_ec = tf.concat([true_ec, sampled_ec], 0) if in_batch_negatives else sampled_ec

    def rows(ids):
        r = tf.cast(tf.gather(table, ids), tf.float32)
        return tf.math.l2_normalize(r, axis=1) if normalize_candidates else r

    z_pos = tf.reduce_sum(query * rows(positive_ids), axis=1) - tf.math.log(true_ec)
    z = tf.matmul(query, rows(cols), transpose_b=True) - tf.math.log(col_ec)[None, :]
    hit = tf.equal(positive_ids[:, None], cols[None, :])
    if in_batch_negatives:
        batch = tf.shape(positive_ids)[0]
        in_batch_col = tf.range(tf.shape(cols)[0]) < batch
        hit &= in_batch_col[None, :] | remove_accidental_hits
    elif not remove_accidental_hits:
        hit = tf.zeros_like(hit)
    z = tf.where(hit, tf.constant(-float("inf"), tf.float32), z)
    logits = tf.concat([z_pos[:, None], z], axis=1) / temperature
    return tf.reduce_logsumexp(logits, axis=1) - logits[:, 0]
