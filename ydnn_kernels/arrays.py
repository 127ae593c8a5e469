"""ydnn kernels on NumPy (CPU) and CuPy (CUDA) arrays, without TensorFlow.

The same compiled kernels as the TensorFlow ops, through the pybind11 module.
Host arrays run on ydnn's own thread pool (`YDNN_NUM_THREADS`); CuPy arrays
run on CuPy's current stream. Inputs are converted to the dtypes the kernels
take (int64 lengths / row_splits, float32 weights, C-contiguous, native
byte order) by `ydnn_kernels._args`, which refuses what cannot be converted
without changing its meaning (float ids or lengths, non-integer counts).

Each family's entry points live in `ydnn_kernels/<family>_arrays.py`; this
module is their one import point (a new family adds its line here).
"""

from ydnn_kernels.embedding_pool_arrays import COMBINERS, embedding_pool, embedding_pool_grad
from ydnn_kernels.sampled_softmax_arrays import sampled_softmax_loss, sampled_softmax_loss_grad
from ydnn_kernels.sampler_arrays import log_uniform_sample
from ydnn_kernels.sparse_optim_arrays import SPARSE_KINDS, sparse_apply
from ydnn_kernels.topk_scores_arrays import topk_scores
from ydnn_kernels.unigram_arrays import (
    UnigramArrays,
    check_distortion,
    unigram_sample,
    unigram_table,
)

__all__ = [
    "COMBINERS",
    "SPARSE_KINDS",
    "UnigramArrays",
    "check_distortion",
    "embedding_pool",
    "embedding_pool_grad",
    "log_uniform_sample",
    "sampled_softmax_loss",
    "sampled_softmax_loss_grad",
    "sparse_apply",
    "topk_scores",
    "unigram_sample",
    "unigram_table",
]
