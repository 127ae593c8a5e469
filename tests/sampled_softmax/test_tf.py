"""The fused sampled softmax as a TensorFlow op: against the float64
reference (dtypes, in-batch negatives, tf.function, gradients), the logits
output, numeric gradients, variables read in place, and the sparse gradient
a Keras optimizer applies. Against stock TF: test_vs_stock.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.sampled_softmax.cases import DTYPES, check_grads, check_loss, make_case, reference
from ydnn_kernels import sampled_softmax_loss


def fused_loss(case, table, query, **kw):
    return sampled_softmax_loss(
        query,
        table,
        case["positive_ids"],
        case["sampled_ids"],
        case["true_expected_count"],
        case["sampled_expected_count"],
        **kw,
    )


def loss_and_grads(fn, case, table, g):
    query = tf.constant(case["query"])
    with tf.GradientTape() as tape:
        tape.watch(query)
        if not isinstance(table, tf.Variable):
            tape.watch(table)
        loss = fn(case, table, query)
        objective = tf.reduce_sum(loss * g)
    gq, gt = tape.gradient(objective, [query, table])
    return loss, gq, gt


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_batch", [False, True])
def test_op_matches_reference(rng, dtype, in_batch):
    case = make_case(rng, B=21, D=10, V=60, S=30, dtype=dtype, hits=3)
    table = tf.Variable(case["table"])
    g = rng.uniform(-1, 1, 21).astype(np.float32)

    def fused(c, t, q):
        return fused_loss(c, t, q, temperature=0.2, in_batch_negatives=in_batch)

    loss, gq, gt = tf.function(lambda: loss_and_grads(fused, case, table, g))()
    want = reference(case, 0.2, True, in_batch, g)
    check_loss(loss.numpy(), want[0], case, 0.2)
    assert gt.values.dtype == table.dtype
    check_grads(
        gq.numpy(),
        gt.indices.numpy(),
        gt.values.numpy().astype(np.float64),
        want,
        case,
        0.2,
        dtype,
        g,
    )


def test_logits_output_for_metrics(rng):
    case = make_case(rng, B=9, D=8, V=30, S=12, hits=3)
    loss, logits = fused_loss(
        case,
        tf.constant(case["table"]),
        case["query"],
        temperature=0.5,
        return_logits=True,
        in_batch_negatives=True,
    )
    want = reference(case, 0.5, True, True)
    assert logits.shape == (9, 1 + 9 + 12)
    np.testing.assert_array_equal(np.isinf(logits), np.isinf(want[1]))
    finite = np.isfinite(want[1])
    np.testing.assert_allclose(logits.numpy()[finite], want[1][finite], rtol=1e-5, atol=1e-5)
    # Logits carry no gradient (they are for metrics).
    query = tf.constant(case["query"])
    with tf.GradientTape() as tape:
        tape.watch(query)
        _, lg = fused_loss(case, tf.constant(case["table"]), query, return_logits=True)
        s = tf.reduce_sum(tf.where(tf.math.is_finite(lg), lg, 0.0))
    assert tape.gradient(s, query) is None


def test_numeric_gradient(rng):
    case = make_case(rng, B=4, D=3, V=7, S=5, hits=1, scale=1.0)

    def f(query, table):
        return fused_loss(case, table, query, temperature=0.7, in_batch_negatives=True)

    theoretical, numerical = tf.test.compute_gradient(
        f, [tf.constant(case["query"]), tf.constant(case["table"])], delta=1e-2
    )
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, atol=3e-3)
        assert np.abs(t).max() > 0.05, "the gradient must not be trivially zero"


def test_variable_is_read_in_place_not_copied(rng):
    case = make_case(rng, B=8, D=4, V=20, S=5)
    var = tf.Variable(case["table"])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fused_loss(case, var, case["query"]))
        return tape.gradient(loss, var)

    types = {op.type for op in step.get_concrete_function().graph.get_operations()}
    assert {"YdnnSampledSoftmaxLossResource", "YdnnSampledSoftmaxLossResourceGrad"} <= types
    assert "ReadVariableOp" not in types and "GatherV2" not in types
    assert "ResourceGather" not in types


def test_keras_optimizer_applies_the_sparse_gradient(rng):
    case = make_case(rng, B=6, D=4, V=20, S=5)
    table = keras.Variable(case["table"], name="items")
    before = table.numpy().copy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(fused_loss(case, table, case["query"]))
    grad = tape.gradient(loss, table.value)
    keras.optimizers.SGD(0.5).apply_gradients([(grad, table)])
    touched = np.unique(np.concatenate([case["positive_ids"], case["sampled_ids"]]))
    changed = np.flatnonzero(np.any(table.numpy() != before, axis=1))
    assert set(changed) <= set(touched) and len(changed) > 0
