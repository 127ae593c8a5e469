"""Bad input to the unigram sampler: counts and distortions UnigramTable
and arrays.unigram_table refuse, bad sample arguments, and the raw ops'
InvalidArgumentError, each naming the argument and its value."""

import numpy as np
import pytest
import tensorflow as tf

from tests.unigram.cases import table_of
from ydnn_kernels import UnigramTable, arrays, unigram_sample
from ydnn_kernels.unigram_op import _ops


@pytest.mark.parametrize(
    "counts, distortion, match",
    [
        ([1.0, -2.0, 3.0], 1.0, r"counts\[1\] = -2 is negative"),
        ([1.0, float("nan")], 1.0, r"counts\[1\] is NaN"),
        ([float("inf"), 1.0], 1.0, r"counts\[0\] = inf is not finite"),
        ([0, 0, 0], 1.0, r"counts has no positive entry \(3 ids"),
        ([], 1.0, "counts must have at least one entry"),
        ([1e300, 1.0], 2.0, r"counts\[0\] \*\* distortion overflows"),
        ([1.0, 2.0], float("nan"), "distortion must be finite and >= 0, got nan"),
        ([1.0, 2.0], -0.5, "distortion must be finite and >= 0, got -0.5"),
        ([1.0, 2.0], float("inf"), "distortion must be finite and >= 0, got inf"),
        ([1.0, 2.0], "1", "distortion must be a number, got '1'"),
    ],
)
def test_bad_tables(counts, distortion, match):
    for build in (UnigramTable, arrays.unigram_table):
        with pytest.raises(ValueError, match=match):
            build(np.asarray(counts, np.float64), distortion)


def test_bad_table_arguments_and_raw_op_errors():
    with pytest.raises(ValueError, match=r"counts must be 1-D \[V\], got shape \(2, 2\)"):
        UnigramTable(np.ones((2, 2)))
    with pytest.raises(
        ValueError, match="counts must be float32, float64, int32 or int64, got string"
    ):
        UnigramTable(["a", "b"])
    with pytest.raises(ValueError, match="must be built eagerly"):
        tf.function(lambda: UnigramTable([1.0, 2.0]).num_ids)()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"counts\[0\] = -1 is negative"):
        _ops.ydnn_unigram_table(tf.constant([-1.0, 1.0]), tf.constant(1.0, tf.float64))
    t = UnigramTable([0, 2, 3], 1.0)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="num_sampled = 3 exceeds the 2 ids with a positive count",
    ):
        _ops.ydnn_unigram_sample(
            t.table,
            t.prob,
            t.num_positive_tensor,
            tf.zeros([0], tf.int64),
            num_sampled=3,
            unique=True,
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"prob must be \[V\]"):
        _ops.ydnn_unigram_sample(
            t.table, t.prob[:2], t.num_positive_tensor, tf.zeros([0], tf.int64), num_sampled=1
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_sampled=3), "num_sampled = 3 exceeds the 2 ids with a positive count"),
        (dict(num_sampled=0), "num_sampled must be >= 1, got 0"),
        (dict(num_sampled=2.0), "num_sampled must be an integer, got float 2.0"),
        (dict(num_sampled=1, true_ids=[0.5]), "true_ids must be integers, got float32"),
    ],
)
def test_bad_sample_arguments(kwargs, match):
    t = UnigramTable([0, 2, 3], 1.0)
    with pytest.raises(ValueError, match=match):
        unigram_sample(t, **kwargs)
    with pytest.raises(ValueError, match="table must be a ydnn_kernels.UnigramTable"):
        unigram_sample([0, 2, 3], 1)
    if (
        "true_ids" not in kwargs
        and isinstance(kwargs["num_sampled"], int)
        and kwargs["num_sampled"] >= 1
    ):
        with pytest.raises(ValueError, match=match):
            arrays.unigram_sample(table_of([0, 2, 3], 1.0), kwargs["num_sampled"])
