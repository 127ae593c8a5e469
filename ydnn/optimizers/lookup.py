"""`get`: the optimizer identifier a user passes to `compile()`, mapped to the
ydnn optimizer with the same dense maths and a fused sparse update."""

import warnings
from typing import Any

import keras

from ydnn.optimizers.lazy_adam import LazyAdam
from ydnn.optimizers.rowwise_adagrad import RowWiseAdagrad
from ydnn.optimizers.sparse_adagrad import SparseAdagrad
from ydnn.optimizers.sparse_sgd import SparseSGD

_BY_NAME = {
    "sgd": SparseSGD,
    "adagrad": SparseAdagrad,
    "adam": LazyAdam,
    "adamw": LazyAdam,
    "lazy_adam": LazyAdam,
    "lazyadam": LazyAdam,
    "rowwise_adagrad": RowWiseAdagrad,
    "rowwiseadagrad": RowWiseAdagrad,
}
# Stock classes whose dense update ours keeps exactly (AdamW is Adam plus
# decoupled weight decay, which LazyAdam applies to touched table rows).
_BY_CLASS = {
    keras.optimizers.SGD: SparseSGD,
    keras.optimizers.Adagrad: SparseAdagrad,
    keras.optimizers.Adam: LazyAdam,
    keras.optimizers.AdamW: LazyAdam,
}
SPARSE_OPTIMIZERS = (SparseSGD, SparseAdagrad, RowWiseAdagrad, LazyAdam)


def get(identifier: Any) -> keras.optimizers.Optimizer:
    """Maps an optimizer identifier to a ydnn optimizer with a sparse update.

    Args:
        identifier: a name (`"sgd"`, `"adagrad"`, `"adam"`, `"adamw"`,
            `"lazy_adam"`, `"rowwise_adagrad"`), a not-yet-built
            `keras.optimizers.SGD` / `Adagrad` / `Adam` / `AdamW` instance
            (its config, learning-rate schedule included, is carried over), a
            config dict, or a ydnn optimizer (returned as is). Any other Keras
            optimizer is returned unchanged with a warning: its tables keep
            Keras's dense update.

    Returns:
        A `keras.optimizers.Optimizer`.

    Raises:
        ValueError: for an unknown name, a Keras optimizer that already holds
            state (built), or settings the sparse path refuses (momentum,
            amsgrad, use_ema, gradient accumulation).

    Example:

    ```python
    model.compile(optimizer=ydnn.optimizers.get("adam"), loss=...)
    ```
    """
    if isinstance(identifier, SPARSE_OPTIMIZERS):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown optimizer {identifier!r}; ydnn maps "
                f"{sorted(_BY_NAME)} to sparse-aware optimizers (or pass a "
                "keras.optimizers.Optimizer instance)."
            )
        return cls()
    if isinstance(identifier, dict):
        return get(keras.optimizers.deserialize(identifier))
    if isinstance(identifier, keras.optimizers.Optimizer):
        cls = _BY_CLASS.get(type(identifier))
        if cls is None:
            warnings.warn(
                f"ydnn has no sparse update for {type(identifier).__name__}: embedding tables "
                "will take Keras's dense update (cost grows with the table size). Use "
                "'sgd', 'adagrad' or 'adam' for the fused sparse update.",
                stacklevel=2,
            )
            return identifier
        if identifier.built:
            raise ValueError(
                f"Cannot convert a {type(identifier).__name__} that is already "
                "built (it holds slot state); pass a fresh optimizer."
            )
        config = identifier.get_config()
        config.pop("name", None)
        return cls.from_config(config)  # type: ignore[attr-defined]  # a Keras optimizer class
    raise ValueError(
        f"Could not interpret optimizer identifier {identifier!r}: pass a name, a "
        "config dict or a keras.optimizers.Optimizer."
    )
