"""`RecallAtK`: streaming recall@k (hit rate)."""

import keras

from ydnn.metrics.top_k_metric import TopKMetric


@keras.saving.register_keras_serializable(package="ydnn")
class RecallAtK(TopKMetric):
    """recall@k (hit rate): 1 when the target is among the top k, else 0, averaged over rows.

    See `TopKMetric` for the inputs and `ydnn.metrics.functions` for the
    definition.

    Args:
        k: cut-off, default 10.
        name: default `"recall_at_{k}"`.
        dtype: result dtype, default float32.

    Example:
    ```python
    m = RecallAtK(k=10)
    m.update_state(target_ids, top_k_ids)     # [B], [B, >=10]
    float(m.result())
    model.compile(..., metrics=[RecallAtK(10)])
    ```
    """

    metric = "recall"
