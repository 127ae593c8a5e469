"""ydnn_kernels.sparse_apply (the TF op) against the float64 reference:
touched rows follow the maths, every other row and slot row stays
bit-identical; duplicates, id dtypes, table dtypes, several steps, eager and
tf.function, a learning rate read each step. Bad input: test_errors.py."""

import numpy as np
import pytest
import tensorflow as tf

from tests.sparse_optim.cases import HYPER, ID_DTYPES, KINDS, NP_DTYPE, check_step, make_state
from tests.sparse_optim.reference import sparse_step
from tests.tolerance import assert_close_to_ref
from ydnn_kernels.sparse_optim_op import sparse_apply


def run_op(
    kind, table, slots, ids, grad, lr, step=1, weight_decay=0.0, graph=False, id_dtype=np.int64
):
    dtype = tf.as_dtype(table.dtype)
    var = tf.Variable(table, dtype=dtype)
    slot_vars = [tf.Variable(s) for s in slots]
    args = (tf.constant(np.asarray(ids, id_dtype)), tf.constant(grad, dtype=dtype))

    def step_fn(i, g):
        sparse_apply(kind, var, slot_vars, i, g, lr, step=step, weight_decay=weight_decay, **HYPER)

    (tf.function(step_fn) if graph else step_fn)(*args)
    return var.numpy(), [s.numpy() for s in slot_vars]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", ["sorted_unique", "shuffled_duplicates", "ends"])
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
@pytest.mark.parametrize("graph", [False, True])
def test_step_matches_reference(rng, kind, layout, id_dtype, graph):
    V, D = 40, 12
    table, slots = make_state(rng, kind, V, D)
    if layout == "sorted_unique":
        ids = np.sort(rng.choice(V, 15, replace=False))
    elif layout == "shuffled_duplicates":
        ids = rng.integers(0, V, 30)
        ids[:3] = ids[5]  # certainly some duplicates
    else:
        ids = np.array([V - 1, 0, V - 1, 0])
    grad = rng.standard_normal((len(ids), D)).astype(np.float32)
    got = run_op(kind, table, slots, ids, grad, 0.05, graph=graph, id_dtype=id_dtype)
    check_step(kind, table, slots, ids, grad, *got, lr=0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_weight_decay_touches_only_named_rows(rng, kind):
    table, slots = make_state(rng, kind, 30, 8)
    ids = np.array([4, 9, 4, 17])
    grad = rng.standard_normal((4, 8)).astype(np.float32)
    got = run_op(kind, table, slots, ids, grad, 0.1, weight_decay=0.3)
    check_step(kind, table, slots, ids, grad, *got, lr=0.1, weight_decay=0.3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("kind", ["sgd", "lazy_adam"])
def test_half_tables_with_float32_slots(rng, kind, dtype):
    table, slots = make_state(rng, kind, 20, 16, dtype)
    ids = np.array([1, 7, 7, 19])
    grad = rng.standard_normal((4, 16)).astype(NP_DTYPE[dtype])
    got = run_op(kind, table, slots, ids, grad, 0.01)
    check_step(
        kind,
        table.astype(np.float64),
        slots,
        ids,
        grad.astype(np.float64),
        got[0].astype(np.float64),
        got[1],
        lr=0.01,
        dtype=dtype,
    )


def test_lazy_adam_several_steps_use_global_step(rng):
    V, D = 25, 6
    table, slots = make_state(rng, "lazy_adam", V, D)
    var, slot_vars = tf.Variable(table), [tf.Variable(s) for s in slots]
    want_table, want_slots = table.astype(np.float64), [s.astype(np.float64) for s in slots]
    for t in range(1, 7):
        ids = rng.integers(0, V, 8)  # rows skip steps: their moments must not decay
        grad = rng.standard_normal((8, D)).astype(np.float32)
        sparse_apply("lazy_adam", var, slot_vars, ids, grad, 0.01, step=t, **HYPER)
        want_table, want_slots = sparse_step(
            "lazy_adam", want_table, want_slots, ids, grad, 0.01, t, **HYPER
        )
    assert_close_to_ref(var.numpy(), want_table, "float32", what="table after 6 steps")
    for got, want in zip(slot_vars, want_slots):
        assert_close_to_ref(got.numpy(), want, "float32", what="moments after 6 steps")


@pytest.mark.parametrize("kind", KINDS)
def test_empty_gradient_changes_nothing(rng, kind):
    table, slots = make_state(rng, kind, 10, 4)
    got_table, got_slots = run_op(
        kind, table, slots, np.zeros(0, np.int64), np.zeros((0, 4), np.float32), 0.1
    )
    assert got_table.tobytes() == table.tobytes()
    assert all(g.tobytes() == s.tobytes() for g, s in zip(got_slots, slots))


def test_learning_rate_is_read_each_step(rng):
    var = tf.Variable(np.zeros((5, 2), np.float32))
    lr = tf.Variable(0.5)
    step = tf.function(lambda: sparse_apply("sgd", var, [], tf.constant([1]), tf.ones([1, 2]), lr))
    step()
    lr.assign(0.25)
    step()
    np.testing.assert_array_equal(var.numpy()[1], [-0.75, -0.75])
