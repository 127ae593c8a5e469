"""`PredictRandom`: a random later item of each sequence is the target."""

import tensorflow as tf

from ydnn.schema.tags import Tags
from ydnn.transforms.sequence_target import SequenceTarget


class PredictRandom(SequenceTarget):
    """Target = the id at a random position t >= 1; the history is ids before t.

    A row with a single id keeps it as the target with an empty history.

    Args:
        column: the sequence feature (right-padded `[B, L]` or ragged).
        padding_id: the id filling padded rows.
        seed: op seed of the position draws.
        schema, target: as in `PredictLast` (every sequence feature of the
            schema is cut at the same position).
    """

    def __init__(self, column="item_id", padding_id=0, seed=None, *, schema=None, target=None):
        super().__init__(column, padding_id, seed, schema=schema, target=target)

    def positions(self, lengths):
        u = tf.random.uniform(tf.shape(lengths), seed=self.seed)
        span = tf.maximum(lengths - 1, 1)
        t = 1 + tf.cast(tf.floor(u * tf.cast(span, tf.float32)), tf.int32)
        return tf.minimum(t, lengths - 1)


class SequencePredictRandom(PredictRandom):
    """Merlin's `SequencePredictRandom(schema, target)`: `PredictRandom` that
    cuts every sequence feature of `schema` at the drawn position.

    Args:
        schema: the data's `Schema`.
        target: the sequence column (name or tag; default the item id).
        padding_id: the id filling padded rows.
        seed: op seed of the position draws.
    """

    def __init__(self, schema, target=None, padding_id=0, seed=None):
        super().__init__(
            padding_id=padding_id,
            seed=seed,
            schema=schema,
            target=Tags.ITEM_ID if target is None else target,
        )
