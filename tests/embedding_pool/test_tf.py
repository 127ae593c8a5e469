"""embedding_pool as a TensorFlow op: against the float64 reference, eager
and in tf.function, over combiner x table dtype x id dtype x layout x weights,
plus the named edge cases (tolerances: tests/tolerance.py); numeric
gradients; and how it treats variables: read in place, sparse gradients that
Keras 3 optimizers take, static shapes. Against stock TF: test_vs_stock.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.embedding_pool.cases import (
    COMBINERS,
    DTYPES,
    EDGES,
    ID_DTYPES,
    LAYOUTS,
    WEIGHTED,
    check_pool_results,
    edge_cases,
    make_case,
)
from tests.embedding_pool.reference import embedding_pool_ref
from ydnn_kernels import embedding_pool

TF_DTYPES = {"float32": tf.float32, "float16": tf.float16, "bfloat16": tf.bfloat16}


def run_pool(case, combiner, layout, mode="eager", variable=False, upstream=None):
    """Forward and gradients through the op; returns NumPy results."""
    dtype = TF_DTYPES[str(case.table.dtype)]
    table = tf.Variable(case.table) if variable else tf.constant(case.table)
    if layout == "ragged":
        ids = tf.RaggedTensor.from_row_splits(case.values, case.row_splits)
        lengths = None
        weights = (
            None
            if case.weights is None
            else tf.RaggedTensor.from_row_splits(case.weight_values, case.row_splits)
        )
    else:
        ids, lengths = tf.constant(case.ids), tf.constant(case.lengths)
        weights = None if case.weights is None else tf.constant(case.weights)
    up = tf.cast(tf.constant(upstream), dtype)

    def fn(ids, lengths, weights):
        with tf.GradientTape() as tape:
            if not variable:
                tape.watch(table)
            w_src = weights.values if isinstance(weights, tf.RaggedTensor) else weights
            if weights is not None:
                tape.watch(w_src)
            out = embedding_pool(table, ids, lengths=lengths, weights=weights, combiner=combiner)
            loss = tf.reduce_sum(tf.cast(out, tf.float32) * tf.cast(up, tf.float32))
        g_table, g_w = tape.gradient(loss, [table, w_src if weights is not None else table])
        return out, g_table.indices, g_table.values, g_w if weights is not None else None

    if mode == "function":
        fn = tf.function(fn)
    out, idx, rows, g_w = fn(ids, lengths, weights)
    to_np = lambda t: None if t is None else t.numpy()  # noqa: E731
    return to_np(out), to_np(idx), to_np(rows), to_np(g_w)


def check_against_reference(case, combiner, layout, **kw):
    B, D = case.ids.shape[0], case.table.shape[1]
    upstream = np.random.default_rng(0).standard_normal((B, D)).astype(case.table.dtype)
    out, idx, rows, g_w = run_pool(case, combiner, layout, upstream=upstream, **kw)
    check_pool_results(case, combiner, layout, out, upstream, idx, rows, g_w)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("weighted", WEIGHTED)
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_matches_reference(rng, combiner, dtype, id_dtype, weighted, layout, mode):
    case = make_case(rng, B=7, L=6, V=60, D=20, dtype=dtype, id_dtype=id_dtype, weighted=weighted)
    check_against_reference(case, combiner, layout, mode=mode, variable=mode == "function")


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("weighted", WEIGHTED)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_edge_cases(rng, combiner, weighted, layout, edge):
    case = edge_cases(rng, weighted=weighted)[edge]
    check_against_reference(case, combiner, layout, variable=True)


def test_empty_rows_are_zero_not_nan(rng):
    case = make_case(rng, B=3, L=4, lengths=[0, 0, 0], weighted=True)
    for combiner in ("sum", "mean", "sqrtn"):
        out = embedding_pool(case.table, case.ids, case.lengths, case.weights, combiner).numpy()
        assert np.all(out == 0.0), combiner


def test_padding_is_never_read(rng):
    case = make_case(rng, B=4, L=5, lengths=[5, 2, 0, 3])
    ids = case.ids.copy()
    for b, n in enumerate(case.lengths):  # ids no table has: any read would fail
        ids[b, n:] = np.iinfo(ids.dtype).max if b % 2 else np.iinfo(ids.dtype).min
    out = embedding_pool(case.table, ids, case.lengths).numpy()
    np.testing.assert_allclose(
        out, embedding_pool_ref(case.table, case.bags, "mean"), rtol=1e-5, atol=1e-6
    )


def test_sparse_tensor_ids_match_ragged(rng):
    case = make_case(rng, B=5, L=4)
    ragged = tf.RaggedTensor.from_row_splits(case.values, case.row_splits)
    a = embedding_pool(case.table, ragged.to_sparse(), combiner="sqrtn")
    b = embedding_pool(case.table, ragged, combiner="sqrtn")
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_lengths_default_to_full_rows(rng):
    case = make_case(rng, B=3, L=4, lengths=[4, 4, 4])
    a = embedding_pool(case.table, case.ids, combiner="sum")
    b = embedding_pool(case.table, case.ids, lengths=[4, 4, 4], combiner="sum")
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_deterministic_gradients(rng):
    case = make_case(rng, B=64, L=20, V=30, D=33)  # many duplicates per id
    up = rng.standard_normal((64, 33)).astype(np.float32)
    first = run_pool(case, "mean", "padded", upstream=up)
    for _ in range(3):
        again = run_pool(case, "mean", "padded", upstream=up)
        for a, b in zip(first, again):
            if a is not None:
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("combiner", COMBINERS)
def test_numeric_gradients(rng, combiner):
    # The op is linear in the table, so float32 finite differences are exact
    # up to rounding (~eps * |x| / delta); weights enter non-linearly for
    # mean/sqrtn, adding O(delta) curvature error. Hence atol 2e-3.
    case = make_case(rng, B=3, L=3, V=6, D=4, weighted=True, lengths=[3, 1, 2])
    ids, lengths = tf.constant(case.ids), tf.constant(case.lengths)

    def f(table, weights):
        return embedding_pool(table, ids, lengths, weights, combiner)

    theoretical, numerical = tf.test.compute_gradient(
        f, [tf.constant(case.table), tf.constant(case.weights)], delta=1e-2
    )
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
