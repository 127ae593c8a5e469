"""ydnn_kernels: fused kernels for YouTube-DNN retrieval.

With TensorFlow installed, the ops are TensorFlow ops with registered
gradients (`embedding_pool`, `log_uniform_sample`, `UnigramTable` +
`unigram_sample`, `sampled_softmax_loss`), the in-place sparse optimizer
step `sparse_apply` and the exact score-and-top-k `topk_scores`. Without
it (for example on a GPU box with only CuPy), `ydnn_kernels.arrays` runs
the same kernels on NumPy and CuPy arrays.

Importing the package checks, without importing TensorFlow, that the
installed TensorFlow is the one the op library was built against; the TF
ops themselves load on first use.
"""

from ydnn_kernels._loader import build_info, check_tf_version
from ydnn_kernels._version import __version__

__all__ = [
    "UnigramTable",
    "__version__",
    "build_info",
    "embedding_pool",
    "log_uniform_sample",
    "sampled_softmax_loss",
    "sparse_apply",
    "topk_scores",
    "unigram_sample",
]

check_tf_version()


def __getattr__(name):
    if name == "embedding_pool":
        from ydnn_kernels.embedding_pool_op import embedding_pool

        return embedding_pool
    if name == "log_uniform_sample":
        from ydnn_kernels.sampler_op import log_uniform_sample

        return log_uniform_sample
    if name == "sampled_softmax_loss":
        from ydnn_kernels.sampled_softmax_op import sampled_softmax_loss

        return sampled_softmax_loss
    if name in ("UnigramTable", "unigram_sample"):
        from ydnn_kernels import unigram_op

        return getattr(unigram_op, name)
    if name == "sparse_apply":
        from ydnn_kernels.sparse_optim_op import sparse_apply

        return sparse_apply
    if name == "topk_scores":
        from ydnn_kernels.topk_scores_op import topk_scores

        return topk_scores
    raise AttributeError(f"module 'ydnn_kernels' has no attribute {name!r}")
