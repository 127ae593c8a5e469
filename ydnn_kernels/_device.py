"""Where an arrays-API call runs: the pybind11 module, NumPy or CuPy, the stream.

A CuPy table (any `__cuda_array_interface__` object) selects the CUDA
kernels, which run on CuPy's current stream; anything else runs on the CPU.
"""

import numpy as np

from ydnn_kernels._loader import load_py_module

_py = load_py_module()


def _is_device(x):
    return hasattr(x, "__cuda_array_interface__")


def _cupy():
    if not _py.with_cuda:
        raise ValueError("CUDA arrays were given but ydnn_kernels was built without CUDA")
    import cupy

    return cupy


def _xp(table):
    return _cupy() if _is_device(table) else np


def _stream():
    import cupy

    return cupy.cuda.get_current_stream().ptr


def check_device(device):
    """ValueError unless `device` is "cpu" or "cuda"."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
