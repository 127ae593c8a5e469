"""What the ydnn optimizers share: the routing of `tf.IndexedSlices`
gradients to the fused sparse kernels, and the Keras features checked
against them.

Keras 3's TF-backend optimizer turns an `IndexedSlices` gradient into dense
work over the whole table (Adam's moments decay densely, weight decay and
EMA touch every row). The override point is the per-variable
`update_step(gradient, variable, learning_rate)`: the TF backend calls it
inside `tf.distribute`'s `extended.update` with the variable's `tf.Variable`,
the gradient as it came from the tape (`IndexedSlices` for a gather or
`embedding_pool`), and the current learning rate as a tensor (schedules
included). Dense gradients go to the stock Keras `update_step` unchanged.

How each Keras feature behaves for sparse (`IndexedSlices`) gradients:

- learning-rate schedules: read as a tensor every step, as stock.
- `weight_decay`: decoupled, `w -= w * weight_decay * lr`, applied to the
  touched rows only (before the update, as Keras orders it); dense weights
  decay as stock. `exclude_from_weight_decay` is respected.
- `clipnorm` / `global_clipnorm` / `clipvalue`: duplicate ids are summed
  first, so the clip sees exactly the dense gradient's values; the norm of a
  sparse gradient is the norm of its (summed) rows, equal to the dense norm.
- `loss_scale_factor`: sparse and dense gradients are unscaled alike
  (stock Keras cannot divide an `IndexedSlices`).
- `use_ema`, `gradient_accumulation_steps`: refused (`ValueError`): both keep
  a dense copy of every table and update it every step, which is what these
  optimizers exist to avoid.
- XLA (`jit_compile=True`): refused at trace time with a `ValueError`; the
  fused kernels are custom ops XLA cannot compile.
- Tables whose dtype or slots the kernels do not take (e.g. float16 slots)
  fall back to the stock update.

Half-precision tables (float16 / bfloat16 variables, e.g. the model's
`table_dtype`): the optimizer's maths is float32, as FBGEMM's. Their slots
are float32 (`add_variable_from_reference` gives a 16-bit reference float32
slots), a dense gradient reaching a 2-D one is applied as the rows of all
ids (so the kernel, not Keras's half-precision arithmetic, updates it), and
each updated row is stored with stochastic rounding (unbiased: updates
smaller than half a unit in the last place survive on average) unless
`stochastic_rounding=False`. The rounding's bits are keyed by
`rounding_seed`, the variable's index and the step, so training is
reproducible with the seed and mirrored replicas round alike.
"""

import random

import keras
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.ops import control_flow_util

from ydnn._workers import worker_count

# Ops whose output 0 holds unique ids (embedding_pool's gradient, tf.unique):
# gradients indexed by it skip the kernel's duplicate sort on the GPU.
_UNIQUE_INDEX_OPS = ("YdnnEmbeddingPoolGrad", "YdnnEmbeddingPoolResourceGrad", "Unique")
HALF_DTYPES = ("float16", "bfloat16")
# The rounding seed every worker of a multi-worker job agrees on when none
# was given (keras.utils.set_random_seed on each worker would also do).
MULTI_WORKER_ROUNDING_SEED = 0


def is_half(variable) -> bool:
    """True for a float16 / bfloat16 variable (a half-precision table)."""
    return keras.backend.standardize_dtype(variable.dtype) in HALF_DTYPES


def check_hyper(name, learning_rate, kwargs, **values):
    """The hyper-parameters as Python floats, checked.

    Keras takes a negative, NaN or infinite learning rate, a beta outside
    `[0, 1)` or a negative epsilon silently, and refuses `np.float32(1e-3)`
    as a learning rate: here the first are errors and NumPy scalars become
    floats.

    Args:
        name: the optimizer's class name, for the message.
        learning_rate: a number (checked, `>= 0`), a schedule or a callable.
        kwargs: the Keras base arguments; `weight_decay` (`>= 0`) and
            `clipnorm` / `clipvalue` / `global_clipnorm` (`> 0`) are checked
            and converted in place.
        **values: `{argument: (value, kind)}`, kind `"beta"` (`[0, 1)`) or
            `"nonneg"` (`>= 0`).

    Returns:
        `(learning_rate, {argument: float})`.

    Raises:
        ValueError: naming the argument and the value.
    """
    from ydnn.layers._args import float_arg

    if not (
        callable(learning_rate)
        or isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    ):
        learning_rate = float_arg("learning_rate", learning_rate, minimum=0.0, prefix=name)
    out = {}
    for arg, (value, kind) in values.items():
        below = 1.0 if kind == "beta" else None
        out[arg] = float_arg(arg, value, minimum=0.0, below=below, prefix=name)
    if kwargs.get("weight_decay") is not None:
        kwargs["weight_decay"] = float_arg(
            "weight_decay", kwargs["weight_decay"], minimum=0.0, prefix=name
        )
    for arg in ("clipnorm", "clipvalue", "global_clipnorm"):
        if kwargs.get(arg) is not None:
            kwargs[arg] = float_arg(arg, kwargs[arg], positive=True, prefix=name)
    return learning_rate, out


