"""tf.data pipeline: batches, coverage, seeded determinism, options, errors."""

import numpy as np
import pytest
import tensorflow as tf

from ydnn.data import Examples, to_dataset


def make_examples(n=103, h=4, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, h + 1, n).astype(np.int32)
    hist = rng.integers(1, 50, (n, h)).astype(np.int32)
    hist[np.arange(h)[None, :] >= lengths[:, None]] = 0
    # Targets encode the row so coverage and alignment can be checked.
    return Examples(
        hist, lengths, np.arange(n, dtype=np.int32) + 1000, np.arange(n, dtype=np.int32) % 7
    )


def collect(ds):
    feats, targets = [], []
    for f, y in ds:
        feats.append({k: v.numpy() for k, v in f.items()})
        targets.append(y.numpy())
    return feats, targets


def test_batches_shapes_and_alignment():
    ex = make_examples()
    ds = to_dataset(ex, 16, seed=1, include_lengths=True, include_user=True)
    spec_f, spec_y = ds.element_spec
    assert spec_f["item_id"].shape.as_list() == [None, 4] and spec_f["item_id"].dtype == tf.int32
    assert spec_y.dtype == tf.int32
    feats, targets = collect(ds)
    assert [len(t) for t in targets] == [16] * 6 + [7]
    for f, y in zip(feats, targets):
        rows = y - 1000
        np.testing.assert_array_equal(f["item_id"], ex.history[rows])
        np.testing.assert_array_equal(f["item_id_length"], ex.lengths[rows])
        np.testing.assert_array_equal(f["user_index"], ex.user[rows])


def test_shuffle_covers_every_row_once_and_is_seeded():
    ex = make_examples()
    _, a = collect(to_dataset(ex, 10, seed=5))
    _, b = collect(to_dataset(ex, 10, seed=5))
    _, c = collect(to_dataset(ex, 10, seed=6))
    a, b, c = np.concatenate(a), np.concatenate(b), np.concatenate(c)
    assert sorted(a - 1000) == list(range(len(ex)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, np.sort(a))


def test_repeat_reshuffles_each_pass_deterministically():
    ex = make_examples(n=40)
    _, y = collect(to_dataset(ex, 40, seed=2, repeat=3))
    assert len(y) == 3
    assert all(sorted(e - 1000) == list(range(40)) for e in y)
    assert not np.array_equal(y[0], y[1])
    _, y2 = collect(to_dataset(ex, 40, seed=2, repeat=3))
    np.testing.assert_array_equal(np.concatenate(y), np.concatenate(y2))
    endless = to_dataset(ex, 8, seed=2, repeat=True)
    assert len(list(endless.take(20))) == 20


def test_no_shuffle_keeps_order_and_drop_remainder():
    ex = make_examples(n=21)
    feats, y = collect(to_dataset(ex, 5, shuffle=False, drop_remainder=True, item_column="hist"))
    assert list(feats[0]) == ["hist"]
    np.testing.assert_array_equal(np.concatenate(y), ex.target[:20])
    assert to_dataset(ex, 5, shuffle=False, drop_remainder=True).element_spec[1].shape[0] == 5


def test_works_in_keras_fit():
    import keras

    ex = make_examples(n=64)
    ex = Examples(ex.history, ex.lengths, ex.target - 1000, ex.user)
    inp = keras.Input((4,), dtype="int32", name="item_id")
    out = keras.layers.Dense(64)(
        keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8)(inp))
    )
    model = keras.Model({"item_id": inp}, out)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(to_dataset(ex, 16, seed=0), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(batch_size=2.0), "batch_size"),
        (dict(batch_size=4, repeat=0), "repeat must be"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        to_dataset(make_examples(), **kwargs)
    with pytest.raises(TypeError, match="takes ydnn.data.Examples"):
        to_dataset(np.zeros((3, 2)), 2)


def test_examples_helpers_and_validation():
    ex = make_examples(n=5, h=3)
    values, splits = ex.ragged_history()
    assert splits.tolist() == [0] + np.cumsum(ex.lengths).tolist()
    assert values.tolist() == [v for r in range(5) for v in ex.history[r, : ex.lengths[r]]]
    sub = ex.take([4, 0])
    assert sub.target.tolist() == [1004, 1000] and sub.max_history == 3 and len(sub) == 2
    with pytest.raises(ValueError, match=r"target must have shape \(5,\)"):
        Examples(ex.history, ex.lengths, ex.target[:3], ex.user)
    with pytest.raises(ValueError, match="history must be"):
        Examples(ex.history[0], ex.lengths, ex.target, ex.user)


def test_seen_items_ride_along_as_ragged_rows():
    import pandas as pd

    from ydnn.data import prepare_sequences

    log = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 3, 3, 3, 3, 3],
            "item_id": [10, 20, 30, 40, 20, 30, 10, 60, 20],
            "timestamp": [1, 1, 3, 5, 1, 2, 3, 4, 5],
        }
    )
    data = prepare_sequences(log, max_history=2)
    for shuffle in (False, True):
        feats, y = collect(to_dataset(data.test, 1, shuffle=shuffle, seed=0, seen=data))
        for f, t in zip(feats, y):
            u = int(np.flatnonzero(data.test.target == t[0])[0])
            assert [r.tolist() for r in f["seen_items"]] == [data.seen(u).tolist()]
    ds = to_dataset(data.test, 2, shuffle=False, seen=(data.seen_indptr, data.seen_items))
    f, _ = next(iter(ds))
    assert isinstance(f["seen_items"], tf.RaggedTensor)
    assert f["seen_items"].to_list() == [[1, 2, 3], [1, 2, 3, 5]]
    with pytest.raises(ValueError, match="seen CSR is inconsistent"):
        to_dataset(data.test, 2, seen=(np.array([0, 5]), np.array([1, 2])))
    with pytest.raises(ValueError, match="seen covers 1 users"):
        to_dataset(data.test, 2, seen=(np.array([0, 2]), np.array([1, 2])))
    with pytest.raises(TypeError, match="seen must be"):
        to_dataset(data.test, 2, seen=5)
