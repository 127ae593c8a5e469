"""unigram_sample / unigram_table on the NumPy entry point: the alias build
against a float64 loop reference, the exact stream against a pure-Python
Philox + alias reference, the distribution by chi-square (and a check that
the test can reject), zero-count ids, uniqueness, huge counts. The TF op and
UnigramTable: test_tf.py; against TF's fixed_unigram_candidate_sampler:
test_vs_stock.py; bad input: test_errors.py."""

import numpy as np
import pytest

from tests.sampler.reference import expected_count_ref
from tests.unigram.cases import (
    ALIAS_RTOL,
    COUNT_RTOL,
    COUNTS,
    chi_square_rejects,
    table_of,
)
from tests.unigram.reference import (
    alias_probabilities_ref,
    unigram_probability_ref,
    unigram_sample_ref,
)
from ydnn_kernels import arrays


@pytest.mark.parametrize("name", sorted(COUNTS))
@pytest.mark.parametrize("distortion", [0.0, 0.5, 0.75, 1.0, 2.0])
def test_alias_table_reconstructs_the_exact_probabilities(name, distortion):
    counts = COUNTS[name]
    t = table_of(counts, distortion)
    want = unigram_probability_ref(counts, distortion)
    np.testing.assert_allclose(alias_probabilities_ref(t.table), want, rtol=ALIAS_RTOL, atol=0)
    np.testing.assert_allclose(t.prob, want, rtol=ALIAS_RTOL, atol=0)
    assert t.num_positive == int(np.sum(counts > 0))
    accept, alias = t.table[:, 0], t.table[:, 1]
    assert np.all((accept >= 0) & (accept <= 1))
    assert np.all(alias == np.round(alias)) and alias.min() >= 0 and alias.max() < len(counts)
    zero = counts == 0
    assert np.all(accept[zero] == 0), "a zero-count bucket always defers to its alias"
    assert not np.any(zero[alias.astype(int)[accept < 1]]), "no one defers to a zero-count id"


@pytest.mark.parametrize("name", ["small_ints", "zipf_1000_zeros", "wide_range"])
@pytest.mark.parametrize("unique", [True, False])
@pytest.mark.parametrize("seed, seed2, counter", [(1, 2, 0), (2**63 - 1, 5, 12345)])
def test_exact_stream_matches_reference(name, unique, seed, seed2, counter):
    counts = COUNTS[name]
    t = table_of(counts, 0.75)
    # Unique: as many ids as the Python reference can collect quickly (the
    # wide range's 4th most likely id has P ~ 2e-7).
    S = {"small_ints": 6, "zipf_1000_zeros": 200, "wide_range": 3}[name] if unique else 300
    true_ids = [0, len(counts) - 1, len(counts), -1]
    ids, true_ec, sampled_ec, tries = arrays.unigram_sample(
        t, S, unique, true_ids=true_ids, seed=seed, seed2=seed2, counter=counter
    )
    want, want_tries = unigram_sample_ref(t.table.tolist(), S, unique, seed, seed2, counter)
    assert ids.tolist() == want and tries == want_tries
    p = unigram_probability_ref(counts, 0.75)
    for got, k in zip(list(true_ec) + list(sampled_ec), true_ids + want):
        pk = p[k] if 0 <= k < len(counts) else 0.0
        assert got == pytest.approx(expected_count_ref(pk, S, tries), rel=COUNT_RTOL, abs=1e-30)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", ["small_ints", "zipf_1000_zeros", "wide_range", "random_20000"])
@pytest.mark.parametrize("distortion", [0.0, 0.75, 1.0])
def test_distribution_is_the_unigram_law(seed, name, distortion):
    counts = COUNTS[name]
    t = table_of(counts, distortion)
    ids = arrays.unigram_sample(t, 200_000, unique=False, seed=seed)[0]
    assert not chi_square_rejects(ids, unigram_probability_ref(counts, distortion))


def test_chi_square_rejects_wrong_distributions():
    counts = COUNTS["zipf_1000_zeros"]
    exact = unigram_probability_ref(counts, 1.0)
    flattened = arrays.unigram_sample(table_of(counts, 0.75), 200_000, unique=False, seed=1)[0]
    assert chi_square_rejects(flattened, exact), "distortion 0.75 passed for 1.0"
    shifted = arrays.unigram_sample(
        table_of(np.roll(counts, 1), 1.0), 200_000, unique=False, seed=1
    )[0]
    assert chi_square_rejects(shifted, exact), "counts off by one id passed"
    slightly = counts.copy()
    slightly[np.flatnonzero(counts)[0]] *= 1.3  # the head id 30% too likely
    assert chi_square_rejects(
        arrays.unigram_sample(table_of(slightly, 1.0), 200_000, unique=False, seed=2)[0], exact
    )


def test_zero_count_ids_are_never_drawn():
    counts = COUNTS["zipf_1000_zeros"]
    t = table_of(counts, 1.0)
    ids = arrays.unigram_sample(t, 500_000, unique=False, seed=7)[0]
    assert np.all(counts[ids] > 0)
    # Unique with num_sampled = number of positive ids: exactly those ids.
    ids = arrays.unigram_sample(t, t.num_positive, unique=True, seed=8)[0]
    assert sorted(ids.tolist()) == np.flatnonzero(counts > 0).tolist()


@pytest.mark.parametrize("S", [1, 100, 700])
def test_unique_samples_are_distinct(S):
    t = table_of(COUNTS["zipf_1000_zeros"], 1.0)
    ids, _, _, tries = arrays.unigram_sample(t, S, unique=True, seed=4)
    assert len(set(ids.tolist())) == S and tries >= S


def test_huge_counts_do_not_overflow_the_sum():
    t = table_of([1e308, 1e308, 0.0], 1.0)
    np.testing.assert_array_equal(t.prob, [0.5, 0.5, 0.0])
