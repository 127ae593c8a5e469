"""log_uniform_sample: the exact stream against a pure-Python Philox
reference, the distribution by chi-square (and a check that the test can
reject), uniqueness, bounds, expected counts against TF's sampler, seeds and
state, and errors."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.reference import (expected_count_ref, log_uniform_probability_ref,
                             log_uniform_sample_ref)
from ydnn_kernels import _device, arrays, log_uniform_sample
from ydnn_kernels.sampler_op import _ops


@pytest.mark.parametrize("S, min_id, max_id, unique", [
    (1, 0, 0, True), (5, 0, 4, True), (10, 1, 100, True), (64, 3, 10**6, True),
    (300, 0, 400, True), (50, 7, 20, False), (1000, 0, 10**9, False)])
@pytest.mark.parametrize("seed, seed2, counter", [(1, 2, 0), (2**63 - 1, 0, 12345)])
def test_exact_stream_matches_reference(S, min_id, max_id, unique, seed, seed2, counter):
    ids, true_ec, sampled_ec, tries = arrays.log_uniform_sample(
        S, max_id, min_id, unique, true_ids=[min_id, max_id, max_id + 1], seed=seed,
        seed2=seed2, counter=counter)
    want, want_tries = log_uniform_sample_ref(S, min_id, max_id, unique, seed, seed2, counter)
    assert ids.tolist() == want and tries == want_tries
    for got, k in zip(list(true_ec) + list(sampled_ec), [min_id, max_id, max_id + 1] + want):
        p = log_uniform_probability_ref(k, min_id, max_id)
        assert got == pytest.approx(expected_count_ref(p, S, tries), rel=2e-6, abs=1e-12)


def chi_square_rejects(samples, min_id, max_id):
    """True if `samples` fail a chi-square test against the log-uniform law
    at significance 1e-6 (critical value by Wilson-Hilferty). Ids are binned
    so every bin expects >= 20 draws: single ids at the head, log-spaced
    ranges in the tail, with exact bin probabilities from the CDF."""
    n, R = len(samples), max_id - min_id + 1
    cdf = lambda j: math.log(j + 1) / math.log(R + 1)  # noqa: E731  P(draw < j)
    edges, j = [0], 0
    while j < R:
        nxt = j + 1
        while nxt < R and n * (cdf(nxt) - cdf(j)) < 20:
            nxt = min(R, max(nxt + 1, int(nxt * 1.1)))
        edges.append(nxt)
        j = nxt
    if n * (cdf(R) - cdf(edges[-2])) < 20 and len(edges) > 2:
        edges.pop(-2)
    counts = np.histogram(np.asarray(samples) - min_id, bins=edges)[0]
    outside = np.sum((np.asarray(samples) < min_id) | (np.asarray(samples) > max_id))
    expected = np.array([n * (cdf(b) - cdf(a)) for a, b in zip(edges[:-1], edges[1:])])
    stat = float(np.sum((counts - expected) ** 2 / expected))
    k = len(expected) - 1
    crit = k * (1 - 2 / (9 * k) + 4.753 * math.sqrt(2 / (9 * k))) ** 3
    return outside > 0 or stat > crit


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("min_id, max_id", [(0, 9), (5, 1004), (1, 10**6)])
def test_distribution_is_log_uniform(seed, min_id, max_id):
    ids = arrays.log_uniform_sample(200_000, max_id, min_id, unique=False, seed=seed)[0]
    assert not chi_square_rejects(ids, min_id, max_id)


def test_chi_square_rejects_wrong_distributions():
    rng = np.random.default_rng(0)
    # Merlin's off-by-one (max_id never drawn), a uniform law, a shifted law.
    off_by_one = arrays.log_uniform_sample(200_000, 8, 0, unique=False, seed=1)[0]
    assert chi_square_rejects(off_by_one, 0, 9)
    assert chi_square_rejects(rng.integers(5, 1005, 200_000), 5, 1004)
    shifted = arrays.log_uniform_sample(200_000, 1004, 6, unique=False, seed=1)[0]
    assert chi_square_rejects(shifted, 5, 1004)


@pytest.mark.parametrize("S, min_id, max_id", [(1000, 0, 999), (4096, 1, 10**6), (7, 3, 9)])
def test_unique_samples_are_distinct_and_in_range(S, min_id, max_id):
    ids, _, _, tries = arrays.log_uniform_sample(S, max_id, min_id, unique=True, seed=4)
    assert len(set(ids.tolist())) == S and tries >= S
    assert ids.min() >= min_id and ids.max() <= max_id
    if S == max_id - min_id + 1:
        assert sorted(ids.tolist()) == list(range(min_id, max_id + 1))


def test_both_ends_are_reachable():
    ids = arrays.log_uniform_sample(20_000, 24, 5, unique=False, seed=5)[0]
    assert ids.min() == 5 and ids.max() == 24


@pytest.mark.parametrize("unique", [True, False])
def test_expected_counts_equal_tfs_for_the_same_num_tries(unique):
    R, S = 100_000, 64
    true = tf.constant([[0], [17], [R - 1]], tf.int64)
    sampled, true_ec, sampled_ec = tf.random.log_uniform_candidate_sampler(
        true, 1, S, unique=unique, range_max=R, seed=7)
    p = np.array([log_uniform_probability_ref(int(k), 0, R - 1) for k in sampled.numpy()])
    if unique:  # TF does not return num_tries: invert its formula.
        tries = np.log1p(-sampled_ec.numpy().astype(np.float64)) / np.log1p(-p)
        num_tries = int(round(float(np.median(tries))))
    else:
        num_tries = S
    for ids, want in ((sampled.numpy(), sampled_ec.numpy()), (true.numpy().ravel(),
                                                               true_ec.numpy().ravel())):
        ours = [expected_count_ref(log_uniform_probability_ref(int(k), 0, R - 1), S, num_tries)
                for k in ids]
        np.testing.assert_allclose(ours, want, rtol=1e-4)


def test_op_reports_num_tries_consistent_with_its_expected_counts():
    sampled, true_ec, sampled_ec, tries = _ops.ydnn_log_uniform_sample(
        tf.constant([0, 5], tf.int64), num_sampled=500, min_id=0, max_id=999, unique=True,
        seed=3, seed2=4)
    t = int(tries)
    assert t > 500
    for k, got in zip(sampled.numpy(), sampled_ec.numpy()):
        want = expected_count_ref(log_uniform_probability_ref(int(k), 0, 999), 500, t)
        assert got == pytest.approx(want, rel=2e-6)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_state_seeds_and_stream(mode):
    def make():
        op = lambda: _ops.ydnn_log_uniform_sample(  # noqa: E731
            tf.zeros([0], tf.int64), num_sampled=50, min_id=1, max_id=1000, unique=True,
            seed=11, seed2=12)
        return tf.function(op) if mode == "function" else op

    first = make()
    a, _, _, ta = first()
    b, _, _, tb = first()
    assert a.numpy().tolist() != b.numpy().tolist(), "each call draws fresh ids"
    # The stream: call 1 starts at draw 0, call 2 at draw num_tries(call 1).
    ref_a, ref_ta = log_uniform_sample_ref(50, 1, 1000, True, 11, 12, 0)
    ref_b, _ = log_uniform_sample_ref(50, 1, 1000, True, 11, 12, ref_ta)
    assert a.numpy().tolist() == ref_a and int(ta) == ref_ta
    assert b.numpy().tolist() == ref_b


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_first_draw_places_the_call_in_the_stream(mode):
    """YdnnLogUniformSampleAt draws from first_draw on, whatever it drew
    before: a pure function of the seeds and first_draw (the float64
    reference's stream at that counter)."""
    def call(first):
        return _ops.ydnn_log_uniform_sample_at(
            tf.constant([3], tf.int64), tf.constant(first, tf.int64), num_sampled=40, min_id=1,
            max_id=500, unique=True, seed=21, seed2=22)

    op = tf.function(call) if mode == "function" else call
    for first in (0, 7, 2 ** 32 * 1000 + 5, 2 ** 62):
        a, _, _, ta = op(first)
        b, _, _, tb = op(first)  # the same place twice: the same ids
        ref, ref_t = log_uniform_sample_ref(40, 1, 500, True, 21, 22, first)
        assert a.numpy().tolist() == ref == b.numpy().tolist() and int(ta) == ref_t == int(tb)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"first_draw must be a non-negative int64 scalar, got shape \[\], "
                             r"value -1"):
        op(-1)


