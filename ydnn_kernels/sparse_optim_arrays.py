"""`sparse_apply`: one sparse optimizer step in place on NumPy or CuPy
arrays (the arrays API, re-exported by `ydnn_kernels.arrays`)."""

from collections.abc import Sequence

import numpy as np

from ydnn_kernels._args import (
    bool_scalar,
    check_seed,
    describe,
    float_array,
    float_scalar,
    int_array,
    int_scalar,
    table_array,
)
from ydnn_kernels._device import _py, _stream, _xp
from ydnn_kernels._types import Array, ArrayLike

SPARSE_KINDS = ("sgd", "adagrad", "rowwise_adagrad", "lazy_adam")


def sparse_apply(
    kind: str,
    table: Array,
    slots: Sequence[Array],
    indices: ArrayLike,
    values: ArrayLike,
    learning_rate: float,
    step: int = 1,
    weight_decay: float = 0.0,
    epsilon: float = 1e-7,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    indices_unique: bool = False,
    stochastic_rounding: bool = False,
    seed: int = 0,
) -> None:
    """`ydnn_kernels.sparse_apply` on NumPy or CuPy arrays: one optimizer step
    on the rows of `table` named by `indices`, in place (table and slots).

    Args:
        kind: "sgd", "adagrad", "rowwise_adagrad" or "lazy_adam".
        table: `[V, D]` float32, float16 or bfloat16 (ml_dtypes) array,
            C-contiguous (it is written in place, so it is never converted);
            a CuPy array selects the CUDA kernels.
        slots: list of C-contiguous float32 arrays, updated in place: `[]`,
            `[acc [V, D]]`, `[acc [V]]` (row-wise) or `[m, v]` (lazy_adam).
        indices: `[N]` int32/int64 ids, duplicates allowed (summed first).
        values: `[N, D]` gradient rows (converted to the table's dtype).
        learning_rate, step, weight_decay, epsilon, beta_1, beta_2: as in
            the TF op (`step` is the 1-based global step for lazy_adam).
        indices_unique: CUDA only: promise of no duplicates (skips the sort;
            duplicates then race).
        stochastic_rounding, seed: as in the TF op: unbiased rounding of
            16-bit tables, its bits keyed by `seed` (an int in `[0, 2^63)`).

    Raises:
        ValueError: for bad arguments, shapes, dtypes or ids outside
            `[0, V)`, naming the argument, its shape and the value; a
            read-only, big-endian or aliased table or slot. A call that
            raises has written nothing, on either device (on CUDA the id
            check costs one stream sync).

    Example:

    ```python
    table = np.zeros((100, 8), np.float32)
    sparse_apply("sgd", table, [], np.array([3, 3, 7]), np.ones((3, 8), np.float32), 0.1)
    ```
    """
    if not isinstance(kind, str) or kind not in SPARSE_KINDS:
        raise ValueError(f"kind must be one of {SPARSE_KINDS}, got {kind!r}")
    xp = _xp(table)
    table = table_array(xp, table, in_place=True)
    if not isinstance(slots, (list, tuple)):
        raise ValueError(f"slots must be a list of arrays, got {describe(slots)}")
    slots = [_slot(xp, s, f"slots[{i}]") for i, s in enumerate(slots)]
    _check_no_alias([("table", table)] + [(f"slots[{i}]", s) for i, s in enumerate(slots)])
    indices = int_array(xp, indices, "indices")
    values = float_array(xp, values, "values", table.dtype)
    hyper = (
        float_scalar("learning_rate", learning_rate),
        int_scalar("step", step),
        float_scalar("weight_decay", weight_decay),
        float_scalar("epsilon", epsilon),
        float_scalar("beta_1", beta_1),
        float_scalar("beta_2", beta_2),
        bool_scalar("stochastic_rounding", stochastic_rounding),
        check_seed(seed),
    )
    indices_unique = bool_scalar("indices_unique", indices_unique)
    if xp is np:
        _py.sparse_apply_cpu(kind, table, list(slots), indices, values, *hyper)
        return
    n = int(indices.shape[0]) if indices.ndim == 1 else 0
    d = int(table.shape[1]) if table.ndim == 2 else 0
    workspace = xp.empty(
        (_py.sparse_apply_workspace_cuda(n, d, indices.dtype.name, indices_unique),), np.uint8
    )
    error = xp.empty((1,), np.int64)
    _py.sparse_apply_cuda(
        kind, table, slots, indices, values, *hyper, indices_unique, workspace, error, _stream()
    )


def _slot(xp, slot, name):
    """A slot array as given (it is updated in place, so never converted)."""
    if not hasattr(slot, "dtype") or not hasattr(slot, "shape"):
        raise ValueError(f"{name} must be an array, got {describe(slot)}")
    if isinstance(slot, np.ndarray) and not slot.dtype.isnative:
        raise ValueError(
            f"{name} is big-endian ({describe(slot)}) and is updated in place: "
            f"convert it first with x.astype(x.dtype.newbyteorder('='))"
        )
    return slot


def _check_no_alias(named):
    """ValueError if two arrays that are updated in place share memory (an
    update would read what another just wrote)."""
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1 :]:
            if (
                isinstance(a, np.ndarray)
                and isinstance(b, np.ndarray)
                and np.may_share_memory(a, b)
            ):
                raise ValueError(
                    f"{name_a} and {name_b} share memory: each optimizer state "
                    f"must be an array of its own"
                )