def check_keras_options(opt):
    """Raises ValueError for the Keras optimizer options the sparse path refuses."""
    name = type(opt).__name__
    if opt.use_ema:
        raise ValueError(
            f"{name} does not support use_ema=True: an exponential moving average keeps a "
            "dense copy of every embedding table and updates all of its rows each step. "
            "Average the dense weights yourself, or use the stock Keras optimizer."
        )
    if opt.gradient_accumulation_steps:
        raise ValueError(
            f"{name} does not support gradient_accumulation_steps: Keras accumulates into a "
            "dense [V, D] buffer per table. Use a larger batch instead, or the stock Keras "
            "optimizer."
        )


def combine_duplicates(g):
    """The IndexedSlices `g` with each id once (rows summed)."""
    unique, idx = tf.unique(g.indices)
    values = tf.math.unsorted_segment_sum(g.values, idx, tf.shape(unique)[0])
    return tf.IndexedSlices(values, unique, g.dense_shape)


def indices_unique(g):
    """True when `g.indices` is known (from the op that made it) to hold no
    duplicates; False when unknown (eager tensors, other ops)."""
    op = getattr(g.indices, "op", None)
    return (
        op is not None
        and getattr(op, "type", None) in _UNIQUE_INDEX_OPS
        and getattr(g.indices, "value_index", -1) == 0
    )


