"""The unigram sampler on NumPy and CuPy arrays: alias tables and draws.

Part of the arrays API (`ydnn_kernels.arrays` re-exports it). A table that
`unigram_table` built is trusted (its NumPy arrays are read-only); any other
`UnigramArrays` is validated by the kernel's O(V) check on every
`unigram_sample` call, so a hand-built or tampered table is refused before a
draw can index out of range or unique sampling can spin for 2^31 draws.
"""

import math
from typing import Any, NamedTuple

import numpy as np

from ydnn_kernels._args import (
    bool_scalar,
    describe,
    float_array,
    int_scalar,
    native,
    seed_scalars,
    true_ids_array,
)
from ydnn_kernels._device import _cupy, _is_device, _py, _stream, check_device
from ydnn_kernels._types import Array, ArrayLike


def check_distortion(distortion: Any) -> float:
    """A unigram distortion as a float, or ValueError if it is not finite
    and >= 0 (shared with `ydnn_kernels.UnigramTable`)."""
    if isinstance(distortion, bool) or not isinstance(
        distortion, (int, float, np.floating, np.integer)
    ):
        raise ValueError(f"distortion must be a number, got {distortion!r}")
    distortion = float(distortion)
    if not math.isfinite(distortion) or distortion < 0:
        raise ValueError(f"distortion must be finite and >= 0, got {distortion}")
    return distortion


class UnigramArrays(NamedTuple):
    """A unigram sampler's alias table on NumPy or CuPy arrays (see
    `ydnn_kernels.UnigramTable` for the maths)."""

    table: Array  # [V, 2] float64: accept probability, alias id
    prob: Array  # [V] float64: P(k)
    num_positive: int  # ids with a positive count


def unigram_table(
    counts: ArrayLike, distortion: float = 1.0, device: str = "cpu"
) -> "UnigramArrays":
    """Builds a unigram sampler's alias table once (on the CPU, float64).

    Args:
        counts: `[V]` non-negative finite counts.
        distortion: finite exponent `>= 0` applied to the counts.
        device: "cpu" (NumPy arrays) or "cuda" (copied to CuPy arrays).

    Returns:
        `UnigramArrays(table, prob, num_positive)`.

    Raises:
        ValueError: naming the bad count or distortion.
    """
    check_device(device)
    if _is_device(counts):
        counts = counts.get()
    counts = float_array(np, counts, "counts", np.float64)
    table, prob, num_positive = _py.unigram_build(counts, check_distortion(distortion))
    if device == "cuda":
        cupy = _cupy()
        table, prob = cupy.asarray(table), cupy.asarray(prob)
    else:
        # Read-only, so the table that was built is the table that is trusted.
        table.flags.writeable = prob.flags.writeable = False
    built = _BuiltUnigram(table, prob, num_positive)
    built.max_unique = _py.unigram_max_unique(prob if device == "cpu" else prob.get())
    return built


class _BuiltUnigram(UnigramArrays):
    """A table unigram_table built: unigram_sample skips its O(V) check.
    Any changed copy (`_replace`) is a plain UnigramArrays, checked again."""

    max_unique: int  # most distinct ids a unique draw can give (set by unigram_table)

    def _replace(self, **changes):
        return UnigramArrays(*self)._replace(**changes)


def _check_table(table, device):
    """ValueError unless `table` is a UnigramArrays whose arrays unigram_table
    built, or a hand-made one that passes the kernel's O(V) validation."""
    if not isinstance(table, UnigramArrays):
        raise ValueError(
            f"table must be a UnigramArrays from unigram_table, got {type(table).__name__}"
        )
    num_positive = int_scalar("table.num_positive", table.num_positive, 1)
    if type(table) is _BuiltUnigram:
        return num_positive, table.max_unique
    if device:
        return num_positive, _py.unigram_validate_cuda(
            table.table, table.prob, num_positive, _stream()
        )
    else:
        t = table.table
        if (
            not isinstance(t, np.ndarray)
            or t.dtype.kind != "f"
            or t.dtype.itemsize != 8
            or t.ndim != 2
        ):
            raise ValueError(f"table.table must be a float64 array [V, 2], got {describe(t)}")
    return num_positive, _py.unigram_validate_cpu(
        np.ascontiguousarray(native(t)),
        float_array(np, table.prob, "table.prob", np.float64),
        num_positive,
    )


def unigram_sample(
    table: "UnigramArrays",
    num_sampled: int,
    unique: bool = True,
    true_ids: ArrayLike | None = None,
    seed: int = 0,
    seed2: int = 0,
    counter: int = 0,
) -> tuple[Array, Array, Array, int]:
    """`ydnn_kernels.unigram_sample` on a `UnigramArrays` table, on its
    device (NumPy: CPU; CuPy: CUDA), with its state made explicit.

    Args:
        table: `UnigramArrays` from `unigram_table`.
        num_sampled, unique: as in the TF op.
        true_ids: optional int array whose expected counts are returned.
        seed, seed2: the Philox key and stream (the TF op's seed, seed2).
        counter: index of this call's first draw in the stream; pass the
            previous call's `counter + num_tries` for fresh ids.

    Returns:
        `(sampled_ids [num_sampled] int64, true_expected_count,
        sampled_expected_count, num_tries)`.
    """
    device = _is_device(getattr(table, "table", None))
    num_positive, max_unique = _check_table(table, device)
    params = (int_scalar("num_sampled", num_sampled), num_positive, bool_scalar("unique", unique))
    if params[0] <= num_positive:  # past it, the kernel's own message says more
        _py.unigram_check_reachable(params[0], params[2], max_unique)
    seed, seed2, counter = seed_scalars(seed, seed2, counter)
    if not device:
        sampled, tries = _py.unigram_sample_cpu(
            np.ascontiguousarray(native(table.table)), *params, seed, seed2, counter
        )
        true_ids = true_ids_array(np, true_ids)
        counts = [
            _py.unigram_expected_count_cpu(table.prob, ids, num_sampled, tries)
            for ids in (true_ids, sampled)
        ]
        return sampled, counts[0], counts[1], tries
    cupy = _cupy()
    stream = _stream()
    sampled = cupy.empty((num_sampled,), np.int64)
    workspace = cupy.empty(
        (_py.unigram_sample_workspace_cuda(table.table.shape[0], *params),), np.uint8
    )
    tries = _py.unigram_sample_cuda(
        table.table, *params, seed, seed2, counter, sampled, workspace, stream
    )
    true_ids = true_ids_array(cupy, true_ids)
    counts = []
    for ids in (true_ids, sampled):
        out = cupy.empty(ids.shape, np.float32)
        _py.unigram_expected_count_cuda(table.prob, ids, num_sampled, tries, out, stream)
        counts.append(out)
    return sampled, counts[0], counts[1], tries
