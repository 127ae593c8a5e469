"""Argument checks of `ydnn.ann_index.AnnIndex`: each refuses a bad value
with a ValueError naming the argument, its shape and dtype, and the value."""

from collections.abc import Sequence
from typing import Any

import numpy as np


def float_matrix(name: str, value: Any, width: int | None = None, allow_empty: bool = False):
    """`value` as a C-contiguous float32 `[N, width]` matrix; ValueError naming `name`."""
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if array.dtype.kind != "f":
        raise ValueError(
            f"{name} must be a float [N, {width or 'D'}] matrix, got dtype {array.dtype} "
            f"of shape {array.shape}"
        )
    if array.ndim != 2 or (width is not None and array.shape[1] != width):
        raise ValueError(
            f"{name} must be [N, {width or 'D'}]"
            f"{' (the index width)' if width is not None else ''}, got shape {array.shape}"
        )
    if array.shape[1] == 0 or (array.shape[0] == 0 and not allow_empty):
        raise ValueError(f"{name} must have at least one row and one column, got {array.shape}")
    with np.errstate(over="ignore"):  # float64 values beyond float32 become inf, refused below
        array = np.ascontiguousarray(array, np.float32)
    # In blocks of rows: a full [N, D] mask would be 640 MB at 10^7 x 64.
    for lo in range(0, array.shape[0], 1 << 16):
        bad = ~np.isfinite(array[lo : lo + (1 << 16)])
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} must be finite: NaN or infinite value(s) in shape {array.shape} "
                f"(as float32), the first at [row, col] [{lo + row}, {col}] = "
                f"{array[lo + row, col]}"
            )
    return array


def id_vector(ids: Any, n: int) -> np.ndarray:
    array = np.asarray(ids)
    if array.dtype.kind not in "iu" or array.shape != (n,):
        raise ValueError(
            f"ids must be [{n}] integers (one per embedding row), got dtype {array.dtype} "
            f"of shape {array.shape}"
        )
    array = array.astype(np.int64)
    if n and array.min() < 0:
        raise ValueError(f"ids must be >= 0, got {array.min()} at row {int(array.argmin())}")
    unique, counts = np.unique(array, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"ids must be distinct, {unique[counts > 1][:5].tolist()} repeat")
    return array


def exclusions(exclude: Any, batch: int) -> list[np.ndarray] | None:
    """`exclude` as one int64 array of non-negative ids per query row, or None."""
    if exclude is None:
        return None
    if hasattr(exclude, "to_list"):  # tf.RaggedTensor
        exclude = exclude.to_list()
    elif hasattr(exclude, "numpy"):  # a dense tensor
        exclude = exclude.numpy()
    if isinstance(exclude, np.ndarray) and exclude.ndim != 2:
        raise ValueError(f"exclude as an array must be [B, L], got shape {exclude.shape}")
    if not isinstance(exclude, (Sequence, np.ndarray)) or len(exclude) != batch:
        got = len(exclude) if hasattr(exclude, "__len__") else type(exclude).__name__
        raise ValueError(f"exclude must hold one list of ids per query row ({batch}), got {got}")
    rows = []
    for b, row in enumerate(exclude):
        array = np.asarray(row).reshape(-1) if np.ndim(row) <= 1 else np.asarray(row)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise ValueError(
                f"exclude[{b}] must be a list of integer ids, got dtype {array.dtype} "
                f"of shape {array.shape}"
            )
        array = array.astype(np.int64)
        rows.append(np.unique(array[array >= 0]))
    return rows
