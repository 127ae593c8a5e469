"""`TopKEncoder`: a trained retrieval model as features -> top-k items."""

from typing import Any

import keras

from ydnn import metrics as ydnn_metrics
from ydnn.layers._args import bool_arg, int_arg
from ydnn.model.data_inputs import DataInputsMixin
from ydnn.model.retrieval import RetrievalMixin
from ydnn.model.training import target_ids


class TopKEncoder(DataInputsMixin, keras.Model):
    """Scores every item for each query and keeps the best `k`.

    Built by `YoutubeDNNRetrievalModelV2.to_top_k_encoder`; it shares the
    model's layers and tables (nothing is copied). `predict` and calls give
    `(scores [B, k], ids [B, k])`; `evaluate` on `(features, target)` data
    reports full-catalog top-k metrics. Ids below the model's
    `min_sampled_id` are never returned; with `exclude_seen`, neither are the
    items of the row's history (or of its `seen_items` feature).

    Args:
        model: a `YoutubeDNNRetrievalModelV2`.
        k: items per row, an int in `[1, catalog size - min_sampled_id]`.
        exclude_seen: drop items the row has already seen (a bool).

    Raises:
        ValueError: a `model` that is not a retrieval model, a `k` or
            `exclude_seen` of the wrong type or range.

    Example:
    ```python
    encoder = model.to_top_k_encoder(k=10, exclude_seen=True)
    scores, ids = encoder(features)
    encoder.compile()
    encoder.evaluate(test_ds)     # recall_at_10, ndcg_at_10, ...
    ```
    """

    def __init__(self, model: Any, k: int = 10, exclude_seen: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(model, RetrievalMixin):
            raise ValueError(
                f"model must be a YoutubeDNNRetrievalModelV2, got {type(model).__name__}"
            )
        self.retrieval_model = model
        self.k = int_arg("k", k, 1, model.max_id + 1 - model.min_sampled_id)
        self.exclude_seen = bool_arg("exclude_seen", exclude_seen)
        self.top_k_metrics: list[keras.metrics.Metric] = []

    def call(self, inputs, training=False):
        query = self.retrieval_model(inputs, training=False)
        exclude = self.retrieval_model.seen_items(inputs) if self.exclude_seen else None
        return self.retrieval_model.retrieve(query, self.k, exclude)

    def compile(
        self,
        metrics: list[keras.metrics.Metric] | None = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
    ) -> None:
        self.top_k_metrics = (
            list(metrics) if metrics is not None else ydnn_metrics.default_metrics(self.k)
        )
        super().compile(
            run_eagerly=run_eagerly, steps_per_execution=steps_per_execution, jit_compile=False
        )

    @property
    def metrics(self):
        return list(self.top_k_metrics)

    def train_step(self, data):
        raise NotImplementedError("TopKEncoder is for retrieval; train the retrieval model")

    def test_step(self, data):
        x, y, weight = keras.utils.unpack_x_y_sample_weight(data)
        y = target_ids(y, self.retrieval_model.candidate.name)
        _, ids = self(x)
        for metric in self.top_k_metrics:
            metric.update_state(y, ids, sample_weight=weight)
        return {m.name: m.result() for m in self.top_k_metrics}
