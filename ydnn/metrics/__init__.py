"""Full-catalog top-k ranking metrics (one relevant item per row).

Functions on `(target [B], top_k_ids [B, k])` in `ydnn.metrics.functions`;
streaming Keras metrics `RecallAtK`, `PrecisionAtK`, `NDCGAtK`, `MRRAtK`,
`MAPAtK` (names like `"recall_at_10"`, as Merlin's); and the most-popular
baseline's metrics, `evaluate_most_popular`.
"""

from ydnn.metrics.baseline import evaluate_most_popular
from ydnn.metrics.functions import (
    hit_rank,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    top_k_ids_from_scores,
)
from ydnn.metrics.map_at_k import MAPAtK
from ydnn.metrics.mrr_at_k import MRRAtK
from ydnn.metrics.ndcg_at_k import NDCGAtK
from ydnn.metrics.precision_at_k import PrecisionAtK
from ydnn.metrics.recall_at_k import RecallAtK
from ydnn.metrics.top_k_metric import TopKMetric


def default_metrics(k=10):
    """Fresh instances of the five metrics at `k` (Merlin's default set)."""
    return [RecallAtK(k), MRRAtK(k), NDCGAtK(k), MAPAtK(k), PrecisionAtK(k)]


__all__ = ["MAPAtK", "MRRAtK", "NDCGAtK", "PrecisionAtK", "RecallAtK", "TopKMetric",
           "default_metrics", "evaluate_most_popular", "hit_rank", "map_at_k", "mrr_at_k",
           "ndcg_at_k", "precision_at_k", "ranking_metrics", "recall_at_k",
           "top_k_ids_from_scores"]
