"""Ranking metrics: TF functions vs float64 loop references, hand cases, errors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from ydnn.metrics import functions as F


def reference(target, top_ids, k):
    """Per-row metrics in float64, one loop per row, from the definitions."""
    out = {name: [] for name in F.METRIC_NAMES}
    for t, row in zip(target, top_ids):
        rank = 0
        for pos, item in enumerate(row[:k]):
            if item == t:
                rank = pos + 1
                break
        out["recall"].append(1.0 if rank else 0.0)
        out["precision"].append(1.0 / k if rank else 0.0)
        out["ndcg"].append(1.0 / math.log2(rank + 1) if rank else 0.0)
        out["mrr"].append(1.0 / rank if rank else 0.0)
        # AP@k: mean over relevant items (one) of precision at its rank.
        out["map"].append((1.0 / rank) if rank else 0.0)
    return {name: np.array(v) for name, v in out.items()}


def test_hand_cases():
    target = [5, 7, 9, 4]
    top = [[5, 1, 2, 3], [1, 2, 7, 3], [1, 2, 3, 4], [4, 4, 1, 2]]  # rank 1, 3, miss, 1 (dup)
    np.testing.assert_array_equal(F.hit_rank(target, top).numpy(), [1, 3, 0, 1])
    np.testing.assert_allclose(F.recall_at_k(target, top).numpy(), [1, 1, 0, 1])
    np.testing.assert_allclose(F.precision_at_k(target, top).numpy(), [0.25, 0.25, 0, 0.25])
    np.testing.assert_allclose(F.ndcg_at_k(target, top).numpy(), [1, 0.5, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(F.mrr_at_k(target, top).numpy(), [1, 1 / 3, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(F.map_at_k(target, top).numpy(), [1, 1 / 3, 0, 1], rtol=1e-6)
    # k cuts the list: at k=2 the rank-3 hit is a miss.
    np.testing.assert_allclose(F.recall_at_k(target, top, k=2).numpy(), [1, 0, 0, 1])
    np.testing.assert_allclose(F.precision_at_k(target, top, k=2).numpy(), [0.5, 0, 0, 0.5])
    assert F.ranking_metrics(target, top, k=4) == pytest.approx(
        {
            "recall_at_4": 0.75,
            "precision_at_4": 0.1875,
            "ndcg_at_4": 0.625,
            "mrr_at_4": (2 + 1 / 3) / 4,
            "map_at_4": (2 + 1 / 3) / 4,
        }
    )


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("k", [1, 5, 10, 20])
@pytest.mark.parametrize("graph", [False, True])
def test_random_vs_reference(rng, dtype, k, graph):
    b, width, n = 300, 20, 30
    top = np.stack([rng.permutation(n)[:width] for _ in range(b)]).astype(dtype)
    target = rng.integers(0, n, b).astype(dtype)
    ref = reference(target, top, k)
    for name, fn in F.FUNCTIONS.items():
        call = (
            tf.function(lambda t, p, fn=fn: fn(t, p, k))
            if graph
            else (lambda t, p, fn=fn: fn(t, p, k))
        )
        got = call(tf.constant(target), tf.constant(top)).numpy()
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref[name], rtol=1e-6, atol=1e-7, err_msg=name)
    # [B, 1] targets work the same.
    np.testing.assert_allclose(F.ndcg_at_k(target[:, None], top, k).numpy(), ref["ndcg"], rtol=1e-6)


def test_dynamic_shapes_in_tf_function():
    fn = tf.function(
        F.ndcg_at_k,
        input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, None], tf.int64)],
    )
    out = fn(tf.constant([3, 4], tf.int64), tf.constant([[1, 3], [2, 5]], tf.int64)).numpy()
    np.testing.assert_allclose(out, [1 / math.log2(3), 0.0], rtol=1e-6)


def test_empty_batch():
    out = F.recall_at_k(tf.zeros([0], tf.int32), tf.zeros([0, 10], tf.int32), 10)
    assert out.shape == (0,)


def test_top_k_ids_from_scores_with_exclusions():
    scores = tf.constant([[0.1, 0.9, 0.5, 0.9], [1.0, 0.2, 0.3, 0.0]])
    exclude = tf.constant([[False, True, False, False], [True, False, False, False]])
    assert F.top_k_ids_from_scores(scores, 2).numpy().tolist() == [[1, 3], [0, 2]]
    assert F.top_k_ids_from_scores(scores, 2, exclude).numpy().tolist() == [[3, 2], [2, 1]]


@pytest.mark.parametrize(
    "args, message",
    [
        (([1.0], [[1, 2]]), "target must be integer ids"),
        (([1], [[1.0, 2.0]]), "top_k_ids must be integer ids"),
        (([1], [1, 2]), r"top_k_ids must be \[batch, k\]"),
        (([[1, 2]], [[1, 2]]), r"target must be \[batch\]"),
    ],
)
def test_input_errors(args, message):
    with pytest.raises(ValueError, match=message):
        F.recall_at_k(*args)


@pytest.mark.parametrize(
    "k, message", [(0, "k must be an integer >= 1"), (3, "k=3 but top_k_ids has only 2")]
)
def test_k_errors(k, message):
    with pytest.raises(ValueError, match=message):
        F.ndcg_at_k([1], [[1, 2]], k)


def test_package_functions_are_the_functions_not_their_class_modules():
    # `ydnn.metrics.recall_at_k` once named the module recall_at_k.py (bound
    # on the package by importing RecallAtK after the function).
    import ydnn.metrics as metrics

    for name in ("recall_at_k", "precision_at_k", "ndcg_at_k", "mrr_at_k", "map_at_k"):
        fn = getattr(metrics, name)
        assert callable(fn), name
        np.testing.assert_allclose(
            fn(np.array([3]), np.array([[1, 3]]), 2),
            getattr(F, name)(np.array([3]), np.array([[1, 3]]), 2),
        )
