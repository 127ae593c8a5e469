"""`PrecisionAtK`: streaming precision@k."""

import keras

from ydnn.metrics.top_k_metric import TopKMetric


@keras.saving.register_keras_serializable(package="ydnn")
class PrecisionAtK(TopKMetric):
    """precision@k: hit / k (one relevant item per row), averaged over rows.

    See `TopKMetric` for the inputs and `ydnn.metrics.functions` for the
    definition.

    Args:
        k: cut-off, default 10.
        name: default `"precision_at_{k}"`.
        dtype: result dtype, default float32.

    Example:
    ```python
    m = PrecisionAtK(k=10)
    m.update_state(target_ids, top_k_ids)     # [B], [B, >=10]
    float(m.result())
    model.compile(..., metrics=[PrecisionAtK(10)])
    ```
    """

    metric = "precision"
