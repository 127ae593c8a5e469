"""Shared cases of the sparse optimizer tests (TF op, NumPy, CuPy): the
kinds and id dtypes, random tables and slots, and the check of one step
against the float64 reference
(touched rows within tolerance, every other row and slot row bit-identical).
No TensorFlow here, so the CuPy tests run on a TF-free GPU box."""

import ml_dtypes
import numpy as np

from tests.sparse_optim.reference import SLOTS, sparse_step
from tests.tolerance import assert_close_to_ref

KINDS = list(SLOTS)
ID_DTYPES = [np.int32, np.int64]
HYPER = {"epsilon": 1e-7, "beta_1": 0.9, "beta_2": 0.999}
NP_DTYPE = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def make_state(rng, kind, V, D, dtype="float32"):
    table = (rng.standard_normal((V, D)) * 0.5).astype(NP_DTYPE[dtype])
    if kind == "rowwise_adagrad":
        slots = [rng.uniform(0.1, 1.0, V).astype(np.float32)]
    elif kind == "adagrad":
        slots = [rng.uniform(0.1, 1.0, (V, D)).astype(np.float32)]
    elif kind == "lazy_adam":
        slots = [
            (rng.standard_normal((V, D)) * 0.1).astype(np.float32),
            rng.uniform(0.0, 0.1, (V, D)).astype(np.float32),
        ]
    else:
        slots = []
    return table, slots


def check_step(
    kind,
    table,
    slots,
    ids,
    grad,
    got_table,
    got_slots,
    lr,
    step=1,
    weight_decay=0.0,
    dtype="float32",
):
    want_table, want_slots = sparse_step(
        kind,
        table.astype(np.float64),
        slots,
        ids,
        grad.astype(np.float64),
        lr,
        step,
        weight_decay,
        **HYPER,
    )
    touched = np.zeros(table.shape[0], bool)
    touched[np.asarray(ids, np.int64)] = True
    assert_close_to_ref(got_table[touched], want_table[touched], dtype, what=f"{kind} rows")
    # Untouched rows: bit for bit (compare the raw bytes, NaN-safe).
    assert got_table[~touched].tobytes() == table[~touched].tobytes(), "untouched rows changed"
    for k, (got, want, old) in enumerate(zip(got_slots, want_slots, slots)):
        assert_close_to_ref(got[touched], want[touched], "float32", what=f"{kind} slot {k}")
        assert got[~touched].tobytes() == old[~touched].tobytes(), f"untouched slot {k} changed"
