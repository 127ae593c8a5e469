"""Bad input to embedding_pool: a clear error naming the argument, its shape
or position and the bad value. ValueError from Python-side checks and from
the NumPy entry point, InvalidArgumentError from the op, in eager mode and
inside tf.function."""

import re

import numpy as np
import pytest
import tensorflow as tf

from tests.embedding_pool.cases import ID_DTYPES
from ydnn_kernels import arrays, embedding_pool
from ydnn_kernels.embedding_pool_op import _ops

TABLE = np.arange(40, dtype=np.float32).reshape(10, 4)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
@pytest.mark.parametrize(
    "bad, where",
    [(10, "ids[1, 0] = 10"), (-1, "ids[1, 0] = -1"), (2**31 - 1, "ids[1, 0] = 2147483647")],
)
def test_out_of_range_padded_id(mode, id_dtype, bad, where):
    ids = np.array([[1, 2, 3], [bad, 0, 0]], dtype=id_dtype)
    fn = tf.function(embedding_pool) if mode == "function" else embedding_pool
    match = re.escape(where) + r" is out of range \[0, 10\) for a table of shape \[10, 4\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        fn(tf.Variable(TABLE), ids, [3, 1])


def test_out_of_range_ragged_id():
    ids = tf.ragged.constant([[1, 2], [], [3, 10]])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"ids\[3\] = 10 is out of range"):
        embedding_pool(TABLE, ids)


def test_bad_id_found_in_backward_only_input():
    # The gradient op validates too: it can be called on its own.
    ids = tf.constant([[1, 12]], tf.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"ids\[0, 1\] = 12"):
        _ops.ydnn_embedding_pool_grad(
            TABLE, ids, tf.constant([2], tf.int64), tf.zeros([0]), tf.zeros([1, 4]), tf.ones([1, 4])
        )


@pytest.mark.parametrize(
    "lengths, match",
    [
        ([3, -1], r"lengths\[1\] = -1 is outside \[0, 3\] \(ids have shape \[2, 3\]\)"),
        ([4, 0], r"lengths\[0\] = 4 is outside \[0, 3\]"),
    ],
)
def test_bad_lengths(lengths, match):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        embedding_pool(TABLE, np.zeros((2, 3), np.int64), lengths)


def test_mismatched_batch_sizes():
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"lengths must have shape \[2\] to match ids of shape \[2, 3\], got \[3\]",
    ):
        embedding_pool(TABLE, np.zeros((2, 3), np.int64), [1, 2, 3])


def test_weights_shape_mismatch():
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"weights must have the shape of ids \[2, 3\], got \[2, 2\]",
    ):
        embedding_pool(TABLE, np.zeros((2, 3), np.int64), [1, 2], np.ones((2, 2), np.float32))


def test_bad_row_splits_raw_op():
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"row_splits must be non-decreasing from 0 to 3 \(the number of "
        r"ids\); row_splits\[2\] = 1",
    ):
        _ops.ydnn_embedding_pool(
            TABLE,
            tf.constant([1, 2, 3]),
            tf.constant([0, 2, 1, 3], tf.int64),
            tf.zeros([0]),
            ragged=True,
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(table=np.zeros((4, 2), np.float64)),
            "table must be float32, float16 or bfloat16, got float64",
        ),
        (
            dict(table=np.zeros((4, 2, 1), np.float32)),
            r"table must be 2-D \[V, D\], got shape \(4, 2, 1\)",
        ),
        (dict(ids=np.zeros((2, 2), np.float32)), "ids must be int32 or int64, got float32"),
        (dict(ids=np.zeros((2,), np.int64)), r"padded ids must be 2-D \[B, L\].*got shape \(2,\)"),
        (dict(combiner="max"), r"combiner must be one of \('sum', 'mean', 'sqrtn'\), got 'max'"),
        (dict(ids=tf.ragged.constant([[1]]), lengths=[1]), "lengths is only for padded ids"),
        (
            dict(ids=tf.ragged.constant([[1]]), weights=np.ones((1, 1))),
            "weights must be ragged like ids",
        ),
        (dict(lengths=np.array([1.5, 2.0])), "lengths must be an integer tensor, got float64"),
    ],
)
def test_python_side_errors(kwargs, match):
    args = dict(table=TABLE, ids=np.zeros((2, 2), np.int64))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        embedding_pool(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ids=np.array([[1, 10]])), r"ids\[0, 1\] = 10 is out of range \[0, 10\)"),
        (
            dict(ids=np.array([[1, 2]]), lengths=np.array([3])),
            r"lengths\[0\] = 3 is outside \[0, 2\]",
        ),
        (
            dict(ids=np.array([1, 2]), row_splits=np.array([0, 3])),
            r"row_splits must be non-decreasing from 0 to 2 \(the number of ids\); "
            r"row_splits\[1\] = 3",
        ),
        (dict(ids=np.array([[1.0, 2.0]])), "ids must have an integer dtype, got float64"),
        (
            dict(ids=np.array([[1, 2]]), lengths=np.array([1, 1])),
            r"lengths must have shape \[1\] to match ids of shape \[1, 2\], got \[2\]",
        ),
        (
            dict(ids=np.array([[1, 2]]), weights=np.ones(3)),
            r"weights must have the shape of ids \[1, 2\], got \[3\]",
        ),
        (dict(ids=np.array([[1, 2]]), combiner="max"), "combiner must be one of"),
        (
            dict(table=np.zeros((10, 4), np.float64), ids=np.array([[1]])),
            "table must be float32, float16 or bfloat16, got float64",
        ),
    ],
)
def test_arrays_bad_input_raises_value_error(kwargs, match):
    args = dict(table=np.zeros((10, 4), np.float32))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        arrays.embedding_pool(**args)
