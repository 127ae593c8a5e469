"""Fixtures of the CuPy tests (collected only where tests/gpu/cuda_env.py's
gate lets a module through, so CuPy is importable when they run)."""

import pytest


@pytest.fixture(autouse=True)
def poison_allocations():
    """Every CuPy allocation (the outputs and workspace arrays.py allocates
    included) starts as 0xFF bytes: NaN floats, -1 ints. An element no kernel
    writes, or a workspace slot read before it is written, then fails the
    comparisons instead of passing as a stale zero."""
    cp = pytest.importorskip("cupy")
    pool = cp.get_default_memory_pool()

    def malloc(size):
        mem = pool.malloc(size)
        if size:
            cp.cuda.runtime.memsetAsync(mem.ptr, 0xFF, size, cp.cuda.get_current_stream().ptr)
        return mem

    cp.cuda.set_allocator(malloc)
    yield
    cp.cuda.set_allocator(pool.malloc)
