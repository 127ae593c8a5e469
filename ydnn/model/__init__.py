"""The retrieval model, its top-k encoder and full-catalog retrieval."""

from ydnn.model.top_k import top_k_items
from ydnn.model.top_k_encoder import TopKEncoder
from ydnn.model.youtube_dnn import YoutubeDNNRetrievalModelV2

__all__ = ["TopKEncoder", "YoutubeDNNRetrievalModelV2", "top_k_items"]