class SparseUpdateMixin:
    """Mixed in before a keras.optimizers class. Subclasses define
    `_sparse_kind` (or `_sparse_kind_for(variable)`), `_sparse_hyper()` (the
    kernel's hyper-parameters) and `_sparse_slots(variable)` (the slot
    variables, or None to fall back to the stock update)."""

    _sparse_kind: str | None = None

    def __init__(self, *args, stochastic_rounding=True, rounding_seed=None, **kwargs):
        from ydnn.layers._args import bool_arg, int_arg

        name = type(self).__name__
        stochastic_rounding = bool_arg("stochastic_rounding", stochastic_rounding, prefix=name)
        drawn = rounding_seed is None
        if rounding_seed is None:
            rounding_seed = random.randrange(2**31 - 1)  # keras.utils.set_random_seed fixes it
        rounding_seed = int_arg("rounding_seed", rounding_seed, minimum=0, prefix=name)
        super().__init__(*args, **kwargs)
        self.stochastic_rounding = stochastic_rounding
        self.rounding_seed = rounding_seed
        self._seed_drawn = drawn

    def build(self, variables):
        if self._seed_drawn and worker_count(self._distribution_strategy) > 1:
            # Each worker drew its own seed, and mirrored 16-bit tables
            # rounded with different bits would drift apart silently.
            self.rounding_seed = MULTI_WORKER_ROUNDING_SEED
        super().build(variables)

    def get_config(self):
        config = super().get_config()
        config["stochastic_rounding"] = self.stochastic_rounding
        config["rounding_seed"] = self.rounding_seed
        return config

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        if not is_half(reference_variable):
            return super().add_variable_from_reference(reference_variable, name, initializer)
        # float32 slots for a half-precision table: the kernels' maths is float32.
        name = f"{reference_variable.path.replace('/', '_')}_{name or 'var'}"
        with self._distribution_strategy.extended.colocate_vars_with(reference_variable.value):
            return self.add_variable(
                shape=reference_variable.shape, initializer=initializer, dtype="float32", name=name
            )

    def _rounding_key(self, variable):
        """The stochastic-rounding seed of one variable: the optimizer's seed
        and the variable's index among the optimizer's variables, which is the
        same on every replica of a mirrored variable and after a reload (a
        name would not be: replicas carry their device in it)."""
        return (self.rounding_seed << 32 | self._get_variable_index(variable)) % 2**63

    def _sparse_hyper(self):
        return {}

    def _sparse_kind_for(self, variable):
        return self._sparse_kind

    def _sparse_slots(self, variable):
        return []

    def _routes_sparse(self, variable, gradient):
        """Trace-time: whether `variable` takes the fused path for this gradient."""
        return isinstance(gradient, tf.IndexedSlices) or (
            is_half(variable) and len(variable.shape) == 2
        )

    def apply(self, grads, trainable_variables=None):
        # 16-bit gradients travel in float32: the cross-replica sum of
        # tf.distribute has no bfloat16 kernel on the CPU, and a float32 sum
        # is the more accurate one. The kernel takes them back to the table's
        # dtype (float32 -> 16 bits -> float32 is exact for one replica).
        grads = [_map_values(g, _to_float32) if g is not None else g for g in grads]
        scale = self.loss_scale_factor
        if scale is not None:
            grads = [_unscale(g, scale) for g in grads]
        variables = (
            getattr(self, "_trainable_variables", [])
            if trainable_variables is None
            else list(trainable_variables)
        )
        # Which variables take the fused path this step, so that the dense
        # weight decay leaves them to the kernel (which decays touched rows).
        self._sparse_var_keys = {
            self._var_key(v)
            for g, v in zip(grads, variables)
            if g is not None and self._routes_sparse(v, g)
        }
        self.loss_scale_factor = None  # unscaled above, IndexedSlices included
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self.loss_scale_factor = scale

    def _apply_weight_decay(self, variables):
        keys = getattr(self, "_sparse_var_keys", set())
        super()._apply_weight_decay(
            [v for v in variables if self._var_key(v) not in keys or self._sparse_slots(v) is None]
        )

    def _clip_gradients(self, grads):
        clipping = any(
            c is not None and c > 0 for c in (self.clipnorm, self.global_clipnorm, self.clipvalue)
        )
        if not clipping or not any(isinstance(g, tf.IndexedSlices) for g in grads):
            return super()._clip_gradients(grads)
        grads = [combine_duplicates(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        if self.clipnorm and self.clipnorm > 0:
            return [None if g is None else tf.clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            parts = [tf.reduce_sum(tf.square(_values(g))) for g in grads if g is not None]
            use_norm = tf.sqrt(tf.add_n([tf.cast(p, tf.float32) for p in parts]))
            clip = self.global_clipnorm
            # Keras's formula (NaN for a non-finite norm, as stock).
            scale = clip * tf.minimum(1.0 / use_norm, 1.0 / clip) + (use_norm - use_norm)
            return [
                None if g is None else _map_values(g, lambda x: x * tf.cast(scale, x.dtype))
                for g in grads
            ]
        v = self.clipvalue
        return [
            None if g is None else _map_values(g, lambda x: tf.clip_by_value(x, -v, v))
            for g in grads
        ]

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices) and self._routes_sparse(variable, gradient):
            rows = tf.shape(gradient, out_type=tf.int64)[0]
            gradient = tf.IndexedSlices(gradient, tf.range(rows), tf.shape(gradient, tf.int64))
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        slots = self._sparse_slots(variable)
        if slots is None:
            return super().update_step(gradient, variable, learning_rate)
        if control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()):
            raise ValueError(
                f"{type(self).__name__} updates embedding tables with ydnn's custom ops, which "
                "XLA cannot compile: use model.compile(..., jit_compile=False)."
            )
        from ydnn_kernels.sparse_optim_op import sparse_apply

        wd = self.weight_decay if (self.weight_decay and self._use_weight_decay(variable)) else 0.0
        return sparse_apply(
            self._sparse_kind_for(variable),
            variable,
            slots,
            gradient.indices,
            tf.cast(gradient.values, variable.dtype),
            learning_rate,
            step=self.iterations + 1,
            weight_decay=wd,
            indices_unique=indices_unique(gradient),
            stochastic_rounding=self.stochastic_rounding and is_half(variable),
            seed=self._rounding_key(variable),
            **self._sparse_hyper(),
        )

    def _slot_ok(self, variable, slots):
        ok_table = tf.as_dtype(variable.dtype) in (tf.float32, tf.float16, tf.bfloat16)
        ok_slots = all(tf.as_dtype(s.dtype) == tf.float32 for s in slots)
        return slots if ok_table and ok_slots else None


def _values(g):
    return g.values if isinstance(g, tf.IndexedSlices) else g


def _map_values(g, fn):
    if isinstance(g, tf.IndexedSlices):
        return tf.IndexedSlices(fn(g.values), g.indices, g.dense_shape)
    return fn(g)


def _to_float32(x):
    return tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x


def _unscale(g, scale):
    if g is None:
        return g
    return _map_values(g, lambda x: x / tf.cast(scale, x.dtype))
