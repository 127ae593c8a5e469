"""Sequence-to-target transforms: exact outputs on hand-made sequences."""

import numpy as np
import pytest
import tensorflow as tf

from ydnn.transforms import PredictLast, PredictRandom

SEQ = np.array([[5, 6, 7, 0], [8, 0, 0, 0], [1, 2, 3, 4]], np.int32)


def test_predict_last_padded_and_ragged():
    f, y = PredictLast()({"item_id": SEQ, "age": np.ones(3, np.float32)})
    np.testing.assert_array_equal(y, [7, 8, 4])
    np.testing.assert_array_equal(f["item_id"], [[5, 6, 0, 0], [0, 0, 0, 0], [1, 2, 3, 0]])
    np.testing.assert_array_equal(f["age"], np.ones(3))
    rf, ry = PredictLast()({"item_id": tf.RaggedTensor.from_tensor(SEQ, padding=0)})
    np.testing.assert_array_equal(ry, [7, 8, 4])
    assert rf["item_id"].to_list() == [[5, 6], [], [1, 2, 3]]


def test_predict_random_takes_a_later_position_and_its_prefix():
    seq = np.tile(np.arange(1, 11, dtype=np.int32), (500, 1))
    f, y = PredictRandom(seed=3)({"item_id": seq})
    y = y.numpy()
    assert y.min() == 2 and y.max() == 10, "every position t >= 1 is reachable"
    hist = f["item_id"].numpy()
    for row, t in zip(hist, y):
        np.testing.assert_array_equal(row[:t - 1], np.arange(1, t))
        assert (row[t - 1:] == 0).all()


def test_in_a_dataset_map():
    ds = tf.data.Dataset.from_tensor_slices({"item_id": SEQ}).batch(2).map(PredictLast())
    ys = np.concatenate([y.numpy() for _, y in ds])
    np.testing.assert_array_equal(ys, [7, 8, 4])


def test_bad_input():
    with pytest.raises(ValueError, match="missing sequence feature 'item_id'"):
        PredictLast()({"items": SEQ})
    with pytest.raises(ValueError, match="already has one"):
        PredictLast()({"item_id": SEQ}, np.zeros(3))
    with pytest.raises(tf.errors.InvalidArgumentError, match="has no ids"):
        PredictLast()({"item_id": np.zeros((2, 3), np.int32)})
