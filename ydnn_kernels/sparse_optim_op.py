"""`sparse_apply`: one fused sparse optimizer step on a variable, in place.

The TensorFlow op behind `ydnn.optimizers`: SGD, Adagrad, row-wise Adagrad
and lazy Adam applied only to the rows named by a sparse gradient, with
duplicate ids summed first. The maths is in csrc/sparse_optim/sparse_optim.h.
"""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from tensorflow.python.ops import resource_variable_ops

from ydnn_kernels._args import check_seed
from ydnn_kernels._loader import load_tf_ops
from ydnn_kernels._tables import TABLE_DTYPES, table_variable
from ydnn_kernels._types import TensorLike

_ops = load_tf_ops()

KINDS = {"sgd": 0, "adagrad": 1, "rowwise_adagrad": 1, "lazy_adam": 2}  # kind -> slot count


def _as_variable(v, what):
    var = table_variable(v)
    if var is None:
        raise ValueError(
            f"{what} must be a tf.Variable or keras.Variable (updated in place), "
            f"got {type(v).__name__}"
        )
    return var


def sparse_apply(
    kind: str,
    variable: tf.Variable,
    slots: Sequence[tf.Variable],
    indices: TensorLike,
    values: TensorLike,
    learning_rate: TensorLike,
    step: TensorLike = 1,
    weight_decay: float = 0.0,
    epsilon: float = 1e-7,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    indices_unique: bool = False,
    validate_indices: bool = True,
    stochastic_rounding: bool = False,
    seed: int = 0,
    name: str | None = None,
) -> Any:
    """Applies one optimizer step to the rows of `variable` named by `indices`.

    Per touched row, with `g` the sum of the rows of `values` that share its
    id (see csrc/sparse_optim/sparse_optim.h for the exact float32 order):

    - decoupled weight decay first, when `weight_decay > 0`:
      `w -= w * weight_decay * lr` (touched rows only);
    - `"sgd"`: `w -= lr * g`;
    - `"adagrad"`: `a += g^2; w -= lr * g / sqrt(a + epsilon)` (Keras's form);
    - `"rowwise_adagrad"`: `a_row += mean(g^2); w -= lr * g / (sqrt(a_row) + epsilon)`;
    - `"lazy_adam"`: `m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
      w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)`
      with `t = step`, the global step.

    Rows (and slot rows) not named by `indices` are not touched at all.
    Each row is computed in float32 and stored once: a float16 / bfloat16
    table is rounded to nearest, or with `stochastic_rounding` to one of the
    value's two neighbours with probabilities that make the rounding
    unbiased (FBGEMM's choice for half-precision tables: updates smaller
    than half a unit in the last place survive on average). The random bits
    are a pure function of `(seed, step, row, element)`, so a step is
    reproducible on any thread count or device.

    Args:
        kind: `"sgd"`, `"adagrad"`, `"rowwise_adagrad"` or `"lazy_adam"`.
        variable: `[V, D]` float32, float16 or bfloat16 variable.
        slots: list of float32 slot variables: `[]` (sgd), `[accumulator
            [V, D]]` (adagrad), `[accumulator [V] or [V, 1]]` (row-wise),
            `[momentum, velocity]` (lazy_adam, each `[V, D]`).
        indices: `[N]` int32 or int64 row ids, any order, duplicates allowed.
        values: `[N, D]` gradient rows, the variable's dtype.
        learning_rate: scalar (float or tensor, e.g. a schedule's output).
        step: the 1-based global step (lazy_adam bias correction).
        weight_decay, epsilon, beta_1, beta_2: Python floats.
        indices_unique: promise that `indices` hold no duplicates, so the GPU
            skips its sort (embedding_pool's gradient qualifies). The CPU
            checks for itself.
        validate_indices: GPU only: check ids against `[0, V)` (one sync).
        stochastic_rounding: round 16-bit tables stochastically (no effect
            on float32 tables).
        seed: int in `[0, 2^63)` keying the rounding's random bits.
        name: optional op name.

    Returns:
        None; the variables are updated in place (inside tf.function the
        update is ordered by the variables' automatic control dependencies).

    Raises:
        ValueError: for a bad kind, a non-variable, or a wrong slot count.
        tf.errors.InvalidArgumentError: for ids outside `[0, V)` or shapes
            that do not fit, naming the argument, its shape and the value.

    Example:

    ```python
    table = tf.Variable(tf.zeros([1000, 16]))
    acc = tf.Variable(tf.fill([1000, 16], 0.1))
    sparse_apply("adagrad", table, [acc], tf.constant([3, 7]),
                 tf.ones([2, 16]), learning_rate=0.05)
    ```
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
    if len(slots) != KINDS[kind]:
        raise ValueError(f"{kind} takes {KINDS[kind]} slot variable(s), got {len(slots)}")
    var = _as_variable(variable, "variable")
    if var.dtype not in TABLE_DTYPES:
        raise ValueError(f"variable must be float32, float16 or bfloat16, got {var.dtype.name}")
    slot_vars = [_as_variable(s, f"slots[{i}]") for i, s in enumerate(slots)]
    seed = check_seed(seed)
    with tf.name_scope(name or f"sparse_apply_{kind}"):
        indices = tf.convert_to_tensor(indices)
        if indices.dtype not in (tf.int32, tf.int64):
            raise ValueError(f"indices must be int32 or int64, got {indices.dtype.name}")
        values = tf.convert_to_tensor(values, dtype_hint=var.dtype)
        if values.dtype != var.dtype:
            raise ValueError(
                f"values must have the variable's dtype {var.dtype.name}, got {values.dtype.name}"
            )
        lr = tf.cast(learning_rate, tf.float32)
        step = tf.cast(step, tf.int64)
        for v in [var, *slot_vars]:
            resource_variable_ops.variable_accessed(v)
        _ops.ydnn_sparse_apply(
            var.handle,
            [s.handle for s in slot_vars],
            indices,
            values,
            lr,
            step,
            kind=kind,
            weight_decay=float(weight_decay),
            epsilon=float(epsilon),
            beta_1=float(beta_1),
            beta_2=float(beta_2),
            stochastic_rounding=bool(stochastic_rounding),
            seed=seed,
            indices_unique=bool(indices_unique),
            validate_indices=bool(validate_indices),
        )
