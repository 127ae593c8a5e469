"""`log_uniform_sample` on NumPy and CuPy arrays, its counter-based state
explicit (the arrays API, re-exported by `ydnn_kernels.arrays`)."""

import numpy as np

from ydnn_kernels._args import bool_scalar, int_scalar, seed_scalars, true_ids_array
from ydnn_kernels._device import _cupy, _py, _stream, check_device
from ydnn_kernels._types import Array, ArrayLike


def log_uniform_sample(
    num_sampled: int,
    max_id: int,
    min_id: int = 0,
    unique: bool = True,
    true_ids: ArrayLike | None = None,
    seed: int = 0,
    seed2: int = 0,
    counter: int = 0,
    device: str = "cpu",
) -> tuple[Array, Array, Array, int]:
    """`ydnn_kernels.log_uniform_sample` on NumPy (`device="cpu"`) or CuPy
    (`device="cuda"`) arrays, with its state made explicit.

    Args:
        num_sampled, max_id, min_id, unique: as in the TF op.
        true_ids: optional int array whose expected counts are returned.
        seed, seed2: the Philox key and stream (the TF op's seed, seed2).
        counter: index of this call's first draw in the stream; pass the
            previous call's `counter + num_tries` for fresh ids.
        device: "cpu" or "cuda".

    Returns:
        `(sampled_ids [num_sampled] int64, true_expected_count,
        sampled_expected_count, num_tries)`.
    """
    check_device(device)
    params = (
        int_scalar("num_sampled", num_sampled),
        int_scalar("min_id", min_id),
        int_scalar("max_id", max_id),
        bool_scalar("unique", unique),
    )
    seed, seed2, counter = seed_scalars(seed, seed2, counter)
    if device == "cpu":
        sampled, sampled_ec, tries = _py.log_uniform_sample_cpu(*params, seed, seed2, counter)
        true_ids = true_ids_array(np, true_ids)
        return (
            sampled,
            _py.log_uniform_expected_count_cpu(true_ids, *params, tries),
            sampled_ec,
            tries,
        )
    cupy = _cupy()
    stream = _stream()
    sampled = cupy.empty((num_sampled,), np.int64)
    workspace = cupy.empty((_py.log_uniform_sample_workspace_cuda(*params),), np.uint8)
    tries = _py.log_uniform_sample_cuda(*params, seed, seed2, counter, sampled, workspace, stream)
    true_ids = true_ids_array(cupy, true_ids)
    counts = []
    for ids in (true_ids, sampled):
        out = cupy.empty(ids.shape, np.float32)
        _py.log_uniform_expected_count_cuda(ids, *params, tries, out, stream)
        counts.append(out)
    return sampled, counts[0], counts[1], tries
