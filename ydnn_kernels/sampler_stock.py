"""`log_uniform_sample` in stock TF ops: TF's own log-uniform candidate
sampler, shifted to `[min_id, max_id]` (the A/B twin)."""

import tensorflow as tf


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
    true_ids = (
        tf.reshape(tf.cast(true_ids, tf.int64), [-1, 1]) if given else tf.zeros([1, 1], tf.int64)
    )
    sampled, true_ec, sampled_ec = tf.random.log_uniform_candidate_sampler(
        true_classes=true_ids - min_id,
        num_true=1,
        num_sampled=num_sampled,
        unique=unique,
        range_max=max_id - min_id + 1,
        seed=seed,
    )
    true_ec = tf.reshape(true_ec, [-1]) if given else tf.zeros([0], tf.float32)
    return sampled + min_id, true_ec, sampled_ec
