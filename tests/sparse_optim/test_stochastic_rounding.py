"""Stochastic rounding of half-precision tables by the sparse optimizers
(csrc/common/stochastic_round.h), on NumPy arrays and through the TF op:
bit for bit against the NumPy reference (rounding_reference.py), unbiased,
within one unit in the last place of the float64 step, reproducible."""

import ml_dtypes
import numpy as np
import pytest

from tests.isa_run import run_json
from tests.sparse_optim.cases import KINDS, NP_DTYPE, make_state
from tests.sparse_optim.reference import sparse_step
from tests.sparse_optim.rounding_reference import round_bits, stochastic_round
from ydnn_kernels import arrays

HALF = ["bfloat16", "float16"]


def _sgd(table, ids, grad, lr, **kw):
    got = table.copy()
    arrays.sparse_apply("sgd", got, [], ids, grad, lr, **kw)
    return got


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("dim", [1, 7, 8, 64, 67])
def test_bits_match_the_reference(rng, dtype, dim):
    # SGD with a power-of-two learning rate on 16-bit values: w - lr g is
    # exact in float32 (and float64), so the kernel's rounding alone is
    # compared, bit for bit. Magnitudes span float16's subnormals.
    V = 300
    table = (rng.standard_normal((V, dim)) * np.logspace(-6, 2, dim)).astype(NP_DTYPE[dtype])
    ids = rng.permutation(V)[:200]
    grad = rng.standard_normal((200, dim)).astype(NP_DTYPE[dtype])
    lr, seed, step = 2.0**-5, 1234567890123, 17
    got = _sgd(table, ids, grad, lr, step=step, stochastic_rounding=True, seed=seed)
    exact = table[ids].astype(np.float64) - lr * grad.astype(np.float64)
    want = stochastic_round(exact, round_bits(seed, step, ids, dim), dtype)
    np.testing.assert_array_equal(got[ids].view(np.uint16), want.view(np.uint16))
    untouched = np.setdiff1d(np.arange(V), ids)
    assert got[untouched].tobytes() == table[untouched].tobytes()


@pytest.mark.parametrize("dtype", HALF)
def test_unbiased_where_nearest_loses_the_update(dtype):
    # 1 - 1e-4 lies between two 16-bit neighbours of 1, much closer to 1:
    # to nearest every element stays 1.0 (the update is lost); stochastically
    # the mean over n elements is 1 - 1e-4 within its sampling error.
    V, D = 4096, 64
    table = np.ones((V, D), NP_DTYPE[dtype])
    grad = np.full((V, D), 1e-4, np.float32).astype(NP_DTYPE[dtype])
    ids = np.arange(V)
    g = float(grad.astype(np.float64)[0, 0])
    nearest = _sgd(table, ids, grad, 1.0)
    assert np.all(nearest.astype(np.float64) == 1.0)
    got = _sgd(table, ids, grad, 1.0, stochastic_rounding=True, seed=3).astype(np.float64)
    lo = float(np.nextafter(NP_DTYPE[dtype](1), NP_DTYPE[dtype](0)))
    assert set(np.unique(got)) <= {lo, 1.0}
    p = g / (1.0 - lo)  # probability of the lower neighbour
    sigma = (1.0 - lo) * np.sqrt(p * (1 - p) / got.size)
    assert abs(got.mean() - (1.0 - g)) < 5 * sigma, (got.mean(), 1.0 - g, sigma)


@pytest.mark.parametrize("dtype", HALF)
def test_many_small_steps_track_float32(dtype):
    # 50 SGD steps of 2e-5 each on weights near 0.5: to nearest the table
    # never moves; stochastically its mean follows the float32 trajectory.
    V, D, steps, g = 2048, 32, 50, 2e-5
    table = np.full((V, D), 0.5, NP_DTYPE[dtype])
    nearest = table.copy()
    grad = np.full((V, D), g, np.float32).astype(NP_DTYPE[dtype])
    gq = float(grad.astype(np.float64)[0, 0])
    ids = np.arange(V)
    for t in range(1, steps + 1):
        arrays.sparse_apply("sgd", table, [], ids, grad, 1.0, step=t, stochastic_rounding=True)
        arrays.sparse_apply("sgd", nearest, [], ids, grad, 1.0, step=t)
    assert np.all(nearest.astype(np.float64) == 0.5)
    ulp = 0.5 - float(np.nextafter(NP_DTYPE[dtype](0.5), NP_DTYPE[dtype](0)))
    mean = table.astype(np.float64).mean()
    # Each element is a sum of 50 independent roundings (variance <= ulp^2/4 each).
    sigma = ulp * np.sqrt(steps / 4 / table.size)
    assert abs(mean - (0.5 - steps * gq)) < 5 * sigma, (mean, 0.5 - steps * gq)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", HALF)
