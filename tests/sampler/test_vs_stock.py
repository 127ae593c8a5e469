"""log_uniform_sample against TF's log_uniform_candidate_sampler: the same
expected counts for the same number of tries, unique or not."""

import numpy as np
import pytest
import tensorflow as tf

from tests.sampler.reference import expected_count_ref, log_uniform_probability_ref


@pytest.mark.parametrize("unique", [True, False])
def test_expected_counts_equal_tfs_for_the_same_num_tries(unique):
    R, S = 100_000, 64
    true = tf.constant([[0], [17], [R - 1]], tf.int64)
    sampled, true_ec, sampled_ec = tf.random.log_uniform_candidate_sampler(
        true, 1, S, unique=unique, range_max=R, seed=7
    )
    p = np.array([log_uniform_probability_ref(int(k), 0, R - 1) for k in sampled.numpy()])
    if unique:  # TF does not return num_tries: invert its formula.
        tries = np.log1p(-sampled_ec.numpy().astype(np.float64)) / np.log1p(-p)
        num_tries = int(round(float(np.median(tries))))
    else:
        num_tries = S
    for ids, want in (
        (sampled.numpy(), sampled_ec.numpy()),
        (true.numpy().ravel(), true_ec.numpy().ravel()),
    ):
        ours = [
            expected_count_ref(log_uniform_probability_ref(int(k), 0, R - 1), S, num_tries)
            for k in ids
        ]
        np.testing.assert_allclose(ours, want, rtol=1e-4)
