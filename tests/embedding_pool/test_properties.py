"""Invariants of embedding_pool (hypothesis, NumPy entry point): pooling is
linear in the table and its table gradient linear in the upstream gradient;
permuting the ids (with their weights) within a bag changes nothing; a bag
of n copies of one id pools to its row times 1, n or sqrt(n).

Tolerances: float32 sums of <= 8 terms of O(1) values, reordered or
rescaled: rtol 1e-5, atol 1e-5 * the largest term.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.embedding_pool.cases import COMBINERS, LAYOUTS, make_case
from ydnn_kernels import arrays

PROFILE = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def pool_cases(draw):
    """A random float32 case (B, L, V, D small), a combiner and a layout."""
    seed = draw(st.integers(0, 2**32 - 1))
    id_dtype = draw(st.sampled_from([np.int32, np.int64]))
    case = make_case(
        np.random.default_rng(seed),
        B=draw(st.integers(1, 6)),
        L=draw(st.integers(1, 8)),
        V=draw(st.integers(1, 20)),
        D=draw(st.integers(1, 9)),
        id_dtype=id_dtype,
        weighted=draw(st.booleans()),
    )
    return case, draw(st.sampled_from(COMBINERS)), draw(st.sampled_from(LAYOUTS)), seed


def layout_kwargs(case, layout, ids=None, weights=None):
    """The arrays API's keyword arguments; `ids` / `weights` replace the
    case's padded ones."""
    ids = case.ids if ids is None else ids
    weights = case.weights if weights is None else weights
    if layout == "padded":
        return dict(ids=ids, lengths=case.lengths, weights=weights)
    keep = np.arange(ids.shape[1])[None, :] < case.lengths[:, None]
    return dict(
        ids=ids[keep],
        row_splits=case.row_splits,
        weights=None if weights is None else weights[keep],
    )


def pool(table, combiner, kw):
    return arrays.embedding_pool(table, combiner=combiner, **kw).astype(np.float64)


def close(a, b, scale, what):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(scale, 1.0), err_msg=what)


@PROFILE
@given(pool_cases(), st.floats(-3, 3), st.floats(-3, 3))
def test_pooling_is_linear_in_the_table_and_gradient_in_the_upstream(drawn, a, b):
    case, combiner, layout, seed = drawn
    rng = np.random.default_rng(seed + 1)
    t1 = case.table
    t2 = rng.standard_normal(t1.shape).astype(np.float32)
    kw = layout_kwargs(case, layout)
    scale = case.scale * (abs(a) + abs(b) + 1)
    mixed = (np.float32(a) * t1 + np.float32(b) * t2).astype(np.float32)
    close(
        pool(mixed, combiner, kw),
        a * pool(t1, combiner, kw) + b * pool(t2, combiner, kw),
        scale,
        "forward",
    )
    out = arrays.embedding_pool(t1, combiner=combiner, **kw)
    g1, g2 = (rng.standard_normal(out.shape).astype(np.float32) for _ in range(2))

    def rows(g):
        ids, grad_rows, _ = arrays.embedding_pool_grad(
            t1, pooled=out, grad=g, combiner=combiner, **kw
        )
        return ids, grad_rows.astype(np.float64)

    ids, r = rows((np.float32(a) * g1 + np.float32(b) * g2).astype(np.float32))
    ids1, r1 = rows(g1)
    _, r2 = rows(g2)
    np.testing.assert_array_equal(ids, ids1)
    g_scale = case.scale * float(np.abs(np.concatenate([g1, g2])).max()) * (abs(a) + abs(b) + 1)
    close(r, a * r1 + b * r2, g_scale, "table gradient")


@PROFILE
@given(pool_cases())
def test_pooling_is_invariant_to_permuting_ids_within_a_bag(drawn):
    case, combiner, layout, seed = drawn
    rng = np.random.default_rng(seed + 2)
    ids, weights = case.ids.copy(), None if case.weights is None else case.weights.copy()
    perms = [rng.permutation(n) for n in case.lengths]
    for b, (n, perm) in enumerate(zip(case.lengths, perms)):
        ids[b, :n] = case.ids[b, perm]
        if weights is not None:
            weights[b, :n] = case.weights[b, perm]
    kw, kw_perm = layout_kwargs(case, layout), layout_kwargs(case, layout, ids, weights)
    out = arrays.embedding_pool(case.table, combiner=combiner, **kw)
    close(pool(case.table, combiner, kw_perm), out.astype(np.float64), case.scale, "forward")
    g = rng.standard_normal(out.shape).astype(np.float32)
    base = arrays.embedding_pool_grad(case.table, pooled=out, grad=g, combiner=combiner, **kw)
    got = arrays.embedding_pool_grad(case.table, pooled=out, grad=g, combiner=combiner, **kw_perm)
    np.testing.assert_array_equal(got[0], base[0])
    g_scale = case.scale * float(np.abs(g).max(initial=1.0))
    close(got[1], base[1], g_scale, "table gradient")
    if case.weights is not None:  # each weight's gradient moves with it
        if layout == "ragged":
            splits = case.row_splits
            want = np.concatenate(
                [base[2][splits[b] : splits[b + 1]][perm] for b, perm in enumerate(perms)]
            )
        else:
            want = base[2].copy()
            for b, (n, perm) in enumerate(zip(case.lengths, perms)):
                want[b, :n] = base[2][b, perm]
        close(got[2], want, case.table.shape[1] * g_scale, "weight gradient")


@PROFILE
@given(
    st.integers(1, 8),
    st.integers(1, 9),
    st.integers(0, 19),
    st.integers(0, 2**32 - 1),
    st.sampled_from(COMBINERS),
)
def test_a_bag_of_copies_of_one_id_pools_to_its_row(n, D, k, seed, combiner):
    table = np.random.default_rng(seed).standard_normal((20, D)).astype(np.float32)
    out = arrays.embedding_pool(table, np.full((1, n), k, np.int64), combiner=combiner)
    factor = {"sum": n, "mean": 1.0, "sqrtn": np.sqrt(n)}[combiner]
    close(out[0].astype(np.float64), factor * table[k].astype(np.float64), n, combiner)
