"""embedding_pool against stock TF, numeric gradients, and how it treats
variables: read in place, sparse gradients that Keras 3 optimizers take."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.pool_cases import make_case
from tests.tolerance import assert_stock_close
from ydnn_kernels import embedding_pool, stock


def _grads(fn, table, weights):
    with tf.GradientTape() as tape:
        tape.watch([table, weights])
        out = fn(table, weights)
        loss = tf.reduce_sum(out * tf.reshape(tf.range(tf.size(out), dtype=out.dtype),
                                              tf.shape(out)) / 10.0)
    g_table, g_w = tape.gradient(loss, [table, weights])
    return out, tf.convert_to_tensor(g_table), g_w


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_padded_matches_masked_gather(rng, combiner, weighted, mode):
    case = make_case(rng, B=9, L=7, V=40, D=16, weighted=True)
    table, ids, lengths = tf.constant(case.table), tf.constant(case.ids), tf.constant(case.lengths)
    weights = tf.constant(case.weights)
    w = (lambda x: x) if weighted else (lambda x: None)  # noqa: E731

    def fused(t, wt):
        return embedding_pool(t, ids, lengths, w(wt), combiner)

    def ref(t, wt):
        return stock.embedding_pool_gather(t, ids, lengths, w(wt), combiner)

    run = tf.function if mode == "function" else (lambda f: f)
    got = run(lambda t, wt: _grads(fused, t, wt))(table, weights)
    want = run(lambda t, wt: _grads(ref, t, wt))(table, weights)
    assert_stock_close(got[0], want[0], "forward")
    assert_stock_close(got[1], want[1], "table grad")
    if weighted:  # both give padding slots a weight gradient of 0
        assert got[2] is not None and want[2] is not None
        assert_stock_close(got[2], want[2], "weight grad")
    else:
        assert got[2] is None and want[2] is None


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_ragged_matches_safe_embedding_lookup_sparse(rng, combiner, weighted):
    # Positive weights: safe_embedding_lookup_sparse drops ids with weight <= 0.
    case = make_case(rng, B=9, L=7, V=40, D=16, weighted=True)
    table = tf.constant(case.table)
    ids = tf.RaggedTensor.from_row_splits(case.values, case.row_splits)
    weights = tf.constant(case.weight_values)

    def wrap(wt):
        return tf.RaggedTensor.from_row_splits(wt, case.row_splits) if weighted else None

    got = _grads(lambda t, wt: embedding_pool(t, ids, weights=wrap(wt), combiner=combiner),
                 table, weights)
    want = _grads(lambda t, wt: stock.embedding_pool_lookup_sparse(t, ids, wrap(wt), combiner),
                  table, weights)
    for name, a, b in zip(("forward", "table grad", "weight grad"), got, want):
        if weighted or name != "weight grad":
            assert_stock_close(a, b, name)


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_numeric_gradients(rng, combiner):
    # The op is linear in the table, so float32 finite differences are exact
    # up to rounding (~eps * |x| / delta); weights enter non-linearly for
    # mean/sqrtn, adding O(delta) curvature error. Hence atol 2e-3.
    case = make_case(rng, B=3, L=3, V=6, D=4, weighted=True, lengths=[3, 1, 2])
    ids, lengths = tf.constant(case.ids), tf.constant(case.lengths)

    def f(table, weights):
        return embedding_pool(table, ids, lengths, weights, combiner)

    theoretical, numerical = tf.test.compute_gradient(
        f, [tf.constant(case.table), tf.constant(case.weights)], delta=1e-2)
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, atol=2e-3)
        assert np.abs(t).max() > 0.1, "the gradient must not be trivially zero"


def test_variable_is_read_in_place_not_copied():
    var = tf.Variable(np.arange(40, dtype=np.float32).reshape(10, 4))
    ids = tf.constant([[1, 2], [3, 9]])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(embedding_pool(var, ids))
        return tape.gradient(loss, var)

    graph = step.get_concrete_function().graph
    types = {op.type for op in graph.get_operations()}
    assert "YdnnEmbeddingPoolResource" in types and "YdnnEmbeddingPoolResourceGrad" in types
    assert "ReadVariableOp" not in types, "a dense read would copy a copy-on-read table"
    assert "UnsortedSegmentSum" not in types and "ScatterNd" not in types


def test_reads_current_value_after_sparse_update():
    # A sparse update puts the variable in copy-on-read mode.
    var = tf.Variable(np.zeros((5, 2), np.float32))
    var.scatter_add(tf.IndexedSlices(tf.ones([1, 2]), tf.constant([3])))
    out = embedding_pool(var, tf.constant([[3, 0]]), combiner="sum")
    np.testing.assert_array_equal(out.numpy(), [[1.0, 1.0]])


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_keras_optimizer_takes_the_sparse_gradient(optimizer):
    table = keras.Variable(np.ones((8, 3), np.float32), name="table")
    ids = tf.constant([[1, 1, 4], [6, 0, 0]])
    lengths = tf.constant([3, 1])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(embedding_pool(table, ids, lengths, combiner="sum"))
    (grad,) = tape.gradient(loss, [table])
    assert isinstance(grad, tf.IndexedSlices)
    np.testing.assert_array_equal(grad.indices.numpy(), [1, 4, 6])
    np.testing.assert_array_equal(grad.values.numpy()[:, 0], [2.0, 1.0, 1.0])
    opt = keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": 0.5}})
    opt.apply_gradients([(grad, table)])
    after = keras.ops.convert_to_numpy(table)
    untouched = [0, 2, 3, 5, 7]
    np.testing.assert_array_equal(after[untouched], 1.0)
    assert np.all(after[[1, 4, 6]] < 1.0)
    if optimizer == "sgd":
        np.testing.assert_allclose(after[[1, 4, 6], 0], [0.0, 0.5, 0.5])


def test_int32_and_int64_ids_agree(rng):
    case = make_case(rng, B=5, L=4)
    a = embedding_pool(case.table, case.ids.astype(np.int32), case.lengths)
    b = embedding_pool(case.table, case.ids.astype(np.int64), case.lengths)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_static_shape_inference():
    table = tf.Variable(tf.zeros([100, 24]))

    @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.int64)])
    def f(ids):
        out = embedding_pool(table, ids)
        assert out.shape.as_list() == [None, 24], out.shape
        return out

    assert f(tf.zeros([3, 5], tf.int64)).shape == (3, 24)


def test_large_batch_on_tfs_thread_pool(rng):
    # Tens of thousands of ids through TF's pool, against the stock path.
    case = make_case(rng, B=2048, L=16, V=3000, D=8, lengths=rng.integers(8, 17, size=2048))
    table, ids, lengths = tf.constant(case.table), tf.constant(case.ids), tf.constant(case.lengths)
    unused = tf.zeros([1])
    got = _grads(lambda t, w: embedding_pool(t, ids, lengths, combiner="sqrtn"), table, unused)
    want = _grads(lambda t, w: stock.embedding_pool_gather(t, ids, lengths, combiner="sqrtn"),
                  table, unused)
    for name, a, b in zip(("forward", "table grad"), got[:2], want[:2]):
        assert_stock_close(a, b, name)
