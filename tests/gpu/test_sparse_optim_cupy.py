"""sparse_apply's CUDA kernels through ydnn_kernels.arrays on CuPy arrays:
against the float64 reference (sorted-unique fast path and the sorted
duplicate path), agreement with the CPU kernels, untouched rows and slots
bit-identical, and the CPU path's error text. Skipped without CuPy, a CUDA
device or a CUDA build of ydnn_kernels."""

import numpy as np
import pytest

from tests.gpu.cuda_env import require_cuda

cp = require_cuda()

from tests.sparse_optim.cases import ID_DTYPES, KINDS, check_step, make_state  # noqa: E402
from ydnn_kernels import arrays  # noqa: E402


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("unique", [True, False])
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
@pytest.mark.parametrize("D", [1, 33, 64])
def test_cuda_step_matches_reference_and_cpu(rng, kind, unique, id_dtype, D):
    V = 300
    table, slots = make_state(rng, kind, V, D)
    if unique:
        ids = np.sort(rng.choice(V, 120, replace=False)).astype(id_dtype)
    else:
        ids = rng.integers(0, V, 200).astype(id_dtype)
    grad = rng.standard_normal((len(ids), D)).astype(np.float32)
    d_table, d_slots = cp.asarray(table), [cp.asarray(s) for s in slots]
    arrays.sparse_apply(
        kind,
        d_table,
        d_slots,
        cp.asarray(ids),
        cp.asarray(grad),
        0.05,
        step=2,
        weight_decay=0.1,
        indices_unique=unique,
    )
    got_table, got_slots = cp.asnumpy(d_table), [cp.asnumpy(s) for s in d_slots]
    check_step(
        kind, table, slots, ids, grad, got_table, got_slots, lr=0.05, step=2, weight_decay=0.1
    )
    cpu_table, cpu_slots = table.copy(), [s.copy() for s in slots]
    arrays.sparse_apply(kind, cpu_table, cpu_slots, ids, grad, 0.05, step=2, weight_decay=0.1)
    np.testing.assert_allclose(got_table, cpu_table, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_cuda_hot_ids_longer_than_a_chunk(rng, kind):
    # Runs longer than 256 are summed in chunks (kRunChunk): runs of 256 (the
    # plain path), 257 and 513 (just past one and two chunks) and 3000, in a
    # shuffled batch. A chunk lost, doubled or added to the wrong run moves
    # the summed gradient by ~16 (the sum of 256 unit normals), far past the
    # fp32 rounding of sums in two orders.
    V, D = 400, 48
    table, slots = make_state(rng, kind, V, D)
    hot_ids = [0, 9, 200, 399]
    hot = np.repeat(hot_ids, [256, 257, 513, 3000])
    others = np.setdiff1d(np.arange(V), hot_ids)
    ids = rng.permutation(np.concatenate([hot, rng.choice(others, 500)]))
    grad = rng.standard_normal((len(ids), D)).astype(np.float32)
    d_table, d_slots = cp.asarray(table), [cp.asarray(x) for x in slots]
    arrays.sparse_apply(kind, d_table, d_slots, cp.asarray(ids), cp.asarray(grad), 0.01, step=3)
    cpu_table, cpu_slots = table.copy(), [x.copy() for x in slots]
    arrays.sparse_apply(kind, cpu_table, cpu_slots, ids, grad, 0.01, step=3)
    np.testing.assert_allclose(cp.asnumpy(d_table), cpu_table, rtol=1e-5, atol=1e-5)
    for got, want in zip(d_slots, cpu_slots):
        np.testing.assert_allclose(cp.asnumpy(got), want, rtol=1e-4, atol=1e-5)


def test_cuda_is_deterministic_with_duplicates(rng):
    table, slots = make_state(rng, "lazy_adam", 50, 64)
    ids = cp.asarray(rng.integers(0, 5, 4000))  # long runs of equal ids
    grad = cp.asarray(rng.standard_normal((4000, 64)).astype(np.float32))
    results = []
    for _ in range(2):
        t, s = cp.asarray(table), [cp.asarray(x) for x in slots]
        arrays.sparse_apply("lazy_adam", t, s, ids, grad, 1e-3)
        results.append(cp.asnumpy(t))
    assert results[0].tobytes() == results[1].tobytes()


@pytest.mark.parametrize("kind", ["sgd", "lazy_adam"])
def test_cuda_bad_id_writes_nothing(kind):
    """As on the CPU: a call that raises leaves the table and slots as they were."""
    table = cp.ones((7, 4), cp.float32)
    slots = [cp.zeros((7, 4), cp.float32) for _ in range(2 if kind == "lazy_adam" else 0)]
    with pytest.raises(ValueError, match=r"indices\[3\] = 9 is out of range"):
        arrays.sparse_apply(
            kind, table, slots, cp.asarray([2, 3, 2, 9]), cp.ones((4, 4), cp.float32), 0.1
        )
    assert (table.get() == 1).all()
    assert all((s.get() == 0).all() for s in slots)


@pytest.mark.parametrize("bad", [-1, 7])
def test_cuda_bad_id_has_cpu_message(bad):
    table = cp.ones((7, 4), cp.float32)
    with pytest.raises(ValueError, match=rf"indices\[1\] = {bad} is out of range \[0, 7\)"):
        arrays.sparse_apply(
            "sgd", table, [], cp.asarray([2, bad, bad]), cp.ones((3, 4), cp.float32), 0.1
        )


@pytest.mark.parametrize("dtype", ["float16"])  # CuPy has no bfloat16
@pytest.mark.parametrize("D", [7, 64])
def test_cuda_stochastic_rounding_matches_the_reference_bits(rng, dtype, D):
    # SGD with a power-of-two rate on float16 values is exact before the
    # rounding, so the device must write the reference's bits exactly.
    from tests.sparse_optim.rounding_reference import round_bits, stochastic_round

    V = 400
    table = (rng.standard_normal((V, D)) * np.logspace(-6, 2, D)).astype(np.float16)
    ids = rng.permutation(V)[:300]
    grad = rng.standard_normal((300, D)).astype(np.float16)
    d_table = cp.asarray(table)
    kw = dict(step=5, stochastic_rounding=True, seed=42)
    arrays.sparse_apply("sgd", d_table, [], cp.asarray(ids), cp.asarray(grad), 2.0**-4, **kw)
    exact = table[ids].astype(np.float64) - 2.0**-4 * grad.astype(np.float64)
    want = stochastic_round(exact, round_bits(42, 5, ids, D), dtype)
    np.testing.assert_array_equal(cp.asnumpy(d_table)[ids].view(np.uint16), want.view(np.uint16))
