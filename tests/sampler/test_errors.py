"""Bad arguments to log_uniform_sample: ValueError from the wrapper and the
NumPy entry point, InvalidArgumentError from the raw op, each naming the
argument and its value."""

import pytest
import tensorflow as tf

from ydnn_kernels import arrays, log_uniform_sample
from ydnn_kernels.sampler_op import _ops


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(num_sampled=11, max_id=9, min_id=0),
            r"num_sampled = 11 exceeds the 10 ids in "
            r"\[min_id, max_id\] = \[0, 9\]",
        ),
        (dict(num_sampled=1, max_id=3, min_id=5), "max_id must be >= min_id, got max_id = 3"),
        (dict(num_sampled=0, max_id=3), "num_sampled must be >= 1, got 0"),
        (dict(num_sampled=1, max_id=3, min_id=-1), "min_id must be >= 0, got -1"),
        (dict(num_sampled=2.0, max_id=3), "num_sampled must be an integer, got float 2.0"),
        (dict(num_sampled=2, max_id=3, true_ids=[0.5]), "true_ids must be integers, got float32"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        log_uniform_sample(**kwargs)


def test_raw_op_rejects_bad_range():
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_id must be >= min_id"):
        _ops.ydnn_log_uniform_sample(tf.zeros([0], tf.int64), num_sampled=1, min_id=4, max_id=2)
    with pytest.raises(ValueError, match=r"num_sampled = 6 exceeds the 5 ids"):
        arrays.log_uniform_sample(6, 4)
