"""ydnn_kernels.arrays.sparse_apply: the CPU kernels on NumPy arrays, in
place, against the float64 reference; the same errors as the TF op as
ValueError."""

import ml_dtypes
import numpy as np
import pytest

from tests.sparse_optim_cases import check_step, make_state
from tests.sparse_optim_reference import SLOTS
from ydnn_kernels import arrays


@pytest.mark.parametrize("kind", list(SLOTS))
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_numpy_step_matches_reference(rng, kind, id_dtype):
    V, D = 50, 20
    table, slots = make_state(rng, kind, V, D)
    ids = rng.integers(0, V, 40).astype(id_dtype)  # unsorted, with duplicates
    grad = rng.standard_normal((40, D)).astype(np.float32)
    got_table, got_slots = table.copy(), [s.copy() for s in slots]
    arrays.sparse_apply(kind, got_table, got_slots, ids, grad, 0.05, step=3, weight_decay=0.1)
    check_step(kind, table, slots, ids, grad, got_table, got_slots, lr=0.05, step=3,
               weight_decay=0.1)


@pytest.mark.parametrize("kind", list(SLOTS))
def test_numpy_many_duplicates_over_a_large_table(rng, kind):
    # 3,000 unsorted ids, Zipf-repeated, over 5,000 rows: past 256 ids and
    # 11 bits of id, so duplicates are grouped by the radix sort's two passes
    # (the small cases above take its comparison-sort fallback).
    V, D = 5_000, 8
    table, slots = make_state(rng, kind, V, D)
    ids = (rng.zipf(1.2, 3_000) - 1) % V
    assert len(np.unique(ids)) < len(ids) and ids.max() >= 2048
    grad = rng.standard_normal((3_000, D)).astype(np.float32)
    got_table, got_slots = table.copy(), [s.copy() for s in slots]
    arrays.sparse_apply(kind, got_table, got_slots, ids, grad, 0.05, step=2)
    check_step(kind, table, slots, ids, grad, got_table, got_slots, lr=0.05, step=2)


def test_numpy_bfloat16_table(rng):
    table, slots = make_state(rng, "adagrad", 12, 8, "bfloat16")
    ids = np.array([0, 11, 0])
    grad = rng.standard_normal((3, 8)).astype(ml_dtypes.bfloat16)
    got = table.copy()
    got_slots = [s.copy() for s in slots]
    arrays.sparse_apply("adagrad", got, got_slots, ids, grad, 0.1)
    check_step("adagrad", table.astype(np.float64), slots, ids, grad.astype(np.float64),
               got.astype(np.float64), got_slots, lr=0.1, dtype="bfloat16")


def test_numpy_large_unique_batch_uses_all_rows(rng):
    V, D = 20_000, 16
    table, slots = make_state(rng, "lazy_adam", V, D)
    ids = np.sort(rng.choice(V, 5_000, replace=False))
    grad = rng.standard_normal((5_000, D)).astype(np.float32)
    got_table, got_slots = table.copy(), [s.copy() for s in slots]
    arrays.sparse_apply("lazy_adam", got_table, got_slots, ids, grad, 1e-3)
    check_step("lazy_adam", table, slots, ids, grad, got_table, got_slots, lr=1e-3)


def test_numpy_errors():
    table = np.ones((10, 4), np.float32)
    one = np.ones((1, 4), np.float32)
    with pytest.raises(ValueError, match=r"indices\[0\] = 10 is out of range \[0, 10\)"):
        arrays.sparse_apply("sgd", table, [], np.array([10]), one, 0.1)
    with pytest.raises(ValueError, match=r"values must have shape \[1, 4\].*\[1, 3\]"):
        arrays.sparse_apply("sgd", table, [], np.array([1]), np.ones((1, 3), np.float32), 0.1)
    with pytest.raises(ValueError, match=r"slots\[0\] must be float32"):
        arrays.sparse_apply("adagrad", table, [np.ones((10, 4))], np.array([1]), one, 0.1)
    with pytest.raises(ValueError, match="must be C-contiguous"):
        arrays.sparse_apply("sgd", np.ones((4, 10), np.float32).T, [], np.array([1]), one, 0.1)
    with pytest.raises(ValueError, match="kind must be one of"):
        arrays.sparse_apply("momentum", table, [], np.array([1]), one, 0.1)
    with pytest.raises(ValueError, match="indices must have an integer dtype, got float64"):
        arrays.sparse_apply("sgd", table, [], np.array([1.0]), one, 0.1)
    np.testing.assert_array_equal(table, 1.0)
