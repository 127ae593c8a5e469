"""Metrics of the most-popular baseline under the leave-last-out protocol."""

from ydnn.data.popularity import most_popular_top_k
from ydnn.metrics.functions import ranking_metrics


def evaluate_most_popular(data, k=10, exclude_seen=True, min_id=1, counts="train"):
    """`{"recall_at_10": ..., ...}` of most-popular on `data.test`.

    Args:
        data: `ydnn.data.SequenceData`.
        k: cut-off.
        exclude_seen: rank only items the user has not had (as the model's
            evaluation does when asked to).
        min_id: smallest id that may be recommended (1 skips padding).
        counts: `"train"` (popularity without the held-out items) or
            `"all"` (the frequency id order); see `most_popular_top_k`.
    """
    top = most_popular_top_k(data, k=k, exclude_seen=exclude_seen, min_id=min_id, counts=counts)
    return ranking_metrics(data.test.target, top, k)