def test_every_kind_lands_on_a_neighbour_of_the_float64_step(rng, kind, dtype):
    V, D = 60, 24
    table, slots = make_state(rng, kind, V, D, dtype)
    ids = rng.integers(0, V, 90)  # duplicates, unsorted
    grad = rng.standard_normal((90, D)).astype(NP_DTYPE[dtype])
    got, got_slots = table.copy(), [s.copy() for s in slots]
    kw = dict(step=4, weight_decay=0.1, stochastic_rounding=True, seed=9)
    arrays.sparse_apply(kind, got, got_slots, ids, grad, 0.05, **kw)
    want, _ = sparse_step(
        kind, table.astype(np.float64), slots, ids, grad.astype(np.float64), 0.05, 4, 0.1
    )
    touched = np.unique(ids)
    g64, w64 = got[touched].astype(np.float64), want[touched]
    # One unit in the last place of the result, plus float32's own error.
    ulp = np.abs(np.spacing(np.abs(got[touched])).astype(np.float64))
    assert np.all(np.abs(g64 - w64) <= ulp * 1.001 + 1e-6 * np.abs(w64)), kind


def test_float32_tables_ignore_it(rng):
    table = rng.standard_normal((20, 5)).astype(np.float32)
    ids, grad = np.array([3, 1, 3]), rng.standard_normal((3, 5)).astype(np.float32)
    a = _sgd(table, ids, grad, 0.1)
    b = _sgd(table, ids, grad, 0.1, stochastic_rounding=True, seed=77)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", HALF)
def test_reproducible_and_keyed_by_seed_and_step(rng, dtype):
    V, D = 500, 16
    table = rng.standard_normal((V, D)).astype(NP_DTYPE[dtype])
    ids = rng.permutation(V)
    grad = (rng.standard_normal((V, D)) * 1e-3).astype(NP_DTYPE[dtype])

    def run(order, **kw):
        return _sgd(table, ids[order], grad[order], 0.1, stochastic_rounding=True, **kw)

    base = run(np.arange(V), seed=1, step=2)
    # The same bits whatever the order of the (unique) ids.
    assert run(rng.permutation(V), seed=1, step=2).tobytes() == base.tobytes()
    assert run(np.arange(V), seed=2, step=2).tobytes() != base.tobytes()
    assert run(np.arange(V), seed=1, step=3).tobytes() != base.tobytes()


_PATHS_SCRIPT = """
import json, numpy as np, ml_dtypes
from ydnn_kernels import arrays
rng = np.random.default_rng(0)
t = rng.standard_normal((3000, 40)).astype(ml_dtypes.bfloat16)
ids = rng.integers(0, 3000, 5000)
g = (rng.standard_normal((5000, 40)) * 1e-3).astype(ml_dtypes.bfloat16)
a = [rng.uniform(0.1, 1, (3000, 40)).astype(np.float32)]
arrays.sparse_apply("adagrad", t, a, ids, g, 0.01, stochastic_rounding=True, seed=5)
print(json.dumps(t.view(np.uint16).tobytes().hex()))
"""


def test_same_bits_on_one_thread_and_every_vector_path():
    # Each vector path and thread count in its own process (the ISA and the
    # pool are fixed at first use); all must write the same bytes.
    outs = {
        (isa, threads): run_json(_PATHS_SCRIPT, None, isa, threads)
        for isa, threads in [("scalar", 1), ("avx2", 2), ("avx512", 2), ("avx512", 1)]
    }
    assert len(set(outs.values())) == 1, {k: v[:40] for k, v in outs.items()}


def test_bad_seed_is_named():
    table = np.zeros((4, 2), ml_dtypes.bfloat16)
    for seed, words in [(-1, "-1"), (2**63, str(2**63)), (1.5, "float"), (True, "bool")]:
        with pytest.raises(
            ValueError, match=rf"seed must be an int in \[0, 2\^63\), got .*{words}"
        ):
            arrays.sparse_apply(
                "sgd", table, [], [1], np.ones((1, 2), ml_dtypes.bfloat16), 0.1, seed=seed
            )


@pytest.mark.parametrize("dtype", HALF)
def test_tf_op_writes_the_numpy_bits(rng, dtype):
    import tensorflow as tf

    from ydnn_kernels import sparse_apply

    table, slots = make_state(rng, "lazy_adam", 40, 12, dtype)
    ids = rng.integers(0, 40, 30)
    grad = rng.standard_normal((30, 12)).astype(NP_DTYPE[dtype])
    kw = dict(step=3, weight_decay=0.01, stochastic_rounding=True, seed=2**40 + 7)
    want, want_slots = table.copy(), [s.copy() for s in slots]
    arrays.sparse_apply("lazy_adam", want, want_slots, ids, grad, 0.01, **kw)
    var = tf.Variable(table)
    slot_vars = [tf.Variable(s) for s in slots]

    @tf.function
    def step():
        sparse_apply("lazy_adam", var, slot_vars, ids, grad, 0.01, **kw)

    step()
    assert var.numpy().view(np.uint16).tobytes() == want.view(np.uint16).tobytes()
    with pytest.raises(ValueError, match="seed must be an int"):
        sparse_apply("sgd", var, [], ids, grad, 0.1, seed=-3)
