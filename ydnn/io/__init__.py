"""Merlin-style data input: `Dataset` (Parquet files and their schema) and `Loader` (batches)."""

from ydnn.io.dataset import Dataset
from ydnn.io.loader import Loader

__all__ = ["Dataset", "Loader"]
