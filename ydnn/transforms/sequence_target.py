"""Next-item targets cut from a sequence feature (Merlin's SequencePredictLast/Random)."""

import abc

import tensorflow as tf

from ydnn.layers._args import guarded, int_arg
from ydnn.schema.tags import Tags


class SequenceTarget(abc.ABC):
    """Base of the sequence-to-target transforms; see PredictLast, PredictRandom.

    Works on a batch dict whose `column` holds right-padded `[B, L]` ids
    (`padding_id` after the real ids; padding before a real id is an error)
    or a `tf.RaggedTensor` (every value of a row is an id, as in Merlin). Returns
    `(features, target [B])`, the pair `YoutubeDNNRetrievalModelV2.fit`
    takes. With a `schema`, every other sequence feature of the schema
    (tagged `sequence`: the items' categories, ages, ...) is cut at the same
    position as the target column, as Merlin's SequencePredictLast does:
    left whole, it would hand the model the target item's own features.
    Other features pass through unchanged. Called as `fn(features,
    targets)` on a batch that has targets already, it replaces them (a dict
    of targets gets its entry for the column replaced), as Merlin's do.

    Raises:
        ValueError: at construction, a `column` / `target` that names no
            column (of the schema, when given), or a `padding_id` / `seed`
            that is not an int (NumPy ints are); when called, a missing
            column, a given target, a sequence that is not integer ids of
            shape `[B, L]`, another sequence feature of another rank.
        tf.errors.InvalidArgumentError: a row with no id to take a target
            from.
    """

    def __init__(self, column="item_id", padding_id=0, seed=None, *, schema=None, target=None):
        name = type(self).__name__
        if target is not None:
            column = _target_column(name, schema, target)
        elif schema is not None and column == "item_id" and "item_id" not in schema.column_names:
            column = _target_column(name, schema, Tags.ITEM_ID)
        if not isinstance(column, str) or not column:
            raise ValueError(f"{name}: column must be a feature name, got {column!r}")
        self.column = column
        self.padding_id = int_arg("padding_id", padding_id, prefix=name)
        self.seed = None if seed is None else int_arg("seed", seed, prefix=name)
        self.schema = schema
        self.cut_columns = (
            ()
            if schema is None
            else tuple(c.name for c in schema.select_by_tag(Tags.SEQUENCE) if c.name != column)
        )

    @abc.abstractmethod
    def positions(self, lengths):
        """Target position of each row, given its number of real ids."""

    def __call__(self, features, target=None):
        # A target the batch already has is replaced, as Merlin's transforms
        # do (`Loader(...).map(predict_last)` then `fit(pre=predict_last)`
        # cuts twice); a dict of targets keeps its other entries.
        if self.column not in features:
            raise ValueError(
                f"{type(self).__name__}: missing sequence feature {self.column!r}; "
                f"got {sorted(features)}"
            )
        out, new_target = self._cut_all(features)
        if isinstance(target, dict):
            return out, {**target, self.column: new_target}
        return out, new_target

    def _cut_all(self, features):
        seq = features[self.column]
        ragged = isinstance(seq, tf.RaggedTensor)
        if ragged and seq.ragged_rank != 1:
            raise ValueError(
                f"{type(self).__name__}: sequence feature {self.column!r} must be "
                f"ragged [B, None], got ragged rank {seq.ragged_rank}"
            )
        dense = seq.flat_values if ragged else tf.convert_to_tensor(seq)
        if not dense.dtype.is_integer or (not ragged and dense.shape.rank not in (None, 2)):
            raise ValueError(
                f"{type(self).__name__}: sequence feature {self.column!r} must be "
                f"integer ids [B, L] (or ragged [B, None]), got {dense.dtype.name} "
                f"of shape {seq.shape}"
            )
        if ragged:
            # Every value of a ragged row is an id (as in Merlin): the target
            # is the row's own last (or drawn) element, whatever its value.
            lengths = tf.cast(seq.row_lengths(), tf.int32)
        else:
            real = tf.not_equal(dense, tf.cast(self.padding_id, dense.dtype))
            lengths = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
            # Right padding only: a padded left or middle would move the
            # target onto a padding id without a word.
            trailing = tf.logical_not(tf.reduce_any(real[:, 1:] & tf.logical_not(real[:, :-1])))
            lengths = guarded(
                trailing,
                [
                    f"{type(self).__name__}: padded {self.column!r} has a real id after padding id "
                    f"{self.padding_id}; put the real ids first or pass a tf.RaggedTensor"
                ],
                lengths,
            )
        lengths = guarded(
            tf.reduce_all(lengths > 0),
            [f"{type(self).__name__}: a row of {self.column!r} has no ids to take a target from"],
            lengths,
        )
        pos = self.positions(lengths)
        out = dict(features)
        if ragged:
            # On the flat values, never densified: the loader's ragged batches
            # are cut in O(ids), whatever the longest row.
            target = tf.gather(seq.values, tf.cast(seq.row_starts(), tf.int32) + pos)
            out[self.column] = _first(seq, pos)
        else:
            target = tf.gather(dense, pos, batch_dims=1)
            keep = tf.range(tf.shape(dense)[1])[None, :] < pos[:, None]
            out[self.column] = tf.where(keep, dense, tf.cast(self.padding_id, dense.dtype))
        for name in self.cut_columns:
            if name in features:
                out[name] = _cut(type(self).__name__, name, features[name], pos)
        return out, target


def _target_column(name, schema, target):
    """The column `target` names: a column name, or a tag the schema resolves."""
    if schema is not None and not (isinstance(target, str) and target in schema.column_names):
        try:
            return schema.column_by_tag(target).name
        except (ValueError, KeyError) as e:
            raise ValueError(
                f"{name}: target {str(target)!r} is neither a column of the schema "
                f"nor a tag of exactly one of its columns: {e}"
            ) from None
    if not isinstance(target, str):
        raise ValueError(
            f"{name}: target must be a column name (or a tag, with a schema), got {target!r}"
        )
    return target


def _cut(name, column, values, pos):
    """The first `pos[b]` entries of each row of a sequence feature, the rest
    padding (0) or, for a ragged feature, dropped."""
    if isinstance(values, tf.RaggedTensor):
        if values.ragged_rank != 1:
            raise ValueError(
                f"{name}: sequence feature {column!r} must be ragged [B, None], got "
                f"ragged rank {values.ragged_rank}"
            )
        return _first(values, pos)
    values = tf.convert_to_tensor(values)
    if values.shape.rank is not None and values.shape.rank != 2:
        raise ValueError(
            f"{name}: sequence feature {column!r} must be [B, L] (or ragged), got "
            f"shape {values.shape}"
        )
    keep = tf.range(tf.shape(values)[1])[None, :] < pos[:, None]
    return tf.where(keep, values, tf.zeros_like(values))


def _first(values, pos):
    """The first `min(pos[b], length)` entries of each row of a ragged `[B, None]`.

    One RaggedRange of the kept positions and one gather: the loader's
    batches go through this every step, and the row-id formulation
    (value_rowids, boolean_mask, from_value_rowids) cost several times more.
    """
    starts = values.row_starts()
    keep = tf.minimum(values.row_lengths(), tf.cast(pos, starts.dtype))
    kept = tf.ragged.range(starts, starts + keep, row_splits_dtype=values.row_splits.dtype)
    return tf.RaggedTensor.from_row_splits(
        tf.gather(values.values, kept.values), kept.row_splits, validate=False
    )
