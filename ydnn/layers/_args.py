"""Checks of the scalar and dict arguments of ydnn's Keras classes.

One place for the rules, so that every constructor refuses a bad value with
a message naming the argument and the value, instead of truncating it
(`int(5.5)`), reinterpreting it (`True` as 1) or falling back to a default
(`embedding_dims={"item_id": 0}`). NumPy scalars are accepted where the
Python type is (`np.int64(100)`, `np.float32(0.1)`): configs built with
NumPy must work. The conversions are `ydnn_kernels._args`'s, shared with
the kernels' own entry points.
"""

import math
from typing import Any, Mapping, Optional, Sequence

import tensorflow as tf

from ydnn_kernels._args import INT64_MAX, bool_scalar, describe, float_scalar, int_scalar


def _prefixed(prefix: str, name: str) -> str:
    return f"{prefix}: {name}" if prefix else name


def int_arg(
    name: str,
    value: Any,
    minimum: Optional[int] = None,
    maximum: Optional[int] = None,
    prefix: str = "",
) -> int:
    """`value` as a Python int in `[minimum, maximum]` (either bound optional).

    Raises:
        ValueError: a float (even an integral one), bool, string or other
            non-integer, or a value out of range; the message names `name`
            and the value.
    """
    maximum = INT64_MAX if maximum is None else maximum
    return int_scalar(_prefixed(prefix, name), value, minimum, maximum)


def float_arg(
    name: str,
    value: Any,
    minimum: Optional[float] = None,
    below: Optional[float] = None,
    positive: bool = False,
    prefix: str = "",
) -> float:
    """`value` as a finite Python float, `>= minimum`, `< below`, `> 0` if `positive`.

    Raises:
        ValueError: a bool, non-number, NaN, infinity or a value out of
            range; the message names `name` and the value.
    """
    label = _prefixed(prefix, name)
    number = float_scalar(label, value)
    ok = (
        math.isfinite(number)
        and (minimum is None or number >= minimum)
        and (below is None or number < below)
        and (not positive or number > 0)
    )
    if not ok:
        parts = ["positive"] if positive else []
        if minimum is not None and below is not None:
            parts.append(f"in [{minimum:g}, {below:g})")
        else:
            if minimum is not None:
                parts.append(f">= {minimum:g}")
            if below is not None:
                parts.append(f"< {below:g}")
            parts.append("finite")
        raise ValueError(f"{label} must be {' and '.join(parts)}, got {number!r}")
    return number


def bool_arg(name: str, value: Any, prefix: str = "") -> bool:
    """`value` as a bool: `True`, `False` or a NumPy bool, never 0/1 or a string."""
    return bool_scalar(_prefixed(prefix, name), value)


def choice_arg(name: str, value: Any, choices: tuple, prefix: str = "") -> Any:
    """`value` when it is one of `choices` (compared by type and value)."""
    for choice in choices:
        if value is choice or (
            isinstance(value, str) and isinstance(choice, str) and value == choice
        ):
            return choice
    raise ValueError(f"{_prefixed(prefix, name)} must be one of {choices}, got {value!r}")


def dims_arg(name: str, value: Optional[Mapping], prefix: str = "") -> dict:
    """`{table or column name: width}` with positive int widths (None: `{}`)."""
    label = _prefixed(prefix, name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{label} must be a dict {{table or column name: width}}, got {describe(value)}"
        )
    out = {}
    for key, width in value.items():
        if not isinstance(key, str):
            raise ValueError(f"{label} keys must be column or table names, got {key!r}")
        out[key] = int_arg(f"{name}[{key!r}]", width, 1, prefix=prefix)
    return out


def guarded(condition: tf.Tensor, data: Sequence, tensor: tf.Tensor) -> tf.Tensor:
    """`tensor`, usable only once `tf.debugging.Assert(condition, data)` passed.

    In a `tf.function` nothing orders an Assert before the ops that do not
    consume it: without the dependency a bad batch could update the weights
    before the error is raised. Eagerly, the Assert raises at once.
    """
    check = tf.debugging.Assert(condition, list(data))
    if check is None:  # eager
        return tensor
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


def one_per_example(x: tf.Tensor, what: str) -> tf.Tensor:
    """`x` as `[B, 1]` when it holds one value per example (`[B]`, `[B, 1]`
    or a scalar); a ValueError naming `what` and the shape otherwise.

    A shape Keras relaxed (a retrace after a batch of another rank leaves
    the rank unknown) is checked when the step runs instead.
    """
    shape = x.shape
    if shape.rank is not None and (shape.rank <= 1 or (shape.rank == 2 and shape[1] == 1)):
        return tf.reshape(x, [-1, 1])
    if shape.rank is not None and not (shape.rank == 2 and shape[1] is None):
        raise ValueError(f"{what} must be [B] or [B, 1], got shape {shape}")
    dims = tf.shape(x)
    ok = (tf.rank(x) <= 1) | ((tf.rank(x) == 2) & tf.equal(tf.reduce_prod(dims[1:]), 1))
    return tf.reshape(guarded(ok, [f"{what} must be [B] or [B, 1]; got shape", dims], x), [-1, 1])
