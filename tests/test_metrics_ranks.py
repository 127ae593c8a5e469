"""Metrics at several cut-offs from one ranking, and the bootstrap interval.

Reference: `ydnn.metrics.ranking_metrics` (the TF functions the Keras
metrics use) on the same lists cut at each `k`; exact equality up to float32
rounding of those functions (rtol 1e-6).
"""

import numpy as np
import pytest

from ydnn.metrics import bootstrap_interval, metrics_from_ranks, ranking_metrics, target_ranks


def _lists(rows=300, depth=100, catalog=400, seed=0):
    rng = np.random.default_rng(seed)
    top = np.stack([rng.permutation(catalog)[:depth] for _ in range(rows)])
    # About half the targets are in the list, at every depth.
    target = np.where(
        rng.random(rows) < 0.5,
        top[np.arange(rows), rng.integers(0, depth, rows)],
        rng.integers(0, catalog, rows),
    )
    return target, top


def test_ranks_are_one_based_and_zero_when_absent():
    top = np.array([[5, 6, 7], [1, 2, 3]])
    assert target_ranks(np.array([7, 9]), top).tolist() == [3, 0]
    assert target_ranks(np.array([[5], [1]]), top).tolist() == [1, 1]


@pytest.mark.parametrize("cutoffs", [(10, 20, 50, 100), (1, 3), (7,)])
def test_metrics_from_ranks_equal_ranking_metrics_at_each_cutoff(cutoffs):
    target, top = _lists()
    got = metrics_from_ranks(target_ranks(target, top), cutoffs)
    for k in cutoffs:
        want = ranking_metrics(target, top, k)
        for name, value in want.items():
            assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name


def test_deeper_cutoffs_never_lower_recall():
    target, top = _lists(seed=1)
    m = metrics_from_ranks(target_ranks(target, top))
    recalls = [m[f"recall_at_{k}"] for k in (10, 20, 50, 100)]
    assert recalls == sorted(recalls) and recalls[0] < recalls[-1]


def test_target_ranks_refuses_mismatched_rows():
    with pytest.raises(ValueError, match=r"top_ids must be \[B, depth\] with B = 3"):
        target_ranks(np.zeros(3, int), np.zeros((2, 5), int))


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_users():
    rng = np.random.default_rng(0)
    small = rng.random(200) < 0.1
    large = rng.random(20000) < 0.1
    lo_s, hi_s = bootstrap_interval(small)
    lo_l, hi_l = bootstrap_interval(large)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    # Binomial standard error: the 95% width is about 3.92 sqrt(p (1 - p) / n).
    for values, (lo, hi) in ((small, (lo_s, hi_s)), (large, (lo_l, hi_l))):
        p = values.mean()
        expect = 3.92 * np.sqrt(p * (1 - p) / len(values))
        assert hi - lo == pytest.approx(expect, rel=0.15)
    assert bootstrap_interval(small, seed=3) == bootstrap_interval(small, seed=3)


def test_bootstrap_interval_bad_input():
    with pytest.raises(ValueError, match="at least one user"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\), got 1.5"):
        bootstrap_interval([1, 0], level=1.5)
