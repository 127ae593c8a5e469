"""ydnn: YouTube-DNN retrieval on Keras 3, on the fused kernels of ydnn_kernels."""

__version__ = "0.1.0"

from ydnn import data, metrics
from ydnn.schema import ColumnSchema, Schema, Tags

__all__ = ["ColumnSchema", "Schema", "Tags", "data", "metrics"]
