"""Bad input to sparse_apply: the TF op's InvalidArgumentError and the
NumPy entry point's ValueError name the argument, its position or shape and
the bad value, and a refused call writes nothing; Python-side ValueErrors."""

import numpy as np
import pytest
import tensorflow as tf

from ydnn_kernels import arrays
from ydnn_kernels.sparse_optim_op import sparse_apply


@pytest.mark.parametrize("bad_id", [-1, 10])
def test_out_of_range_id_names_position_and_value(bad_id):
    var = tf.Variable(np.ones((10, 3), np.float32))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=rf"indices\[1\] = {bad_id} is out of range \[0, 10\).*\[10, 3\]",
    ):
        sparse_apply("sgd", var, [], tf.constant([2, bad_id]), tf.ones([2, 3]), 0.1)
    np.testing.assert_array_equal(var.numpy(), 1.0)  # nothing written


def test_shape_errors_name_argument_and_shape():
    var = tf.Variable(np.ones((10, 3), np.float32))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"values must have shape \[2, 3\].*\[2, 4\]"
    ):
        sparse_apply("sgd", var, [], tf.constant([1, 2]), tf.ones([2, 4]), 0.1)
    acc = tf.Variable(np.ones((10, 2), np.float32))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"accumulator must have shape \[10, 3\].*got shape \[10, 2\]",
    ):
        sparse_apply("adagrad", var, [acc], tf.constant([1]), tf.ones([1, 3]), 0.1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices must be 1-D"):
        sparse_apply("sgd", var, [], tf.constant([[1]]), tf.ones([1, 3]), 0.1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"step must be >= 1"):
        m, v = tf.Variable(tf.zeros([10, 3])), tf.Variable(tf.zeros([10, 3]))
        sparse_apply("lazy_adam", var, [m, v], tf.constant([1]), tf.ones([1, 3]), 0.1, step=0)


def test_python_errors():
    var = tf.Variable(np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="kind must be one of"):
        sparse_apply("rmsprop", var, [], [0], np.ones((1, 2), np.float32), 0.1)
    with pytest.raises(ValueError, match="takes 2 slot"):
        sparse_apply("lazy_adam", var, [], [0], np.ones((1, 2), np.float32), 0.1)
    with pytest.raises(ValueError, match="must be a tf.Variable"):
        sparse_apply("sgd", tf.ones([4, 2]), [], [0], np.ones((1, 2), np.float32), 0.1)
    with pytest.raises(ValueError, match="indices must be int32 or int64"):
        sparse_apply("sgd", var, [], tf.constant([0.0]), np.ones((1, 2), np.float32), 0.1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="slot variables must be float"):
        acc = tf.Variable(np.ones((4, 2), np.float64))
        sparse_apply("adagrad", var, [acc], [0], np.ones((1, 2), np.float32), 0.1)


def test_numpy_errors():
    table = np.ones((10, 4), np.float32)
    one = np.ones((1, 4), np.float32)
    with pytest.raises(ValueError, match=r"indices\[0\] = 10 is out of range \[0, 10\)"):
        arrays.sparse_apply("sgd", table, [], np.array([10]), one, 0.1)
    with pytest.raises(ValueError, match=r"values must have shape \[1, 4\].*\[1, 3\]"):
        arrays.sparse_apply("sgd", table, [], np.array([1]), np.ones((1, 3), np.float32), 0.1)
    with pytest.raises(ValueError, match=r"slots\[0\] must be float32"):
        arrays.sparse_apply("adagrad", table, [np.ones((10, 4))], np.array([1]), one, 0.1)
    with pytest.raises(ValueError, match="must be C-contiguous"):
        arrays.sparse_apply("sgd", np.ones((4, 10), np.float32).T, [], np.array([1]), one, 0.1)
    with pytest.raises(ValueError, match="kind must be one of"):
        arrays.sparse_apply("momentum", table, [], np.array([1]), one, 0.1)
    with pytest.raises(ValueError, match="indices must have an integer dtype, got float64"):
        arrays.sparse_apply("sgd", table, [], np.array([1.0]), one, 0.1)
    np.testing.assert_array_equal(table, 1.0)
