"""Inputs for embedding_pool tests (parameter lists, random cases, the named
edge cases) and the one check every entry point's results go through. Shared
by the TF op, NumPy and CuPy tests: no TensorFlow here, so the CuPy tests run
on a TF-free GPU box."""

import dataclasses

import ml_dtypes
import numpy as np
import pytest

from tests.embedding_pool.reference import (
    bags_from_padded,
    embedding_pool_grad_ref,
    embedding_pool_ref,
)
from tests.tolerance import assert_close_to_ref

NP_DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
PAD = -7  # padding value: an invalid id, so a kernel that reads padding fails

# Parameter lists of every entry point's tests.
COMBINERS = ["sum", "mean", "sqrtn"]
DTYPES = ["float32", "float16", "bfloat16"]
CUPY_DTYPES = ["float32", "float16"]  # bfloat16 is not a CuPy dtype
ID_DTYPES = [pytest.param(np.int32, id="int32"), pytest.param(np.int64, id="int64")]
WEIGHTED = [pytest.param(False, id="unweighted"), pytest.param(True, id="weighted")]
LAYOUTS = ["padded", "ragged"]
EDGES = ["B1", "L1", "empty_rows", "all_empty", "duplicates", "range_ends", "wide_D", "D1"]


@dataclasses.dataclass
class PoolCase:
    table: np.ndarray  # [V, D] in the case's dtype
    ids: np.ndarray  # [B, L] padded; PAD past each length
    lengths: np.ndarray  # [B] int64
    weights: np.ndarray  # [B, L] float32 or None
    bags: list  # [(ids, weights)] per bag, for the reference

    @property
    def values(self):
        return np.concatenate(
            [self.ids[b, :n] for b, n in enumerate(self.lengths)] + [np.zeros(0, self.ids.dtype)]
        )

    @property
    def row_splits(self):
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    @property
    def weight_values(self):
        if self.weights is None:
            return None
        return np.concatenate(
            [self.weights[b, :n] for b, n in enumerate(self.lengths)] + [np.zeros(0, np.float32)]
        ).astype(np.float32)

    @property
    def scale(self):
        """Largest possible |sum of terms| of one output element."""
        w = 1.0 if self.weights is None else float(np.abs(self.weights).max(initial=1.0))
        return (
            float(self.ids.shape[1])
            * w
            * float(np.abs(self.table.astype(np.float64)).max(initial=1.0))
        )


def make_case(
    rng,
    B=6,
    L=5,
    V=50,
    D=12,
    dtype="float32",
    id_dtype=np.int64,
    weighted=False,
    lengths=None,
    ids=None,
):
    """A random case; pass `lengths` / `ids` to pin an edge case."""
    table = rng.standard_normal((V, D)).astype(NP_DTYPES[dtype])
    if lengths is None:
        lengths = rng.integers(0, L + 1, size=B)
        if B > 1:
            lengths[0] = L  # at least one full row and, usually, an empty one
            lengths[-1] = 0
    lengths = np.asarray(lengths, np.int64)
    if ids is None:
        ids = rng.integers(0, V, size=(B, L))
    ids = np.array(ids, dtype=id_dtype).reshape(B, L)
    for b, n in enumerate(lengths):
        ids[b, n:] = PAD
    weights = rng.uniform(0.25, 1.75, size=(B, L)).astype(np.float32) if weighted else None
    return PoolCase(table, ids, lengths, weights, bags_from_padded(ids, lengths, weights))


def edge_cases(rng, dtype="float32", id_dtype=np.int64, weighted=False):
    """The named edge cases every entry point must handle."""
    kw = dict(dtype=dtype, id_dtype=id_dtype, weighted=weighted)
    V = 40
    cases = {
        "B1": make_case(rng, B=1, L=4, V=V, lengths=[4], **kw),
        "L1": make_case(rng, B=5, L=1, V=V, lengths=[1, 0, 1, 1, 0], **kw),
        "empty_rows": make_case(rng, B=4, L=3, V=V, lengths=[0, 2, 0, 3], **kw),
        "all_empty": make_case(rng, B=3, L=4, V=V, lengths=[0, 0, 0], **kw),
        "duplicates": make_case(
            rng, B=2, L=6, V=V, lengths=[6, 4], ids=[[3, 3, 3, 5, 5, 3], [5, 5, 5, 5, 0, 0]], **kw
        ),
        "range_ends": make_case(
            rng, B=3, L=2, V=V, lengths=[2, 1, 2], ids=[[0, V - 1], [V - 1, 0], [0, 0]], **kw
        ),
        "wide_D": make_case(rng, B=3, L=3, V=V, D=131, **kw),
        "D1": make_case(rng, B=3, L=3, V=V, D=1, **kw),
    }
    assert list(cases) == EDGES
    return cases


def check_pool_results(case, combiner, layout, out, upstream, unique_ids, grad_rows, grad_w):
    """Asserts one entry point's NumPy results against the float64 reference.

    Args:
        case: the PoolCase that was run.
        combiner, layout: how it was run ("padded" or "ragged").
        out: the forward result `[B, D]`.
        upstream: the gradient fed back for `out`.
        unique_ids, grad_rows: the table gradient (sorted unique ids, rows).
        grad_w: the weight gradient (the layout of the weights), or None.
    """
    dtype = str(case.table.dtype)
    assert out.dtype == case.table.dtype
    assert_close_to_ref(
        out, embedding_pool_ref(case.table, case.bags, combiner), dtype, case.scale, "forward"
    )
    table_grad, weight_grads = embedding_pool_grad_ref(case.table, case.bags, combiner, upstream)
    want_ids = sorted(table_grad)
    assert unique_ids.tolist() == want_ids, "gradient rows must be the sorted unique ids"
    assert unique_ids.dtype == case.ids.dtype
    D = case.table.shape[1]
    assert grad_rows.shape == (len(want_ids), D), "one gradient row per unique id, no [B*L, D]"
    want_rows = np.array([table_grad[i] for i in want_ids]).reshape(len(want_ids), D)
    g_scale = case.scale * float(np.abs(upstream.astype(np.float64)).max(initial=1.0))
    assert_close_to_ref(grad_rows, want_rows, dtype, g_scale, "table gradient")
    if case.weights is None:
        assert grad_w is None
        return
    flat = np.array([g for bag in weight_grads for g in bag])
    if layout == "padded":
        assert grad_w.shape == case.ids.shape
        assert np.all(grad_w[case.ids == PAD] == 0.0), "padding slots get a zero weight gradient"
        grad_w = grad_w[case.ids != PAD]
    # float32 dot products over D of table-dtype values, plus g.out with out
    # rounded to the table dtype.
    assert_close_to_ref(grad_w, flat, dtype, D * g_scale, "weight gradient")


def layout_kwargs(case, layout, xp=np):
    """The arrays API's id arguments of `case` for `layout` ("padded" or "ragged"), on `xp`."""
    if layout == "ragged":
        kw = dict(ids=case.values, row_splits=case.row_splits, weights=case.weight_values)
    else:
        kw = dict(ids=case.ids, lengths=case.lengths, weights=case.weights)
    return {k: None if v is None else xp.asarray(v) for k, v in kw.items()}
