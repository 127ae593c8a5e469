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
        np.testing.assert_array_equal(row[: t - 1], np.arange(1, t))
        assert (row[t - 1 :] == 0).all()


def test_in_a_dataset_map():
    ds = tf.data.Dataset.from_tensor_slices({"item_id": SEQ}).batch(2).map(PredictLast())
    ys = np.concatenate([y.numpy() for _, y in ds])
    np.testing.assert_array_equal(ys, [7, 8, 4])


def test_a_given_target_is_replaced_as_merlin_does():
    once, first = PredictLast()({"item_id": SEQ[[0, 2]]})
    twice, second = PredictLast()(once, first)
    again, _ = PredictLast()(once)
    np.testing.assert_array_equal(second.numpy(), _.numpy())
    np.testing.assert_array_equal(twice["item_id"].numpy(), again["item_id"].numpy())
    assert not np.array_equal(second.numpy(), first.numpy())
    _, targets = PredictLast()(once, {"item_id": first, "other": first})
    assert sorted(targets) == ["item_id", "other"]
    np.testing.assert_array_equal(targets["item_id"].numpy(), second.numpy())


def test_bad_input():
    with pytest.raises(ValueError, match="missing sequence feature 'item_id'"):
        PredictLast()({"items": SEQ})
    with pytest.raises(tf.errors.InvalidArgumentError, match="has no ids"):
        PredictLast()({"item_id": np.zeros((2, 3), np.int32)})


def _merlin23_schema():
    import os

    from ydnn import Schema

    return Schema.read(
        os.path.join(os.path.dirname(__file__), "data", "merlin23_sequence_schema.json")
    )


CATS = np.array([[50, 60, 70, 0], [80, 0, 0, 0], [10, 20, 30, 40]], np.int32)


def test_sequence_predict_last_cuts_every_sequence_feature_of_the_schema():
    """The target item's own category must not stay in the input (Merlin's
    SequencePredictLast cuts every sequence feature at the same place)."""
    from ydnn import SequencePredictLast

    schema = _merlin23_schema()
    pre = SequencePredictLast(schema=schema, target="item_id_seq")
    ages = np.array([0.1, 0.2, 0.3], np.float32)
    f, y = pre({"item_id_seq": SEQ, "categories": CATS, "user_age": ages})
    np.testing.assert_array_equal(y, [7, 8, 4])
    np.testing.assert_array_equal(f["categories"], [[50, 60, 0, 0], [0, 0, 0, 0], [10, 20, 30, 0]])
    np.testing.assert_array_equal(f["user_age"], ages)  # not a sequence: untouched
    ragged = {
        k: tf.RaggedTensor.from_tensor(v, padding=0)
        for k, v in (("item_id_seq", SEQ), ("categories", CATS))
    }
    rf, ry = SequencePredictLast(schema)(ragged)  # target defaults to the item id
    np.testing.assert_array_equal(ry, [7, 8, 4])
    assert rf["item_id_seq"].to_list() == [[5, 6], [], [1, 2, 3]]
    assert rf["categories"].to_list() == [[50, 60], [], [10, 20, 30]]
    # The old transform cuts only its column: the leak the schema closes.
    old, _ = PredictLast("item_id_seq")({"item_id_seq": SEQ, "categories": CATS})
    np.testing.assert_array_equal(old["categories"], CATS)


def test_sequence_predict_random_cuts_at_the_drawn_position():
    from ydnn import SequencePredictRandom

    seq = np.tile(np.arange(1, 11, dtype=np.int32), (200, 1))
    cats = seq * 10
    f, y = SequencePredictRandom(_merlin23_schema(), seed=5)(
        {"item_id_seq": seq, "categories": cats}
    )
    for hist, cat, t in zip(f["item_id_seq"].numpy(), f["categories"].numpy(), y.numpy()):
        np.testing.assert_array_equal(cat[: t - 1], 10 * hist[: t - 1])
        assert (cat[t - 1 :] == 0).all() and (hist[t - 1 :] == 0).all()


def test_sequence_target_by_tag_and_bad_targets():
    from ydnn import SequencePredictLast, Tags

    schema = _merlin23_schema()
    assert SequencePredictLast(schema, target=Tags.ITEM_ID).column == "item_id_seq"
    assert SequencePredictLast(schema, target="item_id").column == "item_id_seq"  # the tag
    assert SequencePredictLast(schema).cut_columns == ("categories",)
    with pytest.raises(
        ValueError,
        match=r"target 'session' is neither a column of the schema "
        r"nor a tag of exactly one of its columns",
    ):
        SequencePredictLast(schema, target="session")
    with pytest.raises(ValueError, match=r"target must be a column name"):
        PredictLast(target=3)


def test_sequence_predict_last_in_a_dataset_map():
    from ydnn import SequencePredictLast

    ds = tf.data.Dataset.from_tensor_slices({"item_id_seq": SEQ, "categories": CATS}).batch(2)
    got = [
        (f["categories"].numpy(), y.numpy())
        for f, y in ds.map(SequencePredictLast(_merlin23_schema()))
    ]
    np.testing.assert_array_equal(np.concatenate([y for _, y in got]), [7, 8, 4])
    np.testing.assert_array_equal(
        np.concatenate([c for c, _ in got]), [[50, 60, 0, 0], [0, 0, 0, 0], [10, 20, 30, 0]]
    )


def test_ragged_rows_are_ids_to_their_end_and_left_padding_is_refused():
    f, y = PredictLast()(
        {"item_id": tf.ragged.constant([[0, 5, 7], [3, 0, 9], [4, 6]], dtype=tf.int64)}
    )
    np.testing.assert_array_equal(y, [7, 9, 6])  # Merlin: the row's last element
    assert f["item_id"].to_list() == [[0, 5], [3, 0], [4]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="has a real id after padding id 0"):
        PredictLast()({"item_id": np.array([[0, 5, 7], [4, 6, 0]], np.int64)})
