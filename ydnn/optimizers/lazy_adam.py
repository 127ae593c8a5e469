"""LazyAdam: Keras Adam whose embedding tables take a lazy, fused sparse step."""

import keras

from ydnn.optimizers._sparse_update import SparseUpdateMixin, check_hyper, check_keras_options


@keras.saving.register_keras_serializable(package="ydnn")
class LazyAdam(SparseUpdateMixin, keras.optimizers.Adam):
    """`keras.optimizers.Adam`, lazy on sparse gradients (tensorflow_addons' LazyAdam).

    Dense weights get exactly the stock Keras Adam update. For a
    `tf.IndexedSlices` gradient only the named rows (duplicates summed) update
    their moments and weights, with Keras Adam's formulas:
    `m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
    w -= alpha * m / (sqrt(v) + epsilon)`, `alpha = lr * sqrt(1 - beta_2^t) /
    (1 - beta_1^t)` where `t` is the optimizer's global step
    (`iterations + 1`), not a per-row count. Rows absent from a step keep
    their moments (they do not decay) and their weights: this is the
    documented "lazy" semantics, and it differs from dense Adam unless every
    row is touched every step. The moments are the stock Keras slots.
    See `ydnn.optimizers._sparse_update` for weight decay (`AdamW`'s decoupled
    decay maps here), clipping, loss scaling and schedules.

    Args:
        learning_rate, beta_1, beta_2, epsilon: as Keras Adam.
        amsgrad: must be False.
        **kwargs: the other Keras optimizer arguments.

    Raises:
        ValueError: for amsgrad, use_ema or gradient accumulation; a
            learning rate, beta, epsilon, weight decay or clip Keras would
            take silently (negative, NaN, infinite, a beta >= 1, a bool).

    Example:

    ```python
    model.compile(optimizer=ydnn.optimizers.LazyAdam(1e-3), loss="mse")
    ```
    """

    _sparse_kind = "lazy_adam"

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs
    ):
        learning_rate, hyper = check_hyper(
            "LazyAdam",
            learning_rate,
            kwargs,
            beta_1=(beta_1, "beta"),
            beta_2=(beta_2, "beta"),
            epsilon=(epsilon, "nonneg"),
        )
        super().__init__(learning_rate=learning_rate, amsgrad=amsgrad, **hyper, **kwargs)
        if amsgrad:
            raise ValueError(
                "LazyAdam does not support amsgrad=True (a lazy maximum of "
                "velocities has no documented semantics); use amsgrad=False."
            )
        check_keras_options(self)

    def _sparse_hyper(self):
        return {"epsilon": self.epsilon, "beta_1": self.beta_1, "beta_2": self.beta_2}

    def _sparse_slots(self, variable):
        i = self._get_variable_index(variable)
        return self._slot_ok(variable, [self._momentums[i], self._velocities[i]])
