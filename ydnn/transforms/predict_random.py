"""`PredictRandom`: a random later item of each sequence is the target."""

import tensorflow as tf

from ydnn.transforms.sequence_target import SequenceTarget


class PredictRandom(SequenceTarget):
    """Target = the id at a random position t >= 1; the history is ids before t.

    A row with a single id keeps it as the target with an empty history.

    Args:
        column: the sequence feature (right-padded `[B, L]` or ragged).
        padding_id: the id filling padded rows.
        seed: op seed of the position draws.
    """

    def positions(self, lengths):
        u = tf.random.uniform(tf.shape(lengths), seed=self.seed)
        span = tf.maximum(lengths - 1, 1)
        t = 1 + tf.cast(tf.floor(u * tf.cast(span, tf.float32)), tf.int32)
        return tf.minimum(t, lengths - 1)
