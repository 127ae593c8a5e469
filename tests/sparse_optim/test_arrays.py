"""ydnn_kernels.arrays.sparse_apply: the CPU kernels on NumPy arrays, in
place, against the float64 reference. Bad input: test_errors.py."""

import ml_dtypes
import numpy as np
import pytest

from tests.sparse_optim.cases import ID_DTYPES, KINDS, check_step, make_state
from ydnn_kernels import arrays


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
def test_numpy_step_matches_reference(rng, kind, id_dtype):
    V, D = 50, 20
    table, slots = make_state(rng, kind, V, D)
    ids = rng.integers(0, V, 40).astype(id_dtype)  # unsorted, with duplicates
    grad = rng.standard_normal((40, D)).astype(np.float32)
    got_table, got_slots = table.copy(), [s.copy() for s in slots]
    arrays.sparse_apply(kind, got_table, got_slots, ids, grad, 0.05, step=3, weight_decay=0.1)
    check_step(
        kind, table, slots, ids, grad, got_table, got_slots, lr=0.05, step=3, weight_decay=0.1
    )


@pytest.mark.parametrize("kind", KINDS)
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
    check_step(
        "adagrad",
        table.astype(np.float64),
        slots,
        ids,
        grad.astype(np.float64),
        got.astype(np.float64),
        got_slots,
        lr=0.1,
        dtype="bfloat16",
    )


def test_numpy_large_unique_batch_uses_all_rows(rng):
    V, D = 20_000, 16
    table, slots = make_state(rng, "lazy_adam", V, D)
    ids = np.sort(rng.choice(V, 5_000, replace=False))
    grad = rng.standard_normal((5_000, D)).astype(np.float32)
    got_table, got_slots = table.copy(), [s.copy() for s in slots]
    arrays.sparse_apply("lazy_adam", got_table, got_slots, ids, grad, 1e-3)
    check_step("lazy_adam", table, slots, ids, grad, got_table, got_slots, lr=1e-3)
