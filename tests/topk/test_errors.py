"""Bad input to topk_scores: a clear error naming the argument, its shape
and the bad value, the same words from the NumPy and TF paths."""

import numpy as np
import pytest
import tensorflow as tf

from ydnn_kernels import topk_scores as tf_topk
from ydnn_kernels.arrays import topk_scores as np_topk

T = np.ones((10, 4), np.float32)
Q = np.ones((2, 4), np.float32)


def tf_call(q, t, k, exclude=None, min_id=0):
    if isinstance(exclude, list):
        exclude = tf.ragged.constant(exclude, dtype=tf.int64, ragged_rank=1)
    return tf_topk(q, t, k, exclude, min_id)


CALLS = {"numpy": np_topk, "tf": tf_call}
ERRORS = (ValueError, tf.errors.InvalidArgumentError)


@pytest.mark.parametrize("path", CALLS)
@pytest.mark.parametrize(
    "args, words",
    [
        ((Q, T, 0), "k must be"),
        ((Q, T, 11), "k must be in [1, 10]"),
        ((Q, T, 10, None, 1), "k must be in [1, 9]"),
        ((Q, T, 3, None, 10), "min_id must be in [0, 9]"),
        ((Q, T, 2.0), "k must be an integer"),
        ((Q[:, :3], T, 2), "[B, 4]"),
        ((Q[0], T, 2), "queries must be 2-D"),
        ((Q, T.astype(np.int32), 2), "float32, float16 or bfloat16"),
        ((Q, T, 2, [[1], [10]]), "exclude values must be ids in [0, 10)"),
        ((Q, T, 2, [[-1], []]), "has -1 at [0]"),
        ((np.array([[1, np.inf, 0, 0], [0, 0, 0, 0]], np.float32), T, 2), "has inf at [0, 1]"),
    ],
)
def test_bad_input_is_named(path, args, words):
    with pytest.raises(ERRORS) as e:
        CALLS[path](*args)
    assert words in str(e.value), str(e.value)


def test_exclusion_lists_must_match_the_rows():
    with pytest.raises(ValueError, match=r"one id list per query row \(2\), got 3"):
        np_topk(Q, T, 2, [[1], [2], [3]])
    with pytest.raises(ValueError, match="row_splits"):
        np_topk(Q, T, 2, (np.array([1, 2]), np.array([0, 1, 2, 2])))
    with pytest.raises(ValueError, match=r"row_splits\[1\] = 5"):
        np_topk(Q, T, 2, (np.array([1, 2]), np.array([0, 5, 2])))
    with pytest.raises(ValueError, match="integer"):
        np_topk(Q, T, 2, [[1.5], []])
