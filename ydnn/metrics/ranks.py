"""Metrics at several cut-offs from one ranking, and their uncertainty over users.

With one relevant item per row, every top-k metric is a function of the
rank `r` (1-based) at which the item appears in a list of length `depth`
(`r = 0`: not in it): recall@k `[0 < r <= k]`, NDCG@k `1 / log2(r + 1)`,
MRR@k = MAP@k `1 / r`, precision@k `recall@k / k`. So a list of depth 100
gives the metrics at 10, 20, 50 and 100 at once, and per-row values give a
bootstrap interval over users, the uncertainty of one evaluation (the
spread over training seeds is the other half and needs several runs).
"""

import numpy as np

CUTOFFS = (10, 20, 50, 100)


def target_ranks(target, top_ids):
    """1-based rank of each target in its row of `top_ids`, 0 when absent.

    Args:
        target: `[B]` integer ids.
        top_ids: `[B, depth]` integer ids, best first.

    Returns:
        `[B]` int32.

    Raises:
        ValueError: shapes that do not match.
    """
    target = np.asarray(target).reshape(-1)
    top_ids = np.asarray(top_ids)
    if top_ids.ndim != 2 or top_ids.shape[0] != target.shape[0]:
        raise ValueError(
            f"top_ids must be [B, depth] with B = {target.shape[0]} (the targets), got "
            f"shape {top_ids.shape}"
        )
    hit = top_ids == target[:, None]
    return np.where(hit.any(1), hit.argmax(1) + 1, 0).astype(np.int32)


def metrics_from_ranks(ranks, cutoffs=CUTOFFS):
    """Means of recall / NDCG / MRR / MAP / precision at each cut-off.

    Args:
        ranks: `[B]` ranks from `target_ranks` (lists at least `max(cutoffs)` deep).
        cutoffs: the `k`s, each >= 1.

    Returns:
        `{"recall_at_10": float, "ndcg_at_10": ..., ...}` for every cut-off.
    """
    ranks = np.asarray(ranks)
    out = {}
    for k in cutoffs:
        hit = (ranks > 0) & (ranks <= k)
        r = np.where(hit, ranks, 1).astype(np.float64)
        recall = hit.astype(np.float64)
        out[f"recall_at_{k}"] = float(recall.mean())
        out[f"ndcg_at_{k}"] = float(np.where(hit, 1.0 / np.log2(r + 1.0), 0.0).mean())
        out[f"mrr_at_{k}"] = float(np.where(hit, 1.0 / r, 0.0).mean())
        out[f"map_at_{k}"] = out[f"mrr_at_{k}"]
        out[f"precision_at_{k}"] = out[f"recall_at_{k}"] / k
    return out


def bootstrap_interval(values, level=0.95, draws=2000, seed=0):
    """Percentile bootstrap interval of the mean of per-user values.

    Args:
        values: `[B]` per-user values (e.g. recall@10 hits as 0/1).
        level: coverage in (0, 1).
        draws: resamples of `B` users with replacement.
        seed: the resampling seed (the interval is reproducible).

    Returns:
        `(low, high)` floats.

    Raises:
        ValueError: no values, or `level` outside (0, 1).

    Example:
    ```python
    ranks = target_ranks(target, top_ids)
    low, high = bootstrap_interval((ranks > 0) & (ranks <= 10))
    ```
    """
    values = np.asarray(values, np.float64).reshape(-1)
    if not values.size:
        raise ValueError("values must hold at least one user, got none")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    # Resampled means in blocks, so memory stays O(block * B) for any B.
    means = np.empty(draws)
    block = max(1, 2**22 // values.size)
    for lo in range(0, draws, block):
        hi = min(draws, lo + block)
        means[lo:hi] = values[rng.integers(0, values.size, (hi - lo, values.size))].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)
