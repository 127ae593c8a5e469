"""ydnn: YouTube-DNN retrieval on Keras 3, on the fused kernels of ydnn_kernels."""

__version__ = "0.1.0"

from ydnn import data, metrics, optimizers, transforms
from ydnn.layers import InputBlock, L2Norm, MLPBlock
from ydnn.model import TopKEncoder, YoutubeDNNRetrievalModelV2
from ydnn.schema import ColumnSchema, Schema, Tags

__all__ = ["ColumnSchema", "InputBlock", "L2Norm", "MLPBlock", "Schema", "Tags", "TopKEncoder",
           "YoutubeDNNRetrievalModelV2", "data", "metrics", "optimizers", "transforms"]
