"""A synthetic interaction log with the structure next-item models exploit.

Generative story (all draws from one seeded `numpy.random.Generator`):

* items: `num_items`, each in one of `num_clusters` latent clusters (random,
  near-equal sizes); a global popularity `w_i ~ rank_i^-zipf_exponent` over a
  random rank permutation, so popularity is Zipf-like and unrelated to the
  cluster;
* clusters sit on a ring; a user starts in a cluster drawn by cluster mass;
  before each interaction the user stays in the current cluster with
  probability `stay`, otherwise drifts to a ring neighbour (probability
  `1 - jump` of the moves) or jumps to a random cluster;
* the item is drawn from the current cluster with probability `1 -
  noise`, by popularity within the cluster, else from the global popularity;
  a user never repeats an item (rejection, as in ratings logs);
* lengths: `3 + Poisson`-like (lognormal) so the mean is
  `num_interactions / num_users`; timestamps increase by exponential gaps
  from a random start.

A model that reads the history learns where the user is on the ring and
ranks that cluster's popular items; most-popular only knows `w`. With the
defaults (seed 0), on the leave-last-out test with seen items excluded,
most-popular gets Recall@10 = 0.038, while ranking the popular items of the
last history item's cluster gets 0.264 (tests/test_data_synthetic.py).
"""

import numba
import numpy as np
import pandas as pd

USER_COL, ITEM_COL, TIME_COL = "user_id", "item_id", "timestamp"


@numba.njit(cache=True)
def _walk(
    lengths,
    start_cluster,
    u_move,
    u_kind,
    u_ring,
    u_src,
    u_item,
    cluster_ptr,
    cluster_items,
    cluster_cdf,
    global_cdf,
    num_clusters,
    stay,
    jump,
    noise,
):
    total = lengths.sum()
    items = np.empty(total, np.int64)
    clusters = np.empty(total, np.int64)
    pos = 0
    draw = 0
    num_items = global_cdf.shape[0]
    for u in range(lengths.shape[0]):
        c = start_cluster[u]
        first = pos
        for _ in range(lengths[u]):
            if u_move[pos] >= stay:
                if u_kind[pos] < jump:
                    c = int(u_ring[pos] * num_clusters) % num_clusters
                else:
                    c = (c + (1 if u_ring[pos] < 0.5 else num_clusters - 1)) % num_clusters
            # Rejection keeps items unique per user; the draw stream is long
            # enough for 64 tries per interaction and wraps (still seeded).
            for _try in range(64):
                r = u_item[draw % u_item.shape[0]]
                src = u_src[draw % u_src.shape[0]]
                draw += 1
                if src < noise:
                    it = np.searchsorted(global_cdf, r * global_cdf[num_items - 1], side="right")
                    it = min(it, num_items - 1)
                else:
                    lo, hi = cluster_ptr[c], cluster_ptr[c + 1]
                    cdf = cluster_cdf[lo:hi]
                    k = np.searchsorted(cdf, r * cdf[hi - lo - 1], side="right")
                    it = cluster_items[lo + min(k, hi - lo - 1)]
                dup = False
                for j in range(first, pos):
                    if items[j] == it:
                        dup = True
                        break
                if not dup:
                    break
            items[pos] = it
            clusters[pos] = c
            pos += 1
    return items, clusters


