"""SparseSGD: Keras SGD whose embedding tables take a fused sparse step."""

import keras

from ydnn.optimizers._sparse_update import SparseUpdateMixin, check_hyper, check_keras_options


@keras.saving.register_keras_serializable(package="ydnn")
class SparseSGD(SparseUpdateMixin, keras.optimizers.SGD):
    """`keras.optimizers.SGD` with a fused, in-place update for sparse gradients.

    Dense weights get exactly the stock Keras update. A variable whose
    gradient is a `tf.IndexedSlices` (an embedding table read with
    `ydnn_kernels.embedding_pool`, `tf.gather` or `keras.layers.Embedding`)
    is updated only on the rows the gradient names, duplicates summed:
    `w -= lr * g`, which equals the stock dense update (untouched rows get a
    zero gradient). See `ydnn.optimizers._sparse_update` for how weight decay,
    clipping, loss scaling and schedules behave.

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
        momentum: must be 0: momentum on a sparse table would either decay every
            row each step (O(V), the cost this class removes) or change the
            maths (lazy momentum); use `LazyAdam` for a stateful sparse optimizer.
        nesterov: must be False (no momentum).
        **kwargs: the other `keras.optimizers.SGD` arguments.

    Raises:
        ValueError: for momentum, nesterov, use_ema or gradient accumulation;
            a learning rate, weight decay or clip Keras would take silently
            (negative, NaN, infinite, a bool).

    Example:

    ```python
    model.compile(optimizer=ydnn.optimizers.SparseSGD(0.1), loss="mse")
    ```
    """

    _sparse_kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        learning_rate, hyper = check_hyper(
            "SparseSGD", learning_rate, kwargs, momentum=(momentum, "nonneg")
        )
        momentum = hyper["momentum"]
        super().__init__(
            learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, **kwargs
        )
        if momentum != 0 or nesterov:
            raise ValueError(
                f"SparseSGD supports momentum=0 and nesterov=False only, got momentum={momentum}, "
                f"nesterov={nesterov}: momentum would decay every table row each step. Use "
                "ydnn.optimizers.LazyAdam, or the stock keras.optimizers.SGD."
            )
        check_keras_options(self)

    def _sparse_slots(self, variable):
        return self._slot_ok(variable, [])