def test_first_draw_wrapper_checks_its_argument():
    with pytest.raises(ValueError, match=r"first_draw must be"):
        log_uniform_sample(5, 100, first_draw=1.5)
    a, _, _ = log_uniform_sample(5, 100, seed=4, first_draw=tf.constant(9, tf.int64))
    b, _, _ = log_uniform_sample(5, 100, seed=4, first_draw=9)
    assert a.numpy().tolist() == b.numpy().tolist()


def test_global_and_op_seed_reproduce_sequences():
    def two_calls():
        return [log_uniform_sample(20, 10**5, seed=9)[0].numpy().tolist() for _ in range(2)]

    tf.random.set_seed(123)
    first = two_calls()
    tf.random.set_seed(123)
    assert two_calls() == first
    tf.random.set_seed(124)
    assert two_calls() != first


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_sampled=11, max_id=9, min_id=0), r"num_sampled = 11 exceeds the 10 ids in "
                                               r"\[min_id, max_id\] = \[0, 9\]"),
    (dict(num_sampled=1, max_id=3, min_id=5), "max_id must be >= min_id, got max_id = 3"),
    (dict(num_sampled=0, max_id=3), "num_sampled must be >= 1, got 0"),
    (dict(num_sampled=1, max_id=3, min_id=-1), "min_id must be >= 0, got -1"),
    (dict(num_sampled=2.0, max_id=3), "num_sampled must be an integer, got float 2.0"),
    (dict(num_sampled=2, max_id=3, true_ids=[0.5]), "true_ids must be integers, got float32"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        log_uniform_sample(**kwargs)


def test_raw_op_rejects_bad_range():
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_id must be >= min_id"):
        _ops.ydnn_log_uniform_sample(tf.zeros([0], tf.int64), num_sampled=1, min_id=4, max_id=2)
    with pytest.raises(ValueError, match=r"num_sampled = 6 exceeds the 5 ids"):
        arrays.log_uniform_sample(6, 4)


def test_non_unique_sample_has_num_sampled_tries():
    ids, _, sampled_ec, tries = arrays.log_uniform_sample(100, 50, unique=False, seed=1)
    assert tries == 100 and len(ids) == 100
    p = np.array([log_uniform_probability_ref(int(k), 0, 50) for k in ids])
    np.testing.assert_allclose(sampled_ec, p * 100, rtol=2e-6)


@pytest.mark.parametrize("min_id, max_id", [(0, 1), (0, 9), (3, 10**5), (0, 10**6 - 1),
                                            (1, 2**40)])
@pytest.mark.parametrize("extra_tries", [0, 1, 37, 10**6])
def test_expected_counts_cover_every_branch_of_the_call_free_maths(min_id, max_id, extra_tries):
    """The polynomial log/exp of sampler_math.h against libm (through the
    float64 reference): head ids (libm branch), tail ids (series), P > 1/16
    (tiny ranges), and num_tries large enough that the count saturates at 1."""
    R = max_id - min_id + 1
    ids = sorted({min_id + j for j in [0, 1, 15, 16, 17, R // 2, R - 1] if 0 <= j < R}
                 | {min_id + int(x) for x in np.geomspace(1, R, 30) if x < R})
    ids = np.array(ids + [max_id + 1, min_id - 1 if min_id > 0 else max_id + 2], np.int64)
    S = 1 if R < 4 else 3
    tries = S + extra_tries
    got = _device._py.log_uniform_expected_count_cpu(ids, S, min_id, max_id, False, tries)
    want = [expected_count_ref(log_uniform_probability_ref(int(k), min_id, max_id), S, tries)
            for k in ids]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-30)


_ISA_SUBPROCESS = """
import json, sys
import numpy as np
from ydnn_kernels import arrays
out = []
for S, min_id, max_id, unique, counter in json.load(sys.stdin):
    ids, true_ec, sampled_ec, tries = arrays.log_uniform_sample(
        S, max_id, min_id, unique, true_ids=np.arange(min_id, min_id + 40), seed=7, seed2=3,
        counter=counter)
    out.append([ids.tolist(), true_ec.tolist(), sampled_ec.tolist(), int(tries)])
print(json.dumps(out))
"""


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
def test_vector_paths_draw_the_scalar_paths_ids(isa):
    """The vector draws repeat exp_pos's fmas lane-wise (AVX-512 also builds
    Philox's bits in registers), so their ids equal the scalar path's (the
    GPU's function) exactly, over long streams, unique or not, from odd and
    even counters, across the high counter word's carry (counter near 2^33);
    ranges past 2^51 use the scalar loop on all paths. Expected counts come
    from different polynomial evaluation orders: equal within 1e-6."""
    if isa == "avx512" and _device._py.cpu_isa() != "avx512":
        pytest.skip("this CPU has no AVX-512")
    cases = [(5000, 0, 10**6 - 1, True, 11), (20000, 1, 10**6, False, 11),
             (3000, 5, 4000, True, 11), (2000, 0, 2**52, False, 11), (999, 0, 2**40, True, 11),
             (4099, 3, 10**5, False, 2**33 - 2000), (777, 0, 10**6, True, 2**33 - 101)]
    got = {}
    for path in ("scalar", isa):
        env = dict(os.environ, YDNN_CPU_ISA=path)
        res = subprocess.run([sys.executable, "-c", _ISA_SUBPROCESS], input=json.dumps(cases),
                             capture_output=True, text=True, env=env, check=True)
        got[path] = json.loads(res.stdout)
    for case, a, b in zip(cases, got["scalar"], got[isa]):
        assert a[0] == b[0] and a[3] == b[3], f"ids differ between paths for {case}"
        np.testing.assert_allclose(a[1] + a[2], b[1] + b[2], rtol=1e-6, err_msg=str(case))
