"""Full-catalog top-k ranking metrics with one relevant item per row.

Each row has one target id `t` and a ranked list `top_k_ids[:k]` (best first,
scored against the whole catalog). With `r` the 1-based position of `t` in the
list (no hit when absent; only the first occurrence counts):

| metric | hit at rank r | miss |
|---|---|---|
| recall@k (hit rate) | 1 | 0 |
| precision@k | 1 / k | 0 |
| ndcg@k | 1 / log2(r + 1) (the ideal DCG of one relevant item is 1) | 0 |
| mrr@k | 1 / r | 0 |
| map@k | 1 / r (average precision with one relevant item) | 0 |

Functions return the per-row values `[B]` float32, so callers can average,
weight or slice them; `ranking_metrics` returns the means.
"""

import numpy as np
import tensorflow as tf

METRIC_NAMES = ("recall", "precision", "ndcg", "mrr", "map")


def _inputs(target, top_k_ids, k):
    top_k_ids = tf.convert_to_tensor(top_k_ids)
    target = tf.convert_to_tensor(target)
    if not top_k_ids.dtype.is_integer:
        raise ValueError(f"top_k_ids must be integer ids, got dtype {top_k_ids.dtype.name}")
    if not target.dtype.is_integer:
        raise ValueError(f"target must be integer ids, got dtype {target.dtype.name}")
    if top_k_ids.shape.rank != 2:
        raise ValueError(f"top_k_ids must be [batch, k], got shape {top_k_ids.shape}")
    if target.shape.rank == 2 and target.shape[1] == 1:
        target = tf.squeeze(target, 1)
    if target.shape.rank != 1:
        raise ValueError(f"target must be [batch] (or [batch, 1]), got shape {target.shape}")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if top_k_ids.shape[1] is not None and k > top_k_ids.shape[1]:
            raise ValueError(f"k={k} but top_k_ids has only {top_k_ids.shape[1]} columns")
        top_k_ids = top_k_ids[:, :k]
    width = tf.shape(top_k_ids)[1] if top_k_ids.shape[1] is None else top_k_ids.shape[1]
    return tf.cast(target, tf.int64), tf.cast(top_k_ids, tf.int64), width


def hit_rank(target, top_k_ids, k=None):
    """1-based position of each target in its list, 0 when absent.

    Args:
        target: `[B]` (or `[B, 1]`) integer ids.
        top_k_ids: `[B, K]` integer ids, best first.
        k: use the first `k` columns (default all).

    Returns:
        `[B]` int32.

    Raises:
        ValueError: non-integer ids, wrong ranks, `k` out of range.
    """
    target, ids, _ = _inputs(target, top_k_ids, k)
    match = tf.equal(ids, target[:, None])
    first = tf.argmax(tf.cast(match, tf.int32), axis=1, output_type=tf.int32)
    return tf.where(tf.reduce_any(match, axis=1), first + 1, 0)


def recall_at_k(target, top_k_ids, k=None):
    """1 where the target is in the first `k` ids, else 0; `[B]` float32."""
    return tf.cast(hit_rank(target, top_k_ids, k) > 0, tf.float32)


def precision_at_k(target, top_k_ids, k=None):
    """`hit / k`, `k` the list length used; `[B]` float32."""
    _, _, width = _inputs(target, top_k_ids, k)
    return recall_at_k(target, top_k_ids, k) / tf.cast(width, tf.float32)


def ndcg_at_k(target, top_k_ids, k=None):
    """`1 / log2(r + 1)` on a hit at rank `r`, else 0; `[B]` float32."""
    r = tf.cast(hit_rank(target, top_k_ids, k), tf.float32)
    gain = tf.math.log(2.0) / tf.math.log(r + 1.0)
    return tf.where(r > 0, gain, 0.0)


def mrr_at_k(target, top_k_ids, k=None):
    """`1 / r` on a hit at rank `r`, else 0; `[B]` float32."""
    r = tf.cast(hit_rank(target, top_k_ids, k), tf.float32)
    return tf.where(r > 0, 1.0 / tf.maximum(r, 1.0), 0.0)


def map_at_k(target, top_k_ids, k=None):
    """Average precision at `k` with one relevant item: `1 / r`; `[B]` float32.

    With one relevant item, AP is the precision at its rank, `1 / r`, so
    map@k equals mrr@k; both are reported because Merlin reports both.
    """
    return mrr_at_k(target, top_k_ids, k)


FUNCTIONS = {
    "recall": recall_at_k,
    "precision": precision_at_k,
    "ndcg": ndcg_at_k,
    "mrr": mrr_at_k,
    "map": map_at_k,
}


def ranking_metrics(target, top_k_ids, k=10):
    """Means of all five metrics as `{"recall_at_10": float, ...}`.

    Args:
        target: `[B]` integer ids.
        top_k_ids: `[B, >= k]` integer ids, best first.
        k: cut-off.
    """
    return {
        f"{name}_at_{k}": float(tf.reduce_mean(fn(target, top_k_ids, k)))
        for name, fn in FUNCTIONS.items()
    }


def top_k_ids_from_scores(scores, k, exclude=None):
    """Top-`k` ids of `[B, N]` scores, optionally masking some ids out.

    Args:
        scores: `[B, N]` float scores over the catalog (id = column).
        k: how many, `<= N`.
        exclude: `[B, N]` bool, True where an id must not be returned (seen
            items, padding, reserved ids).

    Returns:
        `[B, k]` int32 ids, best first (ties: the lower id first).
    """
    scores = tf.convert_to_tensor(scores)
    if exclude is not None:
        scores = tf.where(exclude, tf.constant(-np.inf, scores.dtype), scores)
    return tf.math.top_k(scores, k=k, sorted=True).indices
