"""topk_scores against stock TensorFlow: tf.math.top_k over the matmul of
the queries and the allowed rows gives the same ids in the same order and
scores within float32 summation-order error (rtol 1e-5 of the score scale,
tests/tolerance.py), with exclusions and min_id."""

import numpy as np
import pytest
import tensorflow as tf

from tests.topk.cases import make_case, scale
from ydnn_kernels import topk_scores


def stock(case):
    """What a user writes today: score everything, mask, tf.math.top_k."""
    scores = tf.matmul(case.queries, tf.cast(case.table, tf.float32), transpose_b=True).numpy()
    scores[:, : case.min_id] = -np.inf
    for b, ids in enumerate(case.exclude or []):
        scores[b, ids] = -np.inf
    s, i = tf.math.top_k(scores, case.k)
    return s.numpy(), i.numpy()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize(
    "B, V, D, k, min_id", [(1, 5000, 64, 10, 0), (16, 20000, 32, 100, 1), (256, 3000, 64, 10, 2)]
)
def test_same_ids_same_order_as_stock(rng, B, V, D, k, min_id, dtype):
    case = make_case(rng, B, V, D, k, dtype, exclude=True, min_id=min_id)
    exclude = tf.ragged.constant(case.exclude, dtype=tf.int64, ragged_rank=1)
    scores, ids = topk_scores(case.queries, case.table, k, exclude, min_id)
    want_s, want_i = stock(case)
    tol = 1e-5 * (1 + scale(case.queries, case.table).max())
    np.testing.assert_allclose(scores.numpy(), want_s, rtol=0, atol=tol)
    # Ids agree except where stock's own neighbouring scores are within error.
    gaps = np.abs(np.diff(want_s, axis=1))
    clear = np.ones_like(want_i, bool)
    clear[:, 1:] &= gaps > tol
    clear[:, :-1] &= gaps > tol
    np.testing.assert_array_equal(ids.numpy()[clear], want_i[clear])
    assert clear.mean() > 0.9
