"""Transforms that turn sequences into (history, next item) training pairs."""

from ydnn.transforms.predict_last import PredictLast
from ydnn.transforms.predict_random import PredictRandom

__all__ = ["PredictLast", "PredictRandom"]
