"""`PredictLast`: the last item of each sequence is the target."""

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

    def __init__(self, column="item_id", padding_id=0):
        super().__init__(column, padding_id)

    def positions(self, lengths):
        return lengths - 1
