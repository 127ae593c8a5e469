"""ydnn: YouTube-DNN retrieval on Keras 3, on the fused kernels of ydnn_kernels."""

from ydnn import optimizers as optimizers

__version__ = "0.1.0"
