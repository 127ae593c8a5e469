"""`sampled_softmax_loss` in stock TF ops: gather, matmul, logQ, hit mask and
cross-entropy (the A/B twin)."""

import tensorflow as tf


def sampled_softmax_loss(
    query,
    table,
    positive_ids,
    sampled_ids,
    true_expected_count,
    sampled_expected_count,
    temperature=1.0,
    remove_accidental_hits=True,
    in_batch_negatives=False,
    normalize_candidates=False,
    compute_dtype="float32",
):
    """`ydnn_kernels.sampled_softmax_loss` in stock ops: gather, matmul, mask, CE.

    Same order as the fused op (logits, minus log expected count, masked
    hits at -inf, divided by temperature, cross-entropy), built from
    `tf.gather` (a `[J, D]` copy of the candidate rows) and `[B, 1+J]`
    tensors. `normalize_candidates` L2-normalises every candidate row first
    (cosine scores with an L2-normalised query), which the fused op does not
    do. `compute_dtype="bfloat16"` is stock TF under Keras's
    `mixed_bfloat16` policy: query and candidate rows cast to bfloat16 and
    the logits computed by bfloat16 matmuls (oneDNN: float32 sums, a
    bfloat16 result), cast back to float32 for the rest.

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

    if compute_dtype == "bfloat16":
        q16 = tf.cast(query, tf.bfloat16)
        pos_rows, col_rows = (tf.cast(rows(i), tf.bfloat16) for i in (positive_ids, cols))
        dot_pos = tf.cast(tf.einsum("bd,bd->b", q16, pos_rows), tf.float32)
        dot = tf.cast(tf.matmul(q16, col_rows, transpose_b=True), tf.float32)
    else:
        dot_pos = tf.reduce_sum(query * rows(positive_ids), axis=1)
        dot = tf.matmul(query, rows(cols), transpose_b=True)
    z_pos = dot_pos - tf.math.log(true_ec)
    z = dot - tf.math.log(col_ec)[None, :]
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
