"""The same maths as ydnn's fused ops, in stock TensorFlow ops.

The A/B path: tests compare the fused ops against these, benchmarks time
them side by side, and the model's `ops="stock"` backend runs on them. Each
family's twin lives in `ydnn_kernels/<family>_stock.py`; this module is their
one import point.
"""

from ydnn_kernels.embedding_pool_stock import embedding_pool_gather, embedding_pool_lookup_sparse
from ydnn_kernels.sampled_softmax_stock import sampled_softmax_loss
from ydnn_kernels.sampler_stock import log_uniform_sample

__all__ = [
    "embedding_pool_gather",
    "embedding_pool_lookup_sparse",
    "log_uniform_sample",
    "sampled_softmax_loss",
]
