"""Keras layers of the YouTube-DNN query tower."""

from ydnn.layers.embedding_tables import infer_embedding_dim
from ydnn.layers.input_block import InputBlock
from ydnn.layers.l2_norm import L2Norm
from ydnn.layers.mlp_block import MLPBlock

__all__ = ["InputBlock", "L2Norm", "MLPBlock", "infer_embedding_dim"]
