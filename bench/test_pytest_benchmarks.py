"""pytest-benchmark entries: each fused op and its stock TF path at a small
shape, for tracking one op across commits.

`python -m bench` is the report (fused vs stock interleaved in one process,
ratios, floors); this file is the developer's loop while optimising one
kernel: pytest-benchmark's calibrated rounds, and `--benchmark-autosave` /
`--benchmark-compare` to see a change against the last saved run. Each
group holds one op and pass, fused beside stock; every benchmark first
checks its result against the other side (or the exact expected counts), so
a wrong kernel fails instead of being timed. Not part of `make test`
(timings are not tests): run

    make bench-pytest
    # = pytest bench/test_pytest_benchmarks.py --benchmark-only
    #     --benchmark-group-by=group --benchmark-columns=min,median,max,rounds
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ydnn
from bench import embedding_pool_bench as pool_bench
from bench import sampled_softmax_bench as softmax_bench
from bench import sparse_optim_bench as optim_bench
from bench.sampler_bench import LABELS, Sampler
from bench.sampler_bench import gate as sampler_gate

pytest.importorskip("pytest_benchmark")


def run(benchmark, fn):
    """Calibrated timing of fn (already traced and checked by the caller)."""
    fn()
    benchmark.pedantic(fn, rounds=30, iterations=5, warmup_rounds=3)


# -- embedding_pool: B=256, L<=20, D=32, V=10,000 (the suite's small shape) --
POOL_PATHS = ("fused (padded)", "stock masked gather", "stock embedding_lookup_sparse")


@pytest.fixture(scope="module")
def pool_fns():
    rng = np.random.default_rng(0)
    fns = pool_bench.paths(*pool_bench.make_inputs(rng, **pool_bench.SHAPES["small"]))
    failed = pool_bench.gate({k: fns[k] for k in POOL_PATHS})
    assert not failed, f"paths disagree with the fused op: {failed}"
    return fns


@pytest.mark.parametrize("path", POOL_PATHS)
@pytest.mark.parametrize("kind", ["forward", "forward+backward"])
def test_embedding_pool(benchmark, pool_fns, path, kind):
    benchmark.group = f"embedding_pool {kind}"
    fn = pool_fns[path][0 if kind == "forward" else 1]
    run(benchmark, lambda: tf.nest.map_structure(lambda t: t.numpy(), fn()))


# -- log-uniform sampler: S=8192 unique over 1e6 ids, eager ------------------
@pytest.mark.parametrize("side", ["fused", "stock"])
def test_log_uniform_sampler(benchmark, side):
    benchmark.group = "log_uniform_sample S=8192 unique"
    sampler = Sampler("log_uniform")
    assert sampler_gate(sampler, 8192, True)
    flat = tf.constant(LABELS.ravel(), tf.int64)
    labels = tf.constant(LABELS, tf.int64)
    if side == "fused":
        run(benchmark, lambda: sampler.ours(8192, True, flat)[0].numpy())
    else:
        run(benchmark, lambda: sampler.stock(8192, True, labels)[0].numpy())


# -- sampled softmax: B=1024, D=64, V=1e6, S=100, forward+backward ------------
@pytest.fixture(scope="module")
def softmax_fns():
    table, query, labels, sv = softmax_bench.inputs(100)
    fns = softmax_bench.loss_fns(table, query, labels, sv)
    np.testing.assert_allclose(fns["fused"]().numpy(), fns["stock"]().numpy(), rtol=1e-4, atol=1e-4)
    return {k: tf.function(softmax_bench.with_grads(f, table, query)) for k, f in fns.items()}


@pytest.mark.parametrize("side", ["fused", "stock"])
def test_sampled_softmax(benchmark, softmax_fns, side):
    benchmark.group = "sampled_softmax S=100 forward+backward"
    fn = softmax_fns[side]
    run(benchmark, lambda: tf.nest.map_structure(lambda t: t.numpy(), fn()))


# -- sparse optimizer: one train step, V=100,000 rows, Adam vs LazyAdam -------
@pytest.fixture(scope="module")
def adam_steps():
    V = 100_000
    x, y = optim_bench.inputs(V)
    models = [optim_bench.make_model(V) for _ in range(2)]
    opts = [keras.optimizers.Adam(1e-3), ydnn.optimizers.LazyAdam(1e-3)]
    steps = [optim_bench.make_step(m, o) for m, o in zip(models, opts)]
    assert optim_bench.gate(models, steps, x, y), "LazyAdam's first step differs from Adam's"
    return {
        "stock Adam": lambda: steps[0](x, y).numpy(),
        "ydnn LazyAdam": lambda: steps[1](x, y).numpy(),
    }


@pytest.mark.parametrize("side", ["stock Adam", "ydnn LazyAdam"])
def test_sparse_adam_step(benchmark, adam_steps, side):
    benchmark.group = "train step, 1e5 x 64 table"
    run(benchmark, adam_steps[side])
