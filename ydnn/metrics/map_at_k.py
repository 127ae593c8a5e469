"""`MAPAtK`: streaming MAP@k."""

import keras

from ydnn.metrics.top_k_metric import TopKMetric


@keras.saving.register_keras_serializable(package="ydnn")
class MAPAtK(TopKMetric):
    """MAP@k: average precision with one relevant item, 1 / rank (equals MRR@k), averaged over rows.

    See `TopKMetric` for the inputs and `ydnn.metrics.functions` for the
    definition.

    Args:
        k: cut-off, default 10.
        name: default `"map_at_{k}"`.
        dtype: result dtype, default float32.

    Example:
    ```python
    m = MAPAtK(k=10)
    m.update_state(target_ids, top_k_ids)     # [B], [B, >=10]
    float(m.result())
    model.compile(..., metrics=[MAPAtK(10)])
    ```
    """

    metric = "map"
