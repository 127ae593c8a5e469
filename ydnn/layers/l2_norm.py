"""`L2Norm`: unit-length query embeddings (cosine scores)."""

import keras

from ydnn.layers._args import float_arg


@keras.saving.register_keras_serializable(package="ydnn")
class L2Norm(keras.layers.Layer):
    """Scales each row to unit L2 norm (a zero row stays zero).

    As the model's `post`, it makes scores cosine similarities: the model
    normalises the candidate rows too, in training and in retrieval alike
    (Merlin applies `post` to the logits instead, so its "cosine" is not).

    Args:
        epsilon: floor of the squared norm, so a zero row does not divide
            by zero; positive and finite.
        **kwargs: `keras.layers.Layer` arguments.

    Example:
    ```python
    model = YoutubeDNNRetrievalModelV2(schema, post=L2Norm(), logits_temperature=0.05)
    ```
    """

    def __init__(self, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float_arg("epsilon", epsilon, positive=True, prefix="L2Norm")

    def call(self, inputs):
        sq = keras.ops.sum(keras.ops.square(inputs), axis=-1, keepdims=True)
        return inputs * keras.ops.rsqrt(keras.ops.maximum(sq, self.epsilon))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
