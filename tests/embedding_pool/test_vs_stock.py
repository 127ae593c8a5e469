"""embedding_pool against stock TF (tf.gather + masked reduction, and
safe_embedding_lookup_sparse): forward, table and weight gradients, eager
and in tf.function, and a large batch on TF's thread pool."""

import pytest
import tensorflow as tf

from tests.embedding_pool.cases import COMBINERS, WEIGHTED, make_case
from tests.tolerance import assert_stock_close
from ydnn_kernels import embedding_pool, stock


def _grads(fn, table, weights):
    with tf.GradientTape() as tape:
        tape.watch([table, weights])
        out = fn(table, weights)
        loss = tf.reduce_sum(
            out * tf.reshape(tf.range(tf.size(out), dtype=out.dtype), tf.shape(out)) / 10.0
        )
    g_table, g_w = tape.gradient(loss, [table, weights])
    return out, tf.convert_to_tensor(g_table), g_w


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("weighted", WEIGHTED)
@pytest.mark.parametrize("combiner", COMBINERS)
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


@pytest.mark.parametrize("weighted", WEIGHTED)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_ragged_matches_safe_embedding_lookup_sparse(rng, combiner, weighted):
    # Positive weights: safe_embedding_lookup_sparse drops ids with weight <= 0.
    case = make_case(rng, B=9, L=7, V=40, D=16, weighted=True)
    table = tf.constant(case.table)
    ids = tf.RaggedTensor.from_row_splits(case.values, case.row_splits)
    weights = tf.constant(case.weight_values)

    def wrap(wt):
        return tf.RaggedTensor.from_row_splits(wt, case.row_splits) if weighted else None

    got = _grads(
        lambda t, wt: embedding_pool(t, ids, weights=wrap(wt), combiner=combiner), table, weights
    )
    want = _grads(
        lambda t, wt: stock.embedding_pool_lookup_sparse(t, ids, wrap(wt), combiner), table, weights
    )
    for name, a, b in zip(("forward", "table grad", "weight grad"), got, want):
        if weighted or name != "weight grad":
            assert_stock_close(a, b, name)


def test_large_batch_on_tfs_thread_pool(rng):
    # Tens of thousands of ids through TF's pool, against the stock path.
    case = make_case(rng, B=2048, L=16, V=3000, D=8, lengths=rng.integers(8, 17, size=2048))
    table, ids, lengths = tf.constant(case.table), tf.constant(case.ids), tf.constant(case.lengths)
    unused = tf.zeros([1])
    got = _grads(lambda t, w: embedding_pool(t, ids, lengths, combiner="sqrtn"), table, unused)
    want = _grads(
        lambda t, w: stock.embedding_pool_gather(t, ids, lengths, combiner="sqrtn"), table, unused
    )
    for name, a, b in zip(("forward", "table grad"), got[:2], want[:2]):
        assert_stock_close(a, b, name)
