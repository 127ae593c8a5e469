"""Transforms that turn sequences into (history, next item) training pairs."""

from ydnn.transforms.predict_last import PredictLast, SequencePredictLast
from ydnn.transforms.predict_random import PredictRandom, SequencePredictRandom

__all__ = ["PredictLast", "PredictRandom", "SequencePredictLast", "SequencePredictRandom"]
