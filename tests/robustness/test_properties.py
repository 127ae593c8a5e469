"""Property tests of every op over shapes, dtypes and id ranges (hypothesis).

Each draw either matches the float64 reference or raises ValueError naming
the bad argument; never a crash, never a silently wrong result. On top of
that, the ops' invariants: pooling is linear in the table and blind to the
order of a bag's ids, the sampled softmax is unchanged when every expected
count is scaled by one factor (a common logit shift), samplers stay in
range and unique sampling never repeats an id, and a sparse optimizer step
equals its reference or, on a bad id, writes nothing.

Tolerances: float32 kernels against float64 references, rtol 1e-4 and
atol 1e-5 (sums of <= 8 products of O(1) values); invariants that reorder
float32 sums, rtol 1e-5.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.embedding_pool.reference import bags_from_padded, embedding_pool_ref
from tests.sampled_softmax.reference import sampled_softmax
from tests.sparse_optim.reference import sparse_step
from ydnn_kernels import arrays as A

PROFILE = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
ID_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32]


@st.composite
def pool_inputs(draw):
    V = draw(st.integers(1, 12))
    D = draw(st.integers(1, 9))
    B = draw(st.integers(0, 5))
    L = draw(st.integers(0, 6))
    dtype = draw(st.sampled_from(ID_DTYPES))
    info = np.iinfo(dtype)
    low, high = max(int(info.min), -3), min(int(info.max), V + 2)
    ids = draw(st.lists(st.integers(low, high), min_size=B * L, max_size=B * L))
    lengths = draw(st.lists(st.integers(-1, L + 1), min_size=B, max_size=B))
    seed = draw(st.integers(0, 2**32 - 1))
    table = np.random.default_rng(seed).standard_normal((V, D)).astype(np.float32)
    return (
        table,
        np.array(ids, dtype).reshape(B, L),
        np.array(lengths, np.int64),
        draw(st.sampled_from(A.COMBINERS)),
        draw(st.booleans()),
    )


@PROFILE
@given(pool_inputs())
def test_embedding_pool_matches_reference_or_names_the_argument(case):
    table, ids, lengths, combiner, weighted = case
    weights = (
        np.abs(np.cos(np.arange(ids.size, dtype=np.float32))).reshape(ids.shape)
        if weighted
        else None
    )
    V, L = table.shape[0], ids.shape[1]
    bad_length = any(n < 0 or n > L for n in lengths)
    bad_id = any(
        not 0 <= int(i) < V for b, n in enumerate(lengths) if 0 <= n <= L for i in ids[b, :n]
    )
    if bad_length or bad_id:
        with pytest.raises(ValueError, match=r"^(lengths|ids)\["):
            A.embedding_pool(table, ids, lengths=lengths, weights=weights, combiner=combiner)
        return
    out = A.embedding_pool(table, ids, lengths=lengths, weights=weights, combiner=combiner)
    ref = embedding_pool_ref(
        table, bags_from_padded(ids.astype(np.int64), lengths, weights), combiner
    )
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@PROFILE
@given(
    st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**32 - 1), st.sampled_from(A.COMBINERS)
)
def test_embedding_pool_is_linear_and_order_blind(B, L, seed, combiner):
    rng = np.random.default_rng(seed)
    t1, t2 = (rng.standard_normal((20, 4)).astype(np.float32) for _ in range(2))
    ids = rng.integers(0, 20, (B, L))
    lengths = rng.integers(0, L + 1, B)
    pool = lambda t, i=ids: A.embedding_pool(t, i, lengths=lengths, combiner=combiner)  # noqa: E731
    np.testing.assert_allclose(pool(2 * t1 + t2), 2 * pool(t1) + pool(t2), rtol=1e-5, atol=1e-5)
    shuffled = ids.copy()
    for b in range(B):
        shuffled[b, : lengths[b]] = rng.permutation(ids[b, : lengths[b]])
    np.testing.assert_allclose(pool(t1, shuffled), pool(t1), rtol=1e-5, atol=1e-6)


@st.composite
def softmax_inputs(draw):
    V, D = draw(st.integers(1, 10)), draw(st.integers(1, 6))
    B, S = draw(st.integers(1, 4)), draw(st.integers(0, 5))
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    pos = draw(st.lists(st.integers(-2, V + 1), min_size=B, max_size=B))
    sampled = draw(st.lists(st.integers(-2, V + 1), min_size=S, max_size=S))
    ec = draw(
        st.lists(
            st.sampled_from([0.0, 0.3, 1.0, 2.5, float("nan")]), min_size=B + S, max_size=B + S
        )
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (
        rng.standard_normal((B, D)).astype(np.float32),
        rng.standard_normal((V, D)).astype(np.float32),
        np.array(pos, dtype),
        np.array(sampled, dtype),
        np.array(ec[:B], np.float32),
        np.array(ec[B:], np.float32),
        draw(st.booleans()),
    )


@PROFILE
@given(softmax_inputs())
def test_sampled_softmax_matches_reference_or_names_the_argument(case):
    query, table, pos, sampled, tec, sec, hits = case
    V = table.shape[0]
    bad = (
        any(not 0 <= i < V for i in pos)
        or any(not 0 <= i < V for i in sampled)
        or not (np.all(tec > 0) and np.all(sec > 0))
    )
    args = (query, table, pos, sampled, tec, sec)
    if bad:
        with pytest.raises(
            ValueError,
            match=r"^(positive_ids|sampled_ids|true_expected_count|"
            r"sampled_expected_count)\[",
        ):
            A.sampled_softmax_loss(*args, remove_accidental_hits=hits)
        return
    loss, _, _ = A.sampled_softmax_loss(*args, remove_accidental_hits=hits)
    ref = sampled_softmax(*args, remove_accidental_hits=hits)[0]
    np.testing.assert_allclose(loss, ref, rtol=1e-4, atol=1e-5)
    # Scaling every expected count by k shifts every logit by -log k.
    shifted, _, _ = A.sampled_softmax_loss(
        query, table, pos, sampled, tec * 4, sec * 4, remove_accidental_hits=hits
    )
    np.testing.assert_allclose(shifted, loss, rtol=1e-5, atol=1e-5)


@PROFILE
@given(
    st.integers(1, 60),
    st.integers(0, 50),
    st.integers(1, 400),
    st.booleans(),
    st.integers(0, 2**64 - 1),
)
def test_log_uniform_sample_in_range_and_unique(num_sampled, min_id, span, unique, seed):
    max_id = min_id + span - 1  # both ends can be drawn: span ids
    if unique and num_sampled > span:
        with pytest.raises(ValueError, match=r"num_sampled"):
            A.log_uniform_sample(num_sampled, max_id, min_id, unique=unique, seed=seed)
        return
    ids, _, counts, tries = A.log_uniform_sample(
        num_sampled, max_id, min_id, unique=unique, seed=seed
    )
    assert ids.shape == (num_sampled,) and ((ids >= min_id) & (ids <= max_id)).all()
    assert np.all((counts > 0) & np.isfinite(counts))
    if unique:
        assert len(set(ids.tolist())) == num_sampled and tries >= num_sampled


@PROFILE
@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 1e6]), min_size=1, max_size=30),
    st.integers(1, 12),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_unigram_sample_draws_only_positive_counts(counts, num_sampled, unique, seed):
    counts = np.array(counts)
    if not (counts > 0).any():
        with pytest.raises(ValueError, match=r"counts has no positive entry"):
            A.unigram_table(counts)
        return
    table = A.unigram_table(counts)
    if unique and num_sampled > table.num_positive:
        with pytest.raises(ValueError, match=r"num_sampled = \d+ exceeds the \d+ ids"):
            A.unigram_sample(table, num_sampled, unique=unique, seed=seed)
        return
    ids = A.unigram_sample(table, num_sampled, unique=unique, seed=seed)[0]
    assert (counts[ids] > 0).all()
    if unique:
        assert len(set(ids.tolist())) == num_sampled


@PROFILE
@given(
    st.sampled_from(A.SPARSE_KINDS),
    st.integers(1, 8),
    st.integers(1, 5),
    st.lists(st.integers(-2, 9), min_size=0, max_size=10),
    st.integers(0, 2**32 - 1),
)
def test_sparse_apply_matches_reference_or_writes_nothing(kind, V, D, ids, seed):
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((V, D)).astype(np.float32)
    slots = {
        "sgd": [],
        "adagrad": [np.full((V, D), 0.1, np.float32)],
        "rowwise_adagrad": [np.full(V, 0.1, np.float32)],
        "lazy_adam": [np.zeros((V, D), np.float32), np.full((V, D), 0.01, np.float32)],
    }[kind]
    grad = rng.standard_normal((len(ids), D)).astype(np.float32)
    before = [table.copy()] + [s.copy() for s in slots]
    ids = np.array(ids, np.int64)
    if any(not 0 <= i < V for i in ids):
        with pytest.raises(ValueError, match=r"^indices\[\d+\] = -?\d+ is out of range"):
            A.sparse_apply(kind, table, slots, ids, grad, 0.05, step=3)
        for got, was in zip([table] + slots, before):
            np.testing.assert_array_equal(got, was)
        return
    A.sparse_apply(kind, table, slots, ids, grad, 0.05, step=3)
    want, want_slots = sparse_step(kind, before[0], before[1:], ids, grad, 0.05, step=3)
    np.testing.assert_allclose(table, want, rtol=1e-4, atol=1e-5)
    for got, ref in zip(slots, want_slots):
        np.testing.assert_allclose(got, ref.reshape(got.shape), rtol=1e-4, atol=1e-5)


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(pool_inputs(), st.booleans())
def test_tf_embedding_pool_matches_reference_or_raises(case, ragged):
    """The TF op on the same draws, padded or as a RaggedTensor: the
    reference's numbers or an InvalidArgumentError naming ids or lengths."""
    import tensorflow as tf

    import ydnn_kernels

    table, ids, lengths, combiner, _ = case
    V, L = table.shape[0], ids.shape[1]
    ids = ids.astype(np.int64)
    if ragged:
        lengths = np.clip(lengths, 0, L)
        arg = tf.RaggedTensor.from_tensor(ids, lengths=lengths)
        kw = {}
    else:
        arg, kw = ids, dict(lengths=lengths)
    bad_length = any(n < 0 or n > L for n in lengths)
    bad_id = any(
        not 0 <= int(i) < V for b, n in enumerate(lengths) if 0 <= n <= L for i in ids[b, :n]
    )
    if bad_length or bad_id:
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"(lengths|ids)\["):
            ydnn_kernels.embedding_pool(table, arg, combiner=combiner, **kw)
        return
    out = ydnn_kernels.embedding_pool(table, arg, combiner=combiner, **kw)
    ref = embedding_pool_ref(table, bags_from_padded(ids, lengths), combiner)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-5)
