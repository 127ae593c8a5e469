"""Keras 3 optimizers whose embedding tables take a fused sparse update.

`SparseSGD`, `SparseAdagrad` and `LazyAdam` subclass the Keras optimizers of
the same maths: dense weights get the stock update; variables whose
gradient is a `tf.IndexedSlices` are updated in place, only on the rows the
gradient names, by `ydnn_kernels.sparse_apply`. `RowWiseAdagrad` keeps one
accumulator per table row. `get` maps `compile(optimizer=...)` identifiers
("sgd", "adagrad", "adam" or Keras instances) to them.
"""

from ydnn.optimizers.lazy_adam import LazyAdam
from ydnn.optimizers.lookup import SPARSE_OPTIMIZERS, get
from ydnn.optimizers.rowwise_adagrad import RowWiseAdagrad
from ydnn.optimizers.sparse_adagrad import SparseAdagrad
from ydnn.optimizers.sparse_sgd import SparseSGD

__all__ = [
    "SPARSE_OPTIMIZERS",
    "LazyAdam",
    "RowWiseAdagrad",
    "SparseAdagrad",
    "SparseSGD",
    "get",
]
