"""SparseAdagrad: Keras Adagrad whose embedding tables take a fused sparse step."""

import keras

from ydnn.optimizers._sparse_update import SparseUpdateMixin, check_hyper, check_keras_options


@keras.saving.register_keras_serializable(package="ydnn")
class SparseAdagrad(SparseUpdateMixin, keras.optimizers.Adagrad):
    """`keras.optimizers.Adagrad` with a fused, in-place update for sparse gradients.

    Dense weights get exactly the stock Keras update. For a `tf.IndexedSlices`
    gradient only the named rows (duplicates summed) are updated, with Keras's
    formula, epsilon inside the square root:
    `a += g^2; w -= lr * g / sqrt(a + epsilon)`. This equals the stock dense
    update (a zero gradient leaves a row and its accumulator unchanged). The
    accumulator is the stock Keras slot, so checkpoints are interchangeable
    with `keras.optimizers.Adagrad`. See `ydnn.optimizers._sparse_update` for
    weight decay, clipping, loss scaling and schedules.

    Args:
        learning_rate, initial_accumulator_value, epsilon: as Keras Adagrad.
        **kwargs: the other Keras optimizer arguments.

    Raises:
        ValueError: for use_ema or gradient accumulation; a learning rate,
            epsilon, accumulator, weight decay or clip Keras would take
            silently (negative, NaN, infinite, a bool).

    Example:

    ```python
    model.compile(optimizer=ydnn.optimizers.SparseAdagrad(0.05), loss="mse")
    ```
    """

    _sparse_kind = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        learning_rate, hyper = check_hyper(
            "SparseAdagrad",
            learning_rate,
            kwargs,
            initial_accumulator_value=(initial_accumulator_value, "nonneg"),
            epsilon=(epsilon, "nonneg"),
        )
        super().__init__(learning_rate=learning_rate, **hyper, **kwargs)
        check_keras_options(self)

    def _sparse_hyper(self):
        return {"epsilon": self.epsilon}

    def _sparse_slots(self, variable):
        return self._slot_ok(variable, [self._accumulators[self._get_variable_index(variable)]])
