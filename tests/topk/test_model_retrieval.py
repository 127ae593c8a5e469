"""The model's retrieval on the fused kernel against the stock path it
replaces: `top_k_items(fused=True)` and `fused=False` give the same ids in
the same order (with exclusions, min_id, a `post` transform, rows left
short of k), and a model's evaluate / top-k encoder agree between
`ops="fused"` and `ops="stock"` with the same weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ydnn
from tests.model_cases import small_data
from ydnn.model import YoutubeDNNRetrievalModelV2, top_k_items


def both(query, table, k, **kw):
    a = top_k_items(query, table, k, fused=True, **kw)
    b = top_k_items(query, table, k, fused=False, chunk=97, **kw)
    return [x.numpy() for x in a], [x.numpy() for x in b]


@pytest.mark.parametrize("post", [None, ydnn.L2Norm()])
@pytest.mark.parametrize("dense", [False, True])
def test_fused_and_stock_top_k_items_agree(rng, post, dense):
    table = tf.Variable(rng.standard_normal((1000, 16)).astype(np.float32))
    query = rng.standard_normal((9, 16)).astype(np.float32)
    lists = [sorted(rng.choice(np.arange(1, 1000), size=i * 3, replace=False)) for i in range(9)]
    exclude = tf.ragged.constant(lists, dtype=tf.int64, ragged_rank=1)
    if dense:
        exclude = exclude.to_tensor(0)
    (fs, fi), (ss, si) = both(query, table, 25, post=post, min_id=1, exclude=exclude)
    np.testing.assert_array_equal(fi, si)
    np.testing.assert_allclose(fs, ss, rtol=1e-5, atol=1e-5)


def test_rows_left_short_of_k_agree(rng):
    table = tf.constant(rng.standard_normal((8, 4)).astype(np.float32))
    query = rng.standard_normal((2, 4)).astype(np.float32)
    exclude = tf.ragged.constant([[1, 2, 3, 4, 5], []], dtype=tf.int64)
    (fs, fi), (ss, si) = both(query, table, 6, min_id=1, exclude=exclude)
    np.testing.assert_array_equal(fi, si)
    assert (fi[0, 2:] == -1).all() and np.isneginf(ss[0, 2:]).all()


def test_fused_and_stock_models_evaluate_alike():
    keras.utils.set_random_seed(0)
    data = small_data(users=200, items=300, interactions=5000)
    models = {}
    for ops in ("fused", "stock"):
        m = YoutubeDNNRetrievalModelV2(data.schema(), num_sampled=20, min_sampled_id=1, ops=ops)
        m.compile(optimizer="adam", exclude_seen=True)
        models[ops] = m
    test = ydnn.data.to_dataset(data.test, 128, shuffle=False, seen=data)
    f, _ = next(iter(test))
    models["fused"](f)
    models["stock"](f)
    models["stock"].set_weights(models["fused"].get_weights())
    got = {ops: m.evaluate(test, return_dict=True, verbose=0) for ops, m in models.items()}
    for name in ("recall_at_10", "ndcg_at_10", "mrr_at_10"):
        assert got["fused"][name] == pytest.approx(got["stock"][name], abs=1e-6), name
    enc = {ops: m.to_top_k_encoder(15, exclude_seen=True)(f)[1] for ops, m in models.items()}
    np.testing.assert_array_equal(enc["fused"].numpy(), enc["stock"].numpy())
