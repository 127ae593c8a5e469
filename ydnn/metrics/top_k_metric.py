"""Streaming Keras metric over ranked top-k ids (base of the five metrics)."""

import keras
import numpy as np
import tensorflow as tf

from ydnn.metrics import functions


class TopKMetric(keras.metrics.Metric):
    """Weighted mean of a per-row ranking metric over all updates.

    `update_state(y_true, y_pred, sample_weight=None)`:

    * `y_true`: `[B]` or `[B, 1]` integer target ids;
    * `y_pred`: either integer `[B, K >= k]` ids, best first (what a top-k
      encoder returns), or floating `[B, N]` scores over the whole catalog,
      of which the top `k` are taken (ties: lower id first).

    Subclasses set `metric` to a key of `functions.FUNCTIONS`.

    Args:
        k: the cut-off (default 10).
        name: defaults to e.g. `"recall_at_10"`.
        dtype: of the result (default float32).
    """

    metric = None

    def __init__(self, k=10, name=None, dtype=None):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{type(self).__name__}: k must be an integer >= 1, got {k!r}")
        super().__init__(name=name or f"{self.metric}_at_{k}", dtype=dtype or "float32")
        self.k = int(k)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = tf.convert_to_tensor(y_pred)
        if y_pred.dtype.is_floating:
            if y_pred.shape.rank != 2:
                raise ValueError(
                    f"{self.name}: scores must be [batch, num_items], got shape {y_pred.shape}"
                )
            y_pred = tf.math.top_k(y_pred, k=self.k).indices
        values = tf.cast(functions.FUNCTIONS[self.metric](y_true, y_pred, self.k), tf.float64)
        if sample_weight is None:
            weight = tf.ones_like(values)
        else:
            weight = tf.cast(tf.convert_to_tensor(sample_weight), tf.float64)
            weight = tf.broadcast_to(
                tf.reshape(weight, [-1]) if weight.shape.rank else weight, tf.shape(values)
            )
        self.total.assign_add(tf.reduce_sum(values * weight))
        self.count.assign_add(tf.reduce_sum(weight))

    def result(self):
        return tf.cast(tf.math.divide_no_nan(self.total, self.count), self.dtype)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}
