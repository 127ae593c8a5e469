"""Full-catalog top-k ranking metrics (one relevant item per row).

Functions on `(target [B], top_k_ids [B, k])` in `ydnn.metrics.functions`;
streaming Keras metrics `RecallAtK`, `PrecisionAtK`, `NDCGAtK`, `MRRAtK`,
`MAPAtK` (names like `"recall_at_10"`, as Merlin's); and the most-popular
baseline's metrics, `evaluate_most_popular`; metrics at several cut-offs
from one ranking and bootstrap intervals over users in `ydnn.metrics.ranks`.
"""

# The class modules first: importing `ydnn.metrics.recall_at_k` (the module)
# binds that name on the package, and the function of the same name must be
# bound after it, or `ydnn.metrics.recall_at_k(...)` calls a module.
from ydnn.metrics.map_at_k import MAPAtK  # isort: skip
from ydnn.metrics.mrr_at_k import MRRAtK  # isort: skip
from ydnn.metrics.ndcg_at_k import NDCGAtK  # isort: skip
from ydnn.metrics.precision_at_k import PrecisionAtK  # isort: skip
from ydnn.metrics.recall_at_k import RecallAtK  # isort: skip
from ydnn.metrics.top_k_metric import TopKMetric  # isort: skip
from ydnn.metrics.baseline import evaluate_most_popular  # isort: skip
from ydnn.metrics.functions import (  # isort: skip
    hit_rank,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    top_k_ids_from_scores,
)
from ydnn.metrics.ranks import (  # isort: skip
    CUTOFFS,
    bootstrap_interval,
    metrics_from_ranks,
    target_ranks,
)


def default_metrics(k=10):
    """Fresh instances of the five metrics at `k` (Merlin's default set)."""
    return [RecallAtK(k), MRRAtK(k), NDCGAtK(k), MAPAtK(k), PrecisionAtK(k)]


__all__ = [
    "CUTOFFS",
    "MAPAtK",
    "MRRAtK",
    "NDCGAtK",
    "PrecisionAtK",
    "RecallAtK",
    "TopKMetric",
    "default_metrics",
    "evaluate_most_popular",
    "hit_rank",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "top_k_ids_from_scores",
    "bootstrap_interval",
    "metrics_from_ranks",
    "target_ranks",
]
