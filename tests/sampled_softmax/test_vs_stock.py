"""The fused sampled softmax op against stock TF's tf.nn.sampled_softmax_loss.

Stock comparisons use the same `sampled_values` and unique sampled ids: TF's
compute_accidental_hits keeps one position per sampled id, so with
duplicates it masks only one of them (ours masks all; test_arrays.py checks
that against the reference).
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.sampled_softmax.cases import make_case
from tests.sampled_softmax.test_tf import fused_loss, loss_and_grads
from tests.tolerance import assert_stock_close


def stock_loss(case, table, query, rah=True):
    V = case["table"].shape[0]
    return tf.nn.sampled_softmax_loss(
        weights=table,
        biases=tf.zeros([V]),
        labels=case["positive_ids"][:, None].astype(np.int64),
        inputs=query,
        num_sampled=len(case["sampled_ids"]),
        num_classes=V,
        sampled_values=(
            case["sampled_ids"].astype(np.int64),
            case["true_expected_count"][:, None],
            case["sampled_expected_count"],
        ),
        remove_accidental_hits=rah,
    )


@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("rah", [True, False])
@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize("S", [1, 20, 200])
def test_matches_stock_tf(rng, variable, rah, graph, S):
    case = make_case(rng, B=33, D=16, V=400, S=S, unique=True, hits=4, id_dtype=np.int32)
    table = tf.Variable(case["table"]) if variable else tf.constant(case["table"])
    g = tf.constant(rng.uniform(0.5, 2.0, 33).astype(np.float32))

    def fused(c, t, q):
        return fused_loss(c, t, q, remove_accidental_hits=rah)

    def stock(c, t, q):
        return stock_loss(c, t, q, rah)

    run = (
        (lambda f: tf.function(lambda: loss_and_grads(f, case, table, g))())
        if graph
        else (lambda f: loss_and_grads(f, case, table, g))
    )
    loss, gq, gt = run(fused)
    s_loss, s_gq, s_gt = run(stock)
    assert isinstance(gt, tf.IndexedSlices)
    ids = gt.indices.numpy()
    assert np.all(np.diff(ids) > 0), "indices are sorted and unique"
    assert_stock_close(loss, s_loss, "loss")
    assert_stock_close(gq, s_gq, "grad query")
    assert_stock_close(tf.convert_to_tensor(gt), tf.convert_to_tensor(s_gt), "grad table")
