"""ydnn_kernels: fused kernels for YouTube-DNN retrieval.

With TensorFlow installed, the ops are TensorFlow ops with registered
gradients (`embedding_pool`). Without it (for example on a GPU box with only
CuPy), `ydnn_kernels.arrays` runs the same kernels on NumPy and CuPy arrays.
"""

from ydnn_kernels._loader import build_info

__version__ = "0.1.0"

try:
    import tensorflow as _tf  # noqa: F401
except ImportError:  # TF-free install: only ydnn_kernels.arrays is usable.
    _tf = None

if _tf is not None:
    from ydnn_kernels.embedding_pool import embedding_pool

    __all__ = ["build_info", "embedding_pool"]
else:
    __all__ = ["build_info"]