def generate_interactions(
    num_users=3000,
    num_items=5000,
    num_interactions=150_000,
    num_clusters=50,
    zipf_exponent=0.8,
    stay=0.8,
    jump=0.3,
    noise=0.1,
    seed=0,
    return_truth=False,
):
    """A synthetic interaction log (see the module docstring for the model).

    Args:
        num_users, num_items: sizes (>= 1, and `num_items >= 3 * num_clusters`).
        num_interactions: target total rows (each user gets >= 3; the mean
            length is `num_interactions / num_users`, capped by `num_items`).
        num_clusters: latent item clusters (>= 1).
        zipf_exponent: popularity skew (`w ~ rank^-a`, >= 0).
        stay: probability of staying in the current cluster per step.
        jump: share of moves that jump to a random cluster instead of a
            ring neighbour.
        noise: probability of drawing an item by global popularity.
        seed: int seed; the same arguments and seed give the same log.
        return_truth: also return `{"item_cluster", "item_popularity",
            "row_cluster"}` keyed by original item id / row.

    Returns:
        DataFrame `user_id` (1..U), `item_id` (a random relabelling of
        1..num_items, so frequency order is not the id order), `timestamp`
        (int64 seconds), sorted by user then time; plus the truth dict.

    Raises:
        ValueError: a size or probability out of range, naming it.

    Example:
    ```python
    log = generate_interactions(seed=0)          # ~150k rows, 3k users, 5k items
    data = prepare_sequences(log, max_history=20)
    ```
    """
    for name, value, lo in (
        ("num_users", num_users, 1),
        ("num_items", num_items, 1),
        ("num_clusters", num_clusters, 1),
        ("num_interactions", num_interactions, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    if num_items < 3 * num_clusters:
        raise ValueError(f"num_items ({num_items}) must be >= 3 * num_clusters ({num_clusters})")
    for name, value in (("stay", stay), ("jump", jump), ("noise", noise)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    if zipf_exponent < 0:
        raise ValueError(f"zipf_exponent must be >= 0, got {zipf_exponent!r}")
    rng = np.random.default_rng(seed)

    cluster = rng.permutation(np.arange(num_items) % num_clusters)
    rank = rng.permutation(num_items) + 1
    weight = rank.astype(np.float64) ** -float(zipf_exponent)
    order = np.lexsort((np.arange(num_items), cluster))
    cluster_ptr = np.zeros(num_clusters + 1, np.int64)
    np.cumsum(np.bincount(cluster, minlength=num_clusters), out=cluster_ptr[1:])
    cluster_cdf = np.empty(num_items)
    for c in range(num_clusters):
        lo, hi = cluster_ptr[c], cluster_ptr[c + 1]
        cluster_cdf[lo:hi] = np.cumsum(weight[order[lo:hi]])
    mass = np.bincount(cluster, weights=weight, minlength=num_clusters)

    mean_len = max(3.0, num_interactions / num_users)
    extra = rng.lognormal(0.0, 0.8, num_users)
    extra *= (mean_len - 3.0) / extra.mean() if mean_len > 3.0 else 0.0
    lengths = np.minimum(3 + np.round(extra).astype(np.int64), num_items)
    start = rng.choice(num_clusters, size=num_users, p=mass / mass.sum())
    total = int(lengths.sum())
    u_move, u_kind, u_ring = rng.random(total), rng.random(total), rng.random(total)
    u_src, u_item = rng.random(4 * total), rng.random(4 * total)
    items, row_cluster = _walk(
        lengths,
        start,
        u_move,
        u_kind,
        u_ring,
        u_src,
        u_item,
        cluster_ptr,
        order.astype(np.int64),
        cluster_cdf,
        np.cumsum(weight),
        num_clusters,
        float(stay),
        float(jump),
        float(noise),
    )

    labels = rng.permutation(num_items) + 1  # original ids != frequency order
    t0 = rng.integers(1_500_000_000, 1_600_000_000, num_users)
    gaps = rng.exponential(3600.0, total).astype(np.int64) + 1
    users = np.repeat(np.arange(num_users), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    csum = np.cumsum(gaps)
    times = t0[users] + csum - csum[starts] + gaps[starts]
    frame = pd.DataFrame({USER_COL: users + 1, ITEM_COL: labels[items], TIME_COL: times})
    if not return_truth:
        return frame
    truth = {
        "item_cluster": dict(zip(labels.tolist(), cluster.tolist())),
        "item_popularity": dict(zip(labels.tolist(), weight.tolist())),
        "row_cluster": row_cluster,
    }
    return frame, truth
