"""The base the model's mixins declare to the type checker.

The mixins (training, retrieval, data inputs, sampler stream) are mixed into
`YoutubeDNNRetrievalModelV2` before `keras.Model` and use its attributes; to
mypy they are `keras.Model`s that carry the model's own attributes, at run
time plain `object`s (so the method resolution order stays the model's).
"""

from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:

    class MixinBase(keras.Model):
        """What the mixins may use of the retrieval model."""

        schema: Any
        candidate: Any
        item_table: Any
        item_dim: int
        post: Any
        ops: str
        table_dtype: str
        min_sampled_id: int
        max_id: int
        exclude_seen: bool
else:
    MixinBase = object
