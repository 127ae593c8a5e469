"""The unigram sampler against TF's fixed_unigram_candidate_sampler: the
same expected counts for the same number of tries, and the same
distribution of sampled ids over many calls."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.sampler.reference import expected_count_ref
from tests.unigram.cases import COUNTS, chi_square_rejects
from tests.unigram.reference import unigram_probability_ref
from ydnn_kernels import UnigramTable, unigram_sample


@pytest.mark.parametrize("unique", [True, False])
def test_expected_counts_equal_tfs_for_the_same_num_tries(unique):
    counts = COUNTS["zipf_1000_zeros"].astype(np.float32)
    S, V, d = 64, len(counts), 0.75
    true = tf.constant([[0], [17], [V - 1]], tf.int64)
    sampled, true_ec, sampled_ec = tf.random.fixed_unigram_candidate_sampler(
        true, 1, S, unique=unique, range_max=V, distortion=d, unigrams=counts.tolist(), seed=7
    )
    p = np.array(unigram_probability_ref(counts, d))
    if unique:  # TF does not return num_tries: invert its formula.
        ps = p[sampled.numpy()]
        tries = np.log1p(-sampled_ec.numpy().astype(np.float64)) / np.log1p(-ps)
        num_tries = int(round(float(np.median(tries))))
    else:
        num_tries = S
    for ids, want in (
        (sampled.numpy(), sampled_ec.numpy()),
        (true.numpy().ravel(), true_ec.numpy().ravel()),
    ):
        # TF's unigram weights are float32: agreement to ~1e-6.
        ours = [expected_count_ref(p[k], S, num_tries) for k in ids]
        np.testing.assert_allclose(ours, want, rtol=1e-4)


@pytest.mark.parametrize("unique", [True, False])
def test_same_distribution_as_tfs_fixed_unigram_sampler(unique):
    """Inclusion frequencies of each id over many calls, ours vs TF's, both
    against the exact law (non-unique) or against each other (unique)."""
    counts = COUNTS["small_ints"]
    d, S, calls = 0.75, 3, 4000
    ours_t = UnigramTable(counts, d)
    ours = tf.function(lambda: unigram_sample(ours_t, S, unique=unique, seed=5)[0])
    theirs = tf.function(
        lambda: tf.random.fixed_unigram_candidate_sampler(
            tf.zeros([1, 1], tf.int64),
            1,
            S,
            unique=unique,
            range_max=len(counts),
            distortion=d,
            unigrams=counts.tolist(),
            seed=5,
        )[0]
    )
    hist = {}
    for who, fn in (("ours", ours), ("tf", theirs)):
        hist[who] = np.bincount(
            np.concatenate([fn().numpy() for _ in range(calls)]), minlength=len(counts)
        )
    if not unique:
        p = unigram_probability_ref(counts, d)
        for who in hist:
            draws = np.repeat(np.arange(len(counts)), hist[who])
            assert not chi_square_rejects(draws, p), who
    # Two-sample chi-square over the ids either drew (df = ids - 1).
    a, b = hist["ours"].astype(float), hist["tf"].astype(float)
    used = (a + b) > 0
    assert np.array_equal(used, counts > 0)
    a, b = a[used], b[used]
    stat = np.sum((a - b) ** 2 / (a + b))
    k = used.sum() - 1
    assert stat < k * (1 - 2 / (9 * k) + 4.753 * math.sqrt(2 / (9 * k))) ** 3
