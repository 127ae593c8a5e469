"""Next-item targets cut from a sequence feature (Merlin's SequencePredictLast/Random)."""

import abc

import tensorflow as tf

from ydnn.layers._args import int_arg


class SequenceTarget(abc.ABC):
    """Base of the sequence-to-target transforms; see PredictLast, PredictRandom.

    Works on a batch dict whose `column` holds right-padded `[B, L]` ids
    (`padding_id` after the real ids) or a `tf.RaggedTensor`; other
    features pass through unchanged. Returns `(features, target [B])`, the
    pair `YoutubeDNNRetrievalModelV2.fit` takes.

    Raises:
        ValueError: at construction, a `column` that is not a non-empty
            string or a `padding_id` / `seed` that is not an int (NumPy ints
            are); when called, a missing column, a given target, a sequence
            that is not integer ids of shape `[B, L]`.
        tf.errors.InvalidArgumentError: a row with no id to take a target
            from.
    """

    def __init__(self, column="item_id", padding_id=0, seed=None):
        name = type(self).__name__
        if not isinstance(column, str) or not column:
            raise ValueError(f"{name}: column must be a feature name, got {column!r}")
        self.column = column
        self.padding_id = int_arg("padding_id", padding_id, prefix=name)
        self.seed = None if seed is None else int_arg("seed", seed, prefix=name)

    @abc.abstractmethod
    def positions(self, lengths):
        """Target position of each row, given its number of real ids."""

    def __call__(self, features, target=None):
        if target is not None:
            raise ValueError(f"{type(self).__name__} makes the target from {self.column!r}; the "
                             "data already has one")
        if self.column not in features:
            raise ValueError(f"{type(self).__name__}: missing sequence feature {self.column!r}; "
                             f"got {sorted(features)}")
        seq = features[self.column]
        ragged = isinstance(seq, tf.RaggedTensor)
        dense = seq.to_tensor(self.padding_id) if ragged else tf.convert_to_tensor(seq)
        if not dense.dtype.is_integer or dense.shape.rank not in (None, 2):
            raise ValueError(f"{type(self).__name__}: sequence feature {self.column!r} must be "
                             f"integer ids [B, L] (or ragged [B, None]), got {dense.dtype.name} "
                             f"of shape {dense.shape}")
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(dense, self.padding_id), tf.int32), axis=1)
        tf.debugging.assert_greater(lengths, 0, message=f"{type(self).__name__}: a row of "
                                    f"{self.column!r} has no ids to take a target from")
        pos = self.positions(lengths)
        target = tf.gather(dense, pos, batch_dims=1)
        keep = tf.range(tf.shape(dense)[1])[None, :] < pos[:, None]
        history = tf.where(keep, dense, tf.cast(self.padding_id, dense.dtype))
        out = dict(features)
        out[self.column] = tf.RaggedTensor.from_tensor(history, lengths=pos) if ragged else history
        return out, target
