"""`PredictLast`: the last item of each sequence is the target."""

from ydnn.schema.tags import Tags
from ydnn.transforms.sequence_target import SequenceTarget


class PredictLast(SequenceTarget):
    """Target = last real id of the sequence; the history is what precedes it.

    Args:
        column: the sequence feature (right-padded `[B, L]` or ragged).
        padding_id: the id filling padded rows.

    Example:
    ```python
    ds = tf.data.Dataset.from_tensor_slices({"item_id": sessions}).batch(256)
    model.fit(ds.map(ydnn.transforms.PredictLast("item_id")), epochs=3)
    ```
    """

    def __init__(self, column="item_id", padding_id=0, *, schema=None, target=None):
        super().__init__(column, padding_id, schema=schema, target=target)

    def positions(self, lengths):
        return lengths - 1


class SequencePredictLast(PredictLast):
    """Merlin's `SequencePredictLast(schema, target)`: `PredictLast` that cuts
    every sequence feature of `schema` at the target's position.

    Args:
        schema: the data's `Schema` (its `sequence`-tagged columns are cut).
        target: the sequence column the targets come from: a name or a tag
            (default: the schema's item-id column).
        padding_id: the id filling padded rows.

    Example:
    ```python
    model.fit(loader, epochs=3, pre=ydnn.SequencePredictLast(schema=schema, target="item_id_seq"))
    ```
    """

    def __init__(self, schema, target=None, padding_id=0):
        super().__init__(
            padding_id=padding_id, schema=schema, target=Tags.ITEM_ID if target is None else target
        )
