"""`NDCGAtK`: streaming NDCG@k."""

import keras

from ydnn.metrics.top_k_metric import TopKMetric


@keras.saving.register_keras_serializable(package="ydnn")
class NDCGAtK(TopKMetric):
    """NDCG@k: 1 / log2(rank + 1) on a hit, else 0, averaged over rows.

    See `TopKMetric` for the inputs and `ydnn.metrics.functions` for the
    definition.

    Args:
        k: cut-off, default 10.
        name: default `"ndcg_at_{k}"`.
        dtype: result dtype, default float32.

    Example:
    ```python
    m = NDCGAtK(k=10)
    m.update_state(target_ids, top_k_ids)     # [B], [B, >=10]
    float(m.result())
    model.compile(..., metrics=[NDCGAtK(10)])
    ```
    """

    metric = "ndcg"
