"""`MRRAtK`: streaming MRR@k."""

import keras

from ydnn.metrics.top_k_metric import TopKMetric


@keras.saving.register_keras_serializable(package="ydnn")
class MRRAtK(TopKMetric):
    """MRR@k: 1 / rank on a hit within the top k, else 0, averaged over rows.

    See `TopKMetric` for the inputs and `ydnn.metrics.functions` for the
    definition.

    Args:
        k: cut-off, default 10.
        name: default `"mrr_at_{k}"`.
        dtype: result dtype, default float32.

    Example:
    ```python
    m = MRRAtK(k=10)
    m.update_state(target_ids, top_k_ids)     # [B], [B, >=10]
    float(m.result())
    model.compile(..., metrics=[MRRAtK(10)])
    ```
    """

    metric = "mrr"
