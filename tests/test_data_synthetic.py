"""Synthetic log: determinism, sizes, Zipf-like popularity, cluster structure,
and a gap between most-popular and a history-aware ranking."""

import numpy as np
import pytest

from ydnn.data import generate_interactions, most_popular_top_k, prepare_sequences
from ydnn.metrics import ranking_metrics


@pytest.fixture(scope="module")
def default_log():
    return generate_interactions(seed=0, return_truth=True)


def test_deterministic_by_seed():
    a = generate_interactions(num_users=200, num_items=600, num_interactions=5000, seed=3)
    b = generate_interactions(num_users=200, num_items=600, num_interactions=5000, seed=3)
    c = generate_interactions(num_users=200, num_items=600, num_interactions=5000, seed=4)
    assert a.equals(b) and not a.equals(c)


def test_sizes_and_log_shape(default_log):
    log, truth = default_log
    assert list(log.columns) == ["user_id", "item_id", "timestamp"]
    assert log.user_id.nunique() == 3000 and log.user_id.min() == 1
    assert 4900 <= log.item_id.nunique() <= 5000 and log.item_id.max() <= 5000
    assert abs(len(log) - 150_000) < 0.03 * 150_000
    per_user = log.groupby("user_id").size()
    assert per_user.min() >= 3 and per_user.std() > 10  # varied lengths
    assert not log.duplicated(["user_id", "item_id"]).any()  # no repeats per user
    assert (log.groupby("user_id").timestamp.diff().dropna() > 0).all()
    assert len(truth["row_cluster"]) == len(log)
    small = generate_interactions(num_users=10, num_items=300, num_interactions=10, seed=1)
    assert small.groupby("user_id").size().min() == 3


def test_popularity_is_zipf_like(default_log):
    log, truth = default_log
    counts = np.sort(log.item_id.value_counts().to_numpy())[::-1]
    ranks = np.arange(1, len(counts) + 1)
    sel = (ranks >= 10) & (ranks <= 1000)
    slope = np.polyfit(np.log(ranks[sel]), np.log(counts[sel]), 1)[0]
    assert -1.3 < slope < -0.4, slope
    top1 = counts[: len(counts) // 100].sum() / counts.sum()
    assert top1 > 0.08, top1  # top 1% of items: > 8x their share
    # Observed frequency follows the generator's popularity.
    pop = log.item_id.map(truth["item_popularity"]).groupby(log.item_id).first()
    freq = log.item_id.value_counts().reindex(pop.index)
    assert np.corrcoef(np.log(pop), np.log(freq))[0, 1] > 0.7


def test_histories_stay_in_and_drift_between_clusters(default_log):
    log, truth = default_log
    cl = log.item_id.map(truth["item_cluster"]).to_numpy()
    same_user = log.user_id.to_numpy()[1:] == log.user_id.to_numpy()[:-1]
    same = (cl[1:] == cl[:-1])[same_user].mean()
    assert same > 0.5, same  # chance is 1/50
    # Users move: the last item's cluster differs from the first's for most.
    first = log.groupby("user_id").item_id.first().map(truth["item_cluster"])
    last = log.groupby("user_id").item_id.last().map(truth["item_cluster"])
    assert (first != last).mean() > 0.5
    # Moves favour ring neighbours over random clusters.
    moves = np.stack([cl[:-1], cl[1:]], 1)[same_user & (cl[1:] != cl[:-1])]
    ring = np.minimum((moves[:, 0] - moves[:, 1]) % 50, (moves[:, 1] - moves[:, 0]) % 50) == 1
    assert ring.mean() > 0.3  # chance: 2/49


def test_history_aware_ranking_beats_popularity(default_log):
    log, truth = default_log
    data = prepare_sequences(log, max_history=20)
    pop = ranking_metrics(data.test.target, most_popular_top_k(data, 10), 10)["recall_at_10"]
    # Rank the last history item's cluster by training popularity, seen excluded.
    cl = np.array([-1] + [truth["item_cluster"][x] for x in data.item_ids[1:]])
    order = np.lexsort((np.arange(data.num_items + 1), -data.train_item_counts))
    order = order[order >= 1]
    top = np.zeros((data.num_users, 10), np.int32)
    for u in range(data.num_users):
        c = cl[data.test.history[u, data.test.lengths[u] - 1]]
        seen = set(data.seen(u).tolist())
        cand = [i for i in order if cl[i] == c and i not in seen][:10]
        top[u, : len(cand)] = cand
    aware = ranking_metrics(data.test.target, top, 10)["recall_at_10"]
    assert pop < 0.06 and aware > 0.2 and aware > 4 * pop, (pop, aware)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_users=0), "num_users must be an integer >= 1"),
        (dict(num_items=20, num_clusters=10), "num_items"),
        (dict(stay=1.5), "stay must be a probability"),
        (dict(zipf_exponent=-1.0), "zipf_exponent"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_interactions(**kwargs)
