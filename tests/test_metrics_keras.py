"""Keras metric classes: streaming, weights, scores input, config, compiled models;
and the most-popular baseline under the leave-last-out protocol."""

import keras
import numpy as np
import pandas as pd
import pytest

from tests.test_metrics import reference
from ydnn.data import most_popular_top_k, prepare_sequences
from ydnn.metrics import (
    MAPAtK,
    MRRAtK,
    NDCGAtK,
    PrecisionAtK,
    RecallAtK,
    default_metrics,
    evaluate_most_popular,
    functions,
)

CLASSES = {
    "recall": RecallAtK,
    "precision": PrecisionAtK,
    "ndcg": NDCGAtK,
    "mrr": MRRAtK,
    "map": MAPAtK,
}


@pytest.mark.parametrize("name", list(CLASSES))
def test_streaming_mean_update_result_reset(rng, name):
    k = 5
    top = np.stack([rng.permutation(12)[:8] for _ in range(90)]).astype(np.int64)
    target = rng.integers(0, 12, 90)
    ref = reference(target, top, k)[name]
    m = CLASSES[name](k)
    assert m.name == f"{name}_at_5"
    m.update_state(target[:40], top[:40])
    m.update_state(target[40:], top[40:])
    assert float(m.result()) == pytest.approx(ref.mean(), rel=1e-6)
    m.reset_state()
    assert float(m.result()) == 0.0
    w = rng.random(90)
    m.update_state(target, top, sample_weight=w)
    assert float(m.result()) == pytest.approx((ref * w).sum() / w.sum(), rel=1e-6)


def test_scores_input_takes_top_k(rng):
    scores = rng.random((50, 30)).astype(np.float32)
    target = rng.integers(0, 30, 50)
    top = np.argsort(-scores, axis=1, kind="stable")
    m = NDCGAtK(10)
    m.update_state(target[:, None], scores)
    assert float(m.result()) == pytest.approx(reference(target, top, 10)["ndcg"].mean(), rel=1e-6)
    with pytest.raises(ValueError, match="scores must be"):
        m.update_state(target, scores[0])


@pytest.mark.parametrize("name", list(CLASSES))
def test_config_round_trip(name):
    m = CLASSES[name](k=20, name="custom")
    config = m.get_config()
    assert config == {"k": 20, "name": "custom", "dtype": "float32"}
    again = CLASSES[name].from_config(config)
    assert again.k == 20 and again.name == "custom"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m))
    assert type(restored) is CLASSES[name] and restored.get_config() == config
    assert CLASSES[name]().name == f"{name}_at_10"


def test_bad_k():
    with pytest.raises(ValueError, match="RecallAtK: k must be an integer >= 1"):
        RecallAtK(0)


def test_default_metrics_are_merlins_set():
    assert [m.name for m in default_metrics()] == [
        "recall_at_10",
        "mrr_at_10",
        "ndcg_at_10",
        "map_at_10",
        "precision_at_10",
    ]


def test_in_a_compiled_model(rng, tmp_path):
    n_items, b = 40, 64
    x = rng.integers(1, n_items, (b, 3)).astype(np.int32)
    y = rng.integers(1, n_items, b).astype(np.int32)
    inp = keras.Input((3,), dtype="int32")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(n_items, 8)(inp))
    model = keras.Model(inp, keras.layers.Dense(n_items)(h))
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=default_metrics(10),
    )
    result = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    scores = model.predict(x, verbose=0)
    ref = reference(y, np.argsort(-scores, axis=1, kind="stable"), 10)
    for name in CLASSES:
        assert result[f"{name}_at_10"] == pytest.approx(ref[name].mean(), rel=1e-5, abs=1e-7)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    again = loaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(again) >= {"recall_at_10", "ndcg_at_10"}


def popularity_log():
    # Popularity (train counts) after leave-last-out: see test below.
    return pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2, 2, 2, 3, 3, 3],
            "item_id": [10, 20, 30, 40, 10, 20, 40, 10, 30, 20],
            "timestamp": [1, 2, 3, 4, 1, 2, 3, 1, 2, 3],
        }
    )


def test_most_popular_protocol_exact():
    data = prepare_sequences(popularity_log(), max_history=5)
    # Frequencies: 10:3, 20:3, 40:2, 30:2 -> ids 10=1, 20=2, 30=3, 40=4 (ties by id).
    assert list(data.item_ids[1:]) == [10, 20, 30, 40]
    # Held out: user1 40(4), user2 40(4), user3 20(2); train counts [0, 3, 2, 2, 0].
    assert list(data.train_item_counts) == [0, 3, 2, 2, 0]
    top = most_popular_top_k(data, k=3, exclude_seen=False)
    assert top.tolist() == [[1, 2, 3]] * 3
    top = most_popular_top_k(data, k=3, exclude_seen=True)
    # seen: u1 {1,2,3}, u2 {1,2}, u3 {1,3}; leftovers padded with 0.
    assert top.tolist() == [[4, 0, 0], [3, 4, 0], [2, 4, 0]]
    assert most_popular_top_k(data, k=2, exclude_seen=False, min_id=2).tolist() == [[2, 3]] * 3
    assert most_popular_top_k(data, k=2, exclude_seen=False, counts="all").tolist() == [[1, 2]] * 3
    assert most_popular_top_k(data, k=1, users=[2]).tolist() == [[2]]
    got = evaluate_most_popular(data, k=3, exclude_seen=True)
    ref = reference(data.test.target, np.array([[4, 0, 0], [3, 4, 0], [2, 4, 0]]), 3)
    assert got == pytest.approx({f"{n}_at_3": ref[n].mean() for n in functions.METRIC_NAMES})
    assert got["recall_at_3"] == pytest.approx(1.0)


def test_most_popular_errors():
    data = prepare_sequences(popularity_log())
    with pytest.raises(ValueError, match="k must be"):
        most_popular_top_k(data, k=0)
    with pytest.raises(ValueError, match="min_id must be"):
        most_popular_top_k(data, min_id=-1)
    with pytest.raises(ValueError, match="counts must be"):
        most_popular_top_k(data, counts="test")
    with pytest.raises(TypeError, match="SequenceData"):
        most_popular_top_k(data.train)
