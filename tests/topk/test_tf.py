"""topk_scores as a TensorFlow op: against the float64 reference eager and
in tf.function, over table dtypes, tensors and variables (read in place),
ragged / dense / int32 exclusions; static shapes; no gradient. Against
stock TF's matmul + top_k: test_vs_stock.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.topk.cases import DTYPES, check_topk, make_case
from tests.topk.reference import topk_reference
from ydnn_kernels import topk_scores

TF_DTYPES = {"float32": tf.float32, "float16": tf.float16, "bfloat16": tf.bfloat16}


def run(case, mode="eager", variable=False, exclude_form="ragged"):
    table = tf.Variable(case.table) if variable else tf.constant(case.table)
    exclude = None
    if case.exclude is not None:
        exclude = tf.ragged.constant(case.exclude, dtype=tf.int64, ragged_rank=1)
        if exclude_form == "int32":
            exclude = tf.cast(exclude, tf.int32)
        elif exclude_form == "dense":
            exclude = exclude.to_tensor(0)

    def fn(q):
        return topk_scores(q, table, case.k, exclude, case.min_id)

    if mode == "function":
        fn = tf.function(fn)
    scores, ids = fn(tf.constant(case.queries))
    return scores.numpy(), ids.numpy()


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B, V, D, k", [(1, 400, 64, 10), (33, 3000, 20, 25)])
def test_matches_reference(rng, B, V, D, k, dtype, variable, mode):
    case = make_case(rng, B, V, D, k, dtype, exclude=True, min_id=1)
    got = run(case, mode, variable)
    check_topk(case, *got, *topk_reference(case.queries, case.table, k, case.exclude, 1), mode)


@pytest.mark.parametrize("form", ["ragged", "int32", "dense"])
def test_exclusion_forms(rng, form):
    # Dense exclusions are 0-padded, so min_id = 1 keeps id 0 out as well.
    case = make_case(rng, 8, 900, 16, 12, exclude=True, min_id=1)
    got = run(case, exclude_form=form)
    check_topk(case, *got, *topk_reference(case.queries, case.table, 12, case.exclude, 1), form)


def test_keras_variable_is_read_in_place_and_has_no_gradient(rng):
    var = keras.Variable(rng.standard_normal((300, 16)).astype(np.float32))
    q = tf.Variable(rng.standard_normal((2, 16)).astype(np.float32))
    with tf.GradientTape() as tape:
        scores, ids = topk_scores(q, var, 5)
    assert tape.gradient(scores, q) is None
    _, want = topk_reference(q.numpy(), var.numpy(), 5)
    np.testing.assert_array_equal(ids.numpy(), want)


def test_static_shapes_in_a_function():
    table = tf.zeros([100, 8])
    f = tf.function(lambda q: topk_scores(q, table, 7)).get_concrete_function(
        tf.TensorSpec([None, 8], tf.float32)
    )
    assert f.outputs[0].shape.as_list() == [None, 7]
    assert f.outputs[1].shape.as_list() == [None, 7]
    assert f.outputs[1].dtype == tf.int64


def test_float64_and_float16_queries_are_cast(rng):
    case = make_case(rng, 3, 200, 8, 4)
    want = topk_scores(case.queries, case.table, 4)[1].numpy()
    got = topk_scores(case.queries.astype(np.float64), case.table, 4)[1].numpy()
    np.testing.assert_array_equal(got, want)
