"""ydnn.optimizers applied to keras Variables: against stock Keras where the
maths coincide (every row touched, or SGD/Adagrad, whose dense update leaves
zero-gradient rows alone), against the float64 reference for lazy Adam and
row-wise Adagrad, and the Keras features: schedules, weight decay, clipping,
loss scaling, refusals."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.sparse_optim.reference import sparse_step
from tests.tolerance import assert_close_to_ref, assert_stock_close
from ydnn.optimizers import LazyAdam, RowWiseAdagrad, SparseAdagrad, SparseSGD

V, D = 16, 4
PAIRS = {  # ours -> stock, same constructor arguments
    "sgd": (SparseSGD, keras.optimizers.SGD),
    "adagrad": (SparseAdagrad, keras.optimizers.Adagrad),
    "adam": (LazyAdam, keras.optimizers.Adam),
}


def make_steps(rng, n, all_rows, dup=True):
    steps = []
    for _ in range(n):
        ids = rng.permutation(V) if all_rows else rng.choice(V, 5, replace=False)
        if dup:
            ids = np.concatenate([ids, ids[:3]])  # duplicates: summed first
        steps.append(
            (
                ids.astype(np.int64),
                rng.standard_normal((len(ids), D)).astype(np.float32),
                rng.standard_normal((D, 3)).astype(np.float32),
            )
        )
    return steps


def run(opt, table0, kernel0, steps, densify=False, graph=False):
    table = keras.Variable(table0, name="embeddings")
    kernel = keras.Variable(kernel0, name="kernel")

    def apply(ids, vals, gk):
        g = tf.IndexedSlices(vals, ids, tf.constant([V, D], tf.int64))
        opt.apply([tf.convert_to_tensor(g) if densify else g, gk], [table, kernel])

    if graph:
        opt.build([table, kernel])
        apply = tf.function(apply)
    for ids, vals, gk in steps:
        apply(tf.constant(ids), tf.constant(vals), tf.constant(gk))
    return table.numpy(), kernel.numpy(), [v.numpy() for v in opt.variables[2:]]


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize("dup", [False, True])
def test_every_row_touched_equals_stock(rng, name, graph, dup):
    ours, stock = PAIRS[name]
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    kernel0 = rng.standard_normal((D, 3)).astype(np.float32)
    steps = make_steps(rng, 4, all_rows=True, dup=dup)
    got = run(ours(learning_rate=0.05), table0, kernel0, steps, graph=graph)
    # With duplicate ids stock Keras Adagrad/Adam square each duplicate row
    # before summing (ops.square on IndexedSlices values): it gets the dense
    # gradient, whose meaning ours follows.
    want = run(stock(learning_rate=0.05), table0, kernel0, steps, graph=graph, densify=dup)
    assert_stock_close(got[0], want[0], "table")
    np.testing.assert_array_equal(got[1], want[1])  # dense weights: the stock code path
    for g, w in zip(got[2], want[2]):
        assert_stock_close(g, w, "slot")


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
def test_partial_rows_equal_stock_when_maths_coincide(rng, name):
    ours, stock = PAIRS[name]
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    kernel0 = rng.standard_normal((D, 3)).astype(np.float32)
    steps = make_steps(rng, 3, all_rows=False)
    got = run(ours(learning_rate=0.1), table0, kernel0, steps)
    want = run(stock(learning_rate=0.1), table0, kernel0, steps, densify=True)
    assert_stock_close(got[0], want[0], "table")


def reference_run(kind, table0, slots0, steps, lrs, weight_decay=0.0, **hyper):
    table, slots = table0.astype(np.float64), [s.astype(np.float64) for s in slots0]
    for t, ((ids, vals, _), lr) in enumerate(zip(steps, lrs), start=1):
        table, slots = sparse_step(kind, table, slots, ids, vals, lr, t, weight_decay, **hyper)
    return table, slots


def assert_untouched_identical(got, old, steps):
    touched = np.zeros(V, bool)
    for ids, _, _ in steps:
        touched[ids] = True
    assert got[~touched].tobytes() == old[~touched].tobytes()
    return touched


def test_lazy_adam_matches_reference_and_leaves_other_rows(rng):
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    steps = make_steps(rng, 5, all_rows=False)
    got_table, _, slots = run(LazyAdam(0.01), table0, np.zeros((D, 3), np.float32), steps)
    zeros = np.zeros((V, D))
    want_table, want_slots = reference_run("lazy_adam", table0, [zeros, zeros], steps, [0.01] * 5)
    assert_close_to_ref(got_table, want_table, "float32", what="table")
    # Keras orders slots per variable: table m, table v, kernel m, kernel v.
    assert_close_to_ref(slots[0], want_slots[0], "float32", what="m")
    assert_close_to_ref(slots[1], want_slots[1], "float32", what="v")
    touched = assert_untouched_identical(got_table, table0, steps)
    assert not slots[0][~touched].any() and not slots[1][~touched].any()


def test_learning_rate_schedule_is_read_each_step(rng):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    steps = make_steps(rng, 3, all_rows=False)
    got, _, _ = run(SparseSGD(schedule), table0, np.zeros((D, 3), np.float32), steps, graph=True)
    want, _ = reference_run("sgd", table0, [], steps, [0.1, 0.05, 0.025])
    assert_close_to_ref(got, want, "float32")


@pytest.mark.parametrize("name", list(PAIRS))
def test_weight_decay_is_decoupled_and_sparse(rng, name):
    ours, stock = PAIRS[name]
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    kernel0 = rng.standard_normal((D, 3)).astype(np.float32)
    steps = make_steps(rng, 2, all_rows=False)
    got = run(ours(0.1, weight_decay=0.2), table0, kernel0, steps)
    kind = {"sgd": "sgd", "adagrad": "adagrad", "adam": "lazy_adam"}[name]
    init = {"sgd": [], "adagrad": [np.full((V, D), 0.1)], "adam": [np.zeros((V, D))] * 2}[name]
    want, _ = reference_run(kind, table0, init, steps, [0.1, 0.1], weight_decay=0.2)
    assert_close_to_ref(got[0], want, "float32", what="table")
    assert_untouched_identical(got[0], table0, steps)
    stock_kernel = run(stock(0.1, weight_decay=0.2), table0, kernel0, steps)[1]
    np.testing.assert_array_equal(got[1], stock_kernel)


@pytest.mark.parametrize("clip", [{"clipnorm": 0.5}, {"global_clipnorm": 0.7}, {"clipvalue": 0.3}])
@pytest.mark.parametrize("name", ["sgd", "adagrad"])
def test_clipping_sees_the_summed_gradient(rng, name, clip):
    ours, stock = PAIRS[name]
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    kernel0 = rng.standard_normal((D, 3)).astype(np.float32)
    steps = make_steps(rng, 2, all_rows=False)  # with duplicate ids
    got = run(ours(0.1, **clip), table0, kernel0, steps)
    # Stock Keras on the dense gradient: the clip's meaning, without duplicates.
    want = run(stock(0.1, **clip), table0, kernel0, steps, densify=True)
    assert_stock_close(got[0], want[0], "table")
    assert_stock_close(got[1], want[1], "kernel")


def test_loss_scale_factor_unscales_sparse_gradients(rng):
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    kernel0 = rng.standard_normal((D, 3)).astype(np.float32)
    steps = make_steps(rng, 2, all_rows=False)
    scaled = [(i, v * 8, k * 8) for i, v, k in steps]
    got = run(LazyAdam(0.01, loss_scale_factor=8.0), table0, kernel0, scaled)
    want = run(LazyAdam(0.01), table0, kernel0, steps)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_rowwise_adagrad_tables_and_dense_weights(rng):
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    kernel0 = rng.standard_normal((D, 3)).astype(np.float32)
    steps = make_steps(rng, 3, all_rows=False)
    opt = RowWiseAdagrad(0.1, initial_accumulator_value=0.2)
    got_table, got_kernel, slots = run(opt, table0, kernel0, steps)
    assert [tuple(s.shape) for s in slots] == [(V,), (D, 3)]
    want, want_slots = reference_run(
        "rowwise_adagrad", table0, [np.full(V, 0.2)], steps, [0.1] * 3, epsilon=1e-7
    )
    assert_close_to_ref(got_table, want, "float32", what="table")
    assert_close_to_ref(slots[0], want_slots[0], "float32", what="row accumulators")
    assert_untouched_identical(got_table, table0, steps)
    stock = run(
        keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.2), table0, kernel0, steps
    )
    np.testing.assert_array_equal(got_kernel, stock[1])


def test_rowwise_adagrad_dense_gradient_updates_every_row(rng):
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    steps = make_steps(rng, 1, all_rows=True, dup=False)
    got, _, _ = run(RowWiseAdagrad(0.1), table0, np.zeros((D, 3), np.float32), steps, densify=True)
    want, _ = reference_run("rowwise_adagrad", table0, [np.full(V, 0.1)], steps, [0.1])
    assert_close_to_ref(got, want, "float32")


def test_rowwise_adagrad_dense_gradient_decays_once(rng):
    table0 = rng.standard_normal((V, D)).astype(np.float32)
    steps = make_steps(rng, 2, all_rows=True, dup=False)
    got, _, _ = run(
        RowWiseAdagrad(0.1, weight_decay=0.2),
        table0,
        np.zeros((D, 3), np.float32),
        steps,
        densify=True,
    )
    want, _ = reference_run(
        "rowwise_adagrad", table0, [np.full(V, 0.1)], steps, [0.1, 0.1], weight_decay=0.2
    )
    assert_close_to_ref(got, want, "float32")


@pytest.mark.parametrize(
    "make",
    [
        lambda: SparseSGD(0.1, momentum=0.9),
        lambda: SparseSGD(0.1, nesterov=True),
        lambda: LazyAdam(amsgrad=True),
        lambda: SparseAdagrad(use_ema=True),
        lambda: LazyAdam(gradient_accumulation_steps=4),
        lambda: RowWiseAdagrad(table_pattern="("),
    ],
)
def test_refused_options_raise_at_construction(make):
    with pytest.raises(
        ValueError,
        match=r"momentum|amsgrad|use_ema|gradient_acc|"
        r"not a valid regular expression",
    ):
        make()


@pytest.mark.parametrize("cls", [SparseSGD, SparseAdagrad, RowWiseAdagrad, LazyAdam])
def test_config_round_trip(cls):
    opt = cls(learning_rate=0.02, weight_decay=0.01, clipnorm=1.0)
    again = cls.from_config(opt.get_config())
    assert again.get_config() == opt.get_config()


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: LazyAdam(learning_rate=-1e-3),
            r"LazyAdam: learning_rate must be >= 0 and finite, got -0\.001",
        ),
        (
            lambda: LazyAdam(learning_rate=float("nan")),
            r"learning_rate must be >= 0 and finite, got nan",
        ),
        (lambda: LazyAdam(beta_1=1.0), r"LazyAdam: beta_1 must be in \[0, 1\), got 1\.0"),
        (lambda: LazyAdam(epsilon=-1.0), r"LazyAdam: epsilon must be >= 0 and finite, got -1\.0"),
        (
            lambda: SparseAdagrad(initial_accumulator_value=float("inf")),
            r"initial_accumulator_value must be >= 0 and finite, got inf",
        ),
        (
            lambda: RowWiseAdagrad(weight_decay=-0.1),
            r"RowWiseAdagrad: weight_decay must be >= 0 and finite, got -0\.1",
        ),
        (
            lambda: SparseSGD(learning_rate=True),
            r"SparseSGD: learning_rate must be a real number, got bool True",
        ),
        (
            lambda: SparseSGD(clipnorm=0.0),
            r"SparseSGD: clipnorm must be positive and finite, got 0\.0",
        ),
    ],
)
def test_hyper_parameters_keras_would_take_silently_are_refused(make, match):
    # Keras builds an Adam with a NaN learning rate or beta_1 = 1 and the
    # first step then turns every weight NaN or divides by zero.
    with pytest.raises(ValueError, match=match):
        make()


def test_numpy_scalar_hyper_parameters_are_accepted():
    # Keras refuses np.float32 as a learning rate; configs built with NumPy must work.
    opt = LazyAdam(learning_rate=np.float32(0.01), beta_1=np.float64(0.8), epsilon=np.float32(1e-6))
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.01) and opt.beta_1 == 0.8
    assert float(SparseSGD(np.float64(0.5)).learning_rate.numpy()) == 0.5
    assert float(RowWiseAdagrad(np.float32(0.05)).learning_rate.numpy()) == pytest.approx(0.05)
