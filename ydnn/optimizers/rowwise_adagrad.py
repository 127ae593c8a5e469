"""RowWiseAdagrad: FBGEMM's row-wise Adagrad for embedding tables, stock
Keras Adagrad for every other weight."""

import re

import keras

from ydnn.optimizers._sparse_update import SparseUpdateMixin, check_hyper, check_keras_options


@keras.saving.register_keras_serializable(package="ydnn")
class RowWiseAdagrad(SparseUpdateMixin, keras.optimizers.Adagrad):
    """Adagrad with one accumulator per embedding-table row (FBGEMM's
    EXACT_ROWWISE_ADAGRAD), which cuts the table's optimizer state from
    `V x D` to `V` floats.

    For a table row touched by the gradient (duplicates summed into `g`):
    `a_row += mean_j(g_j^2); w -= lr * g / (sqrt(a_row) + epsilon)`. Untouched
    rows and their accumulators are not read or written.

    Which variables are tables is decided when the optimizer is built (slot
    shapes must be known before any gradient is seen, and be the same when a
    saved model is loaded): 2-D variables whose path matches `table_pattern`
    (by default Keras `Embedding` layers and ydnn's tables, whose weights are
    named `embeddings`). A table always takes the row-wise update; if its
    gradient happens to be dense, every row is updated. Every other variable
    gets the stock Keras Adagrad update (elementwise accumulator), fused and
    sparse when its gradient is an `IndexedSlices`.

    Args:
        learning_rate, initial_accumulator_value, epsilon: as Keras Adagrad
            (epsilon is added outside the square root for tables, as FBGEMM).
        table_pattern: regular expression searched in each variable's path.
        **kwargs: the other Keras optimizer arguments.

    Raises:
        ValueError: for use_ema, gradient accumulation or a bad table_pattern;
            a learning rate, epsilon, accumulator, weight decay or clip Keras
            would take silently (negative, NaN, infinite, a bool).

    Example:

    ```python
    opt = ydnn.optimizers.RowWiseAdagrad(0.05, table_pattern="item_embeddings")
    ```
    """

    _sparse_kind = "rowwise_adagrad"

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        table_pattern="embeddings",
        **kwargs,
    ):
        learning_rate, hyper = check_hyper(
            "RowWiseAdagrad",
            learning_rate,
            kwargs,
            initial_accumulator_value=(initial_accumulator_value, "nonneg"),
            epsilon=(epsilon, "nonneg"),
        )
        super().__init__(learning_rate=learning_rate, **hyper, **kwargs)
        if not isinstance(table_pattern, str):
            raise ValueError(
                f"RowWiseAdagrad: table_pattern must be a regular expression "
                f"string, got {table_pattern!r}"
            )
        try:
            re.compile(table_pattern)  # a bad pattern fails here, not at build
        except re.error as e:
            raise ValueError(
                f"table_pattern {table_pattern!r} is not a valid regular expression: {e}"
            ) from e
        self.table_pattern = table_pattern
        check_keras_options(self)

    def _is_table(self, variable):
        name = getattr(variable, "path", None) or variable.name
        return len(variable.shape) == 2 and re.search(self.table_pattern, name) is not None

    def build(self, var_list):
        if self.built:
            return
        # The base Optimizer's build (iterations, indices), not Adagrad's slots.
        super(keras.optimizers.Adagrad, self).build(var_list)
        init = keras.initializers.Constant(self.initial_accumulator_value)
        self._accumulators, self._row_wise = [], []
        for v in var_list:
            table = self._is_table(v)
            if table and v.dtype not in ("float32", "float16", "bfloat16"):
                raise ValueError(
                    f"RowWiseAdagrad: table {v.path} has dtype {v.dtype}; the "
                    "row-wise kernels take float32, float16 or bfloat16 tables"
                )
            self._row_wise.append(table)
            if self._overwrite_variable_with_gradient(v):
                self._accumulators.append(None)
            elif table:
                with self._distribution_strategy.extended.colocate_vars_with(v.value):
                    self._accumulators.append(
                        self.add_variable(
                            shape=(v.shape[0],),
                            initializer=init,
                            dtype="float32",
                            name=f"{v.path.replace('/', '_')}_rowwise_accumulator",
                        )
                    )
            else:
                self._accumulators.append(
                    self.add_variable_from_reference(v, "accumulator", initializer=init)
                )

    def _sparse_hyper(self):
        return {"epsilon": self.epsilon}

    def _sparse_slots(self, variable):
        i = self._get_variable_index(variable)
        return self._slot_ok(variable, [self._accumulators[i]])

    def _routes_sparse(self, variable, gradient):
        # A table is always updated row-wise by the kernel, even from a dense
        # gradient (so its weight decay is the kernel's too).
        return self._is_table(variable) or super()._routes_sparse(variable, gradient)

    def _sparse_kind_for(self, variable):
        # Non-table variables: elementwise Adagrad (fused for sparse gradients).
        return (
            "rowwise_adagrad" if self._row_wise[self._get_variable_index(variable)] else "adagrad"
        )

    def get_config(self):
        config = super().get_config()
        config["table_pattern"] = self.table_pattern
        return config
