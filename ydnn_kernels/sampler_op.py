"""`log_uniform_sample`: log-uniform candidate sampling as a TensorFlow op."""

import tensorflow as tf
from tensorflow.python.framework import random_seed

from ydnn_kernels._args import bool_scalar, int_scalar
from ydnn_kernels._loader import load_tf_ops
from ydnn_kernels._types import TensorLike

_ops = load_tf_ops()


def log_uniform_sample(
    num_sampled: int,
    max_id: int,
    min_id: int = 0,
    unique: bool = True,
    true_ids: TensorLike | None = None,
    seed: int | None = None,
    first_draw: TensorLike | None = None,
    name: str | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Samples ids in `[min_id, max_id]` (both ends) from a log-uniform law.

    With `R = max_id - min_id + 1` and `j = k - min_id`,
    `P(k) = log((j + 2) / (j + 1)) / log(R + 1)`: id `min_id` is the most
    likely, as frequency-sorted vocabularies want. Unlike
    `tf.random.log_uniform_candidate_sampler` (CPU only) this runs on the CPU
    and the GPU, and unlike Merlin's wrapper of it, `max_id` can be drawn.

    `unique=True` keeps TF's semantics: draws in order, first occurrences
    kept until `num_sampled` distinct ids; expected counts are then
    `-expm1(num_tries * log1p(-P))` over all draws made (`P * num_sampled`
    when no draw was rejected, as TF's ExpectedCountHelper). With
    `unique=False` they are `P * num_sampled`. Ids outside the range have
    expected count 0.

    Randomness is Philox, counter-based: every call draws fresh ids; the
    same op seed and global seed (`tf.random.set_seed`) reproduce the same
    sequence of calls, on the CPU and the GPU alike. With `first_draw` the
    call's place in the stream is given instead of kept by the op: its
    draws are `first_draw, first_draw + 1, ...`, a pure function of the
    seeds and `first_draw` (a model that saves the position resumes its
    stream exactly; unique sampling uses at most 2^31 draws a call).

    Args:
        num_sampled: number of ids to draw, `>= 1` (`<= R` when unique); an
            int or NumPy integer (a float such as 5.5 is an error, never
            truncated).
        max_id: largest id that can be drawn.
        min_id: smallest id that can be drawn (e.g. 1 to skip padding 0).
        unique: sample without replacement.
        true_ids: optional int tensor of any shape (e.g. the positives)
            whose expected counts are also returned.
        seed: op seed, combined with the global seed as TF's random ops do.
        first_draw: optional int64 scalar (Python int or tensor, `>= 0`):
            the index of this call's first draw in the stream.
        name: optional op name.

    Returns:
        `(sampled_ids [num_sampled] int64, true_expected_count float32 of
        true_ids' shape, sampled_expected_count [num_sampled] float32)`.

    Raises:
        ValueError: for non-integer (float, bool) or out-of-range arguments,
            naming the argument and its value. NumPy integers are integers.

    Example:

    ```python
    ids, true_q, sampled_q = ydnn_kernels.log_uniform_sample(
        100, max_id=99_999, min_id=1, true_ids=positives)
    ```
    """
    num_sampled, max_id, min_id, unique, seed = check_sampler_args(
        num_sampled, max_id, min_id, unique, seed
    )
    with tf.name_scope(name or "log_uniform_sample"):
        true_ids, seed1, seed2 = sampler_inputs(true_ids, seed)
        attrs = dict(
            num_sampled=num_sampled,
            min_id=min_id,
            max_id=max_id,
            unique=unique,
            seed=seed1,
            seed2=seed2,
        )
        if first_draw is None:
            sampled, true_ec, sampled_ec, _ = _ops.ydnn_log_uniform_sample(true_ids, **attrs)
        else:
            if not isinstance(first_draw, (tf.Tensor, tf.Variable)):
                first_draw = int_scalar("first_draw", first_draw, 0)
            first_draw = tf.cast(first_draw, tf.int64)
            sampled, true_ec, sampled_ec, _ = _ops.ydnn_log_uniform_sample_at(
                true_ids, first_draw, **attrs
            )
        return sampled, true_ec, sampled_ec


def check_sampler_args(num_sampled, max_id, min_id, unique, seed):
    """The sampler's scalar arguments as Python values, range-checked.

    Returns:
        `(num_sampled, max_id, min_id, unique, seed)`.

    Raises:
        ValueError: naming the argument and its value.
    """
    num_sampled = int_scalar("num_sampled", num_sampled)
    max_id = int_scalar("max_id", max_id)
    min_id = int_scalar("min_id", min_id)
    unique = bool_scalar("unique", unique)
    if seed is not None:
        seed = int_scalar("seed", seed)
    if num_sampled < 1:
        raise ValueError(f"num_sampled must be >= 1, got {num_sampled}")
    if min_id < 0:
        raise ValueError(f"min_id must be >= 0, got {min_id}")
    if max_id < min_id:
        raise ValueError(f"max_id must be >= min_id, got max_id = {max_id} and min_id = {min_id}")
    if unique and num_sampled > max_id - min_id + 1:
        raise ValueError(
            f"num_sampled = {num_sampled} exceeds the {max_id - min_id + 1} ids in "
            f"[min_id, max_id] = [{min_id}, {max_id}]: unique sampling needs "
            "num_sampled <= max_id - min_id + 1"
        )
    return num_sampled, max_id, min_id, unique, seed


def sampler_inputs(true_ids, seed):
    """The sampler ops' common inputs: `(true_ids as int64, seed, seed2)`.

    `true_ids=None` becomes an empty vector; the op seeds come from `seed`
    and the global seed as in TF's random ops (0, 0 when neither is set,
    which the ops turn into a random key).

    Raises:
        ValueError: if true_ids are not integers.
    """
    if true_ids is None:
        true_ids = tf.zeros([0], tf.int64)
    else:
        true_ids = tf.convert_to_tensor(true_ids)
        if not true_ids.dtype.is_integer:
            raise ValueError(f"true_ids must be integers, got {true_ids.dtype.name}")
        true_ids = tf.cast(true_ids, tf.int64)
    seed1, seed2 = random_seed.get_seed(seed)
    return true_ids, seed1 or 0, seed2 or 0
