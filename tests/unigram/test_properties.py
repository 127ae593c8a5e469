"""Invariants of the unigram sampler (hypothesis, NumPy entry point): the
alias table encodes counts ** distortion / sum exactly (its float64
reference) whatever the counts' scale; draws hit only ids of positive count,
distinct when unique=True (or refused up front when the law leaves too
little mass off its head to draw them); and the stream: a non-unique sample of a + b
draws is the sample of a draws followed by b draws from counter + a."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unigram.cases import ALIAS_RTOL
from tests.unigram.reference import alias_probabilities_ref, unigram_probability_ref
from ydnn_kernels import arrays

PROFILE = settings(
    max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
COUNTS = st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 17.0, 1e6]), min_size=1, max_size=40).filter(
    lambda c: any(x > 0 for x in c)
)
DISTORTIONS = st.sampled_from([0.0, 0.5, 0.75, 1.0, 2.0])


@PROFILE
@given(COUNTS, DISTORTIONS, st.sampled_from([1.0, 2.0**-20, 3.0, 1e12]))
def test_alias_table_is_the_law_at_any_scale(counts, distortion, scale):
    counts = np.array(counts) * scale
    t = arrays.unigram_table(counts, distortion)
    want = unigram_probability_ref(counts, distortion)
    np.testing.assert_allclose(alias_probabilities_ref(t.table), want, rtol=ALIAS_RTOL, atol=0)
    np.testing.assert_allclose(
        t.prob, unigram_probability_ref(counts / scale, distortion), rtol=ALIAS_RTOL, atol=0
    )
    assert t.num_positive == int(np.sum(counts > 0))


@PROFILE
@given(COUNTS, DISTORTIONS, st.integers(1, 40), st.booleans(), st.integers(0, 2**63 - 1))
def test_draws_have_positive_counts_and_unique_means_distinct(
    counts, distortion, num_sampled, unique, seed
):
    counts = np.array(counts)
    t = arrays.unigram_table(counts, distortion)
    num_sampled = min(num_sampled, t.num_positive) if unique else num_sampled
    try:
        ids, _, sampled_ec, tries = arrays.unigram_sample(t, num_sampled, unique, seed=seed)
    except ValueError as e:  # refused up front, not a hang: ids of probability < 2^-31
        assert unique and "cannot be drawn in 2^31 tries" in str(e)
        return
    assert ids.shape == (num_sampled,) and (counts[ids] > 0).all()
    assert np.all(sampled_ec > 0)
    if unique:
        assert len(set(ids.tolist())) == num_sampled and tries >= num_sampled
    else:
        assert tries == num_sampled


@PROFILE
@given(
    COUNTS, st.integers(1, 50), st.integers(1, 50), st.integers(0, 2**63 - 1), st.integers(0, 2**62)
)
def test_a_sample_continues_where_the_last_one_stopped(counts, a, b, seed, counter):
    t = arrays.unigram_table(np.array(counts), 0.75)
    kw = dict(unique=False, seed=seed, seed2=3)
    whole = arrays.unigram_sample(t, a + b, counter=counter, **kw)[0]
    first = arrays.unigram_sample(t, a, counter=counter, **kw)[0]
    second = arrays.unigram_sample(t, b, counter=counter + a, **kw)[0]
    np.testing.assert_array_equal(whole, np.concatenate([first, second]))
