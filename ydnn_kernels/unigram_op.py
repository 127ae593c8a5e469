"""`UnigramTable` and `unigram_sample`: frequency-based candidate sampling as
TensorFlow ops, through an alias table built once."""

import tensorflow as tf

from ydnn_kernels._args import bool_scalar, int_scalar
from ydnn_kernels._device import _py
from ydnn_kernels._loader import load_tf_ops
from ydnn_kernels._types import TensorLike
from ydnn_kernels.sampler_op import sampler_inputs
from ydnn_kernels.unigram_arrays import check_distortion

_ops = load_tf_ops()

_COUNT_DTYPES = (tf.float32, tf.float64, tf.int32, tf.int64)


class UnigramTable:
    """The alias table of a unigram sampler over ids `[0, V)`, built once.

    `P(k) = w_k / sum(w)` with `w_k = counts[k] ** distortion` for positive
    counts and 0 otherwise (zero-count ids are never drawn), the law of
    `tf.random.fixed_unigram_candidate_sampler(unigrams=counts,
    distortion=...)`. The build is O(V), sequential, on the CPU, in float64
    (Vose's alias method); the table (`[V, 2]` float64: accept probability
    and alias id per bucket) and `P` (`[V]` float64) are then copied to
    `device` and reused by every `unigram_sample` call, so each draw costs
    one random number and one table read whatever V.

    Args:
        counts: `[V]` non-negative finite counts (int or float, any
            array-like), e.g. item frequencies in the training log.
        distortion: exponent applied to the counts, finite and `>= 0`
            (1: plain frequency; 0.75: word2vec's flattening; 0: uniform
            over the ids with a positive count).
        device: where the table lives (e.g. `"/GPU:0"`); default: the GPU
            if TensorFlow sees one, else the CPU.

    Raises:
        ValueError: counts not 1-D or of a non-numeric dtype; a negative,
            NaN or infinite count; no positive count; a bad distortion;
            called inside `tf.function` (build it once, outside).

    Example:

    ```python
    table = ydnn_kernels.UnigramTable(item_counts, distortion=0.75)
    ids, true_q, sampled_q = ydnn_kernels.unigram_sample(table, 8192, true_ids=labels)
    ```
    """

    def __init__(self, counts, distortion=1.0, device=None):
        distortion = check_distortion(distortion)
        if not tf.executing_eagerly():
            raise ValueError(
                "UnigramTable must be built eagerly, outside tf.function: it is "
                "built once and reused by every unigram_sample call"
            )
        counts = tf.convert_to_tensor(counts)
        if counts.dtype not in _COUNT_DTYPES:
            raise ValueError(
                f"counts must be float32, float64, int32 or int64, got {counts.dtype.name}"
            )
        if counts.shape.rank != 1:
            raise ValueError(f"counts must be 1-D [V], got shape {counts.shape}")
        with tf.device("/CPU:0"):
            try:
                table, prob, num_positive = _ops.ydnn_unigram_table(
                    counts, tf.constant(distortion, tf.float64)
                )
            except tf.errors.InvalidArgumentError as e:
                raise ValueError(e.message) from None
        if device is None:
            device = "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"
        with tf.device(device):
            self.table = tf.identity(table)
            self.prob = tf.identity(prob)
        self.num_positive_tensor = num_positive  # host memory, as the GPU kernel wants
        self.num_positive = int(num_positive)
        self.max_unique = _py.unigram_max_unique(prob.numpy())
        self.num_ids = int(counts.shape[0])
        self.distortion = distortion

    def __repr__(self):
        return (
            f"UnigramTable(num_ids={self.num_ids}, num_positive={self.num_positive}, "
            f"distortion={self.distortion}, device={self.table.device!r})"
        )


def unigram_sample(
    table: "UnigramTable",
    num_sampled: int,
    unique: bool = True,
    true_ids: TensorLike | None = None,
    seed: int | None = None,
    name: str | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Samples ids from a `UnigramTable`'s law, as TF's
    `fixed_unigram_candidate_sampler` does, on the CPU or the GPU.

    `unique=True` keeps TF's semantics: draws in order, first occurrences
    kept until `num_sampled` distinct ids; expected counts are then
    `-expm1(num_tries * log1p(-P))` over all draws made (`P * num_sampled`
    when no draw was rejected). With `unique=False` they are
    `P * num_sampled`. Ids outside `[0, V)` have expected count 0.

    Randomness is Philox, counter-based, as in `log_uniform_sample`: fresh
    ids every call; the op seed and the global seed reproduce the sequence
    of calls, bit for bit on the CPU and the GPU.

    Args:
        table: a `UnigramTable`.
        num_sampled: ids to draw, `>= 1` (`<= table.num_positive` when
            unique).
        unique: sample without replacement.
        true_ids: optional int tensor of any shape whose expected counts are
            also returned.
        seed: op seed, combined with the global seed as TF's random ops do.
        name: optional op name.

    Returns:
        `(sampled_ids [num_sampled] int64, true_expected_count float32 of
        true_ids' shape, sampled_expected_count [num_sampled] float32)`.

    Raises:
        ValueError: for a table that is not a `UnigramTable`, a bad
            num_sampled (not an integer, < 1, or more distinct ids than
            the law can give in 2^31 draws when unique), or non-integer
            true_ids.

    Example:

    ```python
    table = ydnn_kernels.UnigramTable([0, 5, 1, 3], distortion=0.75)
    ids, _, q = ydnn_kernels.unigram_sample(table, 2, seed=1)
    ```
    """
    if not isinstance(table, UnigramTable):
        raise ValueError(
            "table must be a ydnn_kernels.UnigramTable (built once from the "
            f"counts), got {type(table).__name__}"
        )
    num_sampled = int_scalar("num_sampled", num_sampled, 1)
    unique = bool_scalar("unique", unique)
    if unique and num_sampled > table.num_positive:
        raise ValueError(
            f"num_sampled = {num_sampled} exceeds the {table.num_positive} ids with a positive "
            "count: unique sampling needs num_sampled <= the number of ids with a positive count"
        )
    _py.unigram_check_reachable(num_sampled, unique, table.max_unique)
    with tf.name_scope(name or "unigram_sample"):
        true_ids, seed1, seed2 = sampler_inputs(true_ids, seed)
        sampled, true_ec, sampled_ec, _ = _ops.ydnn_unigram_sample(
            table.table,
            table.prob,
            table.num_positive_tensor,
            true_ids,
            num_sampled=num_sampled,
            unique=unique,
            seed=seed1,
            seed2=seed2,
        )
        return sampled, true_ec, sampled_ec
