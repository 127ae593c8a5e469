"""The gate every CuPy test module passes first.

    cp = require_cuda()   # at the top of a tests/gpu module

Skips the whole module, with the reason, unless CuPy imports, a CUDA device
answers and ydnn_kernels was built with CUDA; CI (no GPU) reports them as
skipped rather than failed.
"""

import pytest


def require_cuda():
    """The `cupy` module, or a module-level skip that says what is missing."""
    cp = pytest.importorskip("cupy")
    try:
        devices = cp.cuda.runtime.getDeviceCount()
    except cp.cuda.runtime.CUDARuntimeError:  # no driver
        devices = 0
    if devices == 0:
        pytest.skip("no CUDA device", allow_module_level=True)
    from ydnn_kernels import _ydnn_py

    if not _ydnn_py.with_cuda:
        pytest.skip("ydnn_kernels was built without CUDA", allow_module_level=True)
    return cp
