"""unigram_sample / UnigramTable: the alias build against a float64 loop
reference, the exact stream against a pure-Python Philox + alias reference,
the distribution by chi-square (and a check that the test can reject),
zero-count ids, uniqueness, expected counts against TF's formula and TF's
fixed_unigram_candidate_sampler, seeds and state, the NumPy entry point, and
errors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.reference import (
    alias_probabilities_ref,
    expected_count_ref,
    unigram_probability_ref,
    unigram_sample_ref,
)
from ydnn_kernels import UnigramTable, arrays, unigram_sample
from ydnn_kernels.unigram_op import _ops

# Alias-table reconstruction vs counts^d / sum: float64 build, Neumaier sum,
# one subtraction per alias step; measured errors are ~1e-15.
ALIAS_RTOL = 1e-12
# Expected counts are float32 outputs of float64 maths.
COUNT_RTOL = 2e-6


def zipf_counts(V, s=1.1, seed=0, zeros=0.0):
    rng = np.random.default_rng(seed)
    counts = np.floor(1e6 / np.arange(1, V + 1) ** s) + rng.integers(0, 3, V)
    counts[rng.random(V) < zeros] = 0
    return counts


COUNTS = {
    "single": np.array([3.0]),
    "one_positive": np.array([0, 0, 7, 0]),
    "equal": np.ones(17),
    "small_ints": np.array([0, 5, 1, 3, 0, 9, 2, 2]),
    "zipf_1000_zeros": zipf_counts(1000, zeros=0.2),
    "wide_range": np.array([1e-3, 1e9, 1.0, 0.0, 12345.678, 1e-7, 3e5]),
    "random_20000": np.random.default_rng(3).exponential(10.0, 20000),
}


def table_of(counts, distortion):
    return arrays.unigram_table(counts, distortion)


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


def test_counts_dtypes_give_the_same_table():
    counts = [4, 0, 1, 9, 3]
    tables = [UnigramTable(tf.constant(counts, dt), 0.75) for dt in
              (tf.int32, tf.int64, tf.float32, tf.float64)]
    for t in tables[1:]:
        np.testing.assert_array_equal(t.table.numpy(), tables[0].table.numpy())
    np.testing.assert_array_equal(tables[0].table.numpy(), table_of(counts, 0.75).table)


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
        t, S, unique, true_ids=true_ids, seed=seed, seed2=seed2, counter=counter)
    want, want_tries = unigram_sample_ref(t.table.tolist(), S, unique, seed, seed2, counter)
    assert ids.tolist() == want and tries == want_tries
    p = unigram_probability_ref(counts, 0.75)
    for got, k in zip(list(true_ec) + list(sampled_ec), true_ids + want):
        pk = p[k] if 0 <= k < len(counts) else 0.0
        assert got == pytest.approx(expected_count_ref(pk, S, tries), rel=COUNT_RTOL, abs=1e-30)


def chi_square_rejects(samples, probs):
    """True if `samples` fail a chi-square test against the law `probs` at
    significance 1e-6 (critical value by Wilson-Hilferty), or hit an id of
    probability 0 or outside [0, V). Consecutive ids are merged into bins
    expecting >= 20 draws each; the last bin takes any remainder."""
    samples, probs = np.asarray(samples), np.asarray(probs, np.float64)
    n, V = len(samples), len(probs)
    if np.any((samples < 0) | (samples >= V)) or np.any(probs[samples] == 0):
        return True
    edges, acc = [0], 0.0
    for k in range(V):
        acc += probs[k] * n
        if acc >= 20:
            edges.append(k + 1)
            acc = 0.0
    if edges[-1] != V:
        if len(edges) > 2:
            edges[-1] = V
        else:
            edges.append(V)
    counts = np.histogram(samples, bins=edges)[0]
    cum = np.concatenate([[0.0], np.cumsum(probs)])
    expected = n * (cum[edges[1:]] - cum[edges[:-1]])
    stat = float(np.sum((counts - expected) ** 2 / expected))
    k = len(expected) - 1
    if k == 0:
        return False
    crit = k * (1 - 2 / (9 * k) + 4.753 * math.sqrt(2 / (9 * k))) ** 3
    return stat > crit


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
    shifted = arrays.unigram_sample(table_of(np.roll(counts, 1), 1.0), 200_000, unique=False,
                                    seed=1)[0]
    assert chi_square_rejects(shifted, exact), "counts off by one id passed"
    slightly = counts.copy()
    slightly[np.flatnonzero(counts)[0]] *= 1.3  # the head id 30% too likely
    assert chi_square_rejects(
        arrays.unigram_sample(table_of(slightly, 1.0), 200_000, unique=False, seed=2)[0], exact)


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


@pytest.mark.parametrize("unique", [True, False])
def test_expected_counts_equal_tfs_for_the_same_num_tries(unique):
    counts = COUNTS["zipf_1000_zeros"].astype(np.float32)
    S, V, d = 64, len(counts), 0.75
    true = tf.constant([[0], [17], [V - 1]], tf.int64)
    sampled, true_ec, sampled_ec = tf.random.fixed_unigram_candidate_sampler(
        true, 1, S, unique=unique, range_max=V, distortion=d, unigrams=counts.tolist(), seed=7)
    p = np.array(unigram_probability_ref(counts, d))
    if unique:  # TF does not return num_tries: invert its formula.
        ps = p[sampled.numpy()]
        tries = np.log1p(-sampled_ec.numpy().astype(np.float64)) / np.log1p(-ps)
        num_tries = int(round(float(np.median(tries))))
    else:
        num_tries = S
    for ids, want in ((sampled.numpy(), sampled_ec.numpy()),
                      (true.numpy().ravel(), true_ec.numpy().ravel())):
        # TF's unigram weights are float32: agreement to ~1e-6.
        ours = [expected_count_ref(p[k], S, num_tries) for k in ids]
        np.testing.assert_allclose(ours, want, rtol=1e-4)


def test_op_reports_num_tries_consistent_with_its_expected_counts():
    counts = COUNTS["small_ints"]
    t = UnigramTable(counts, 1.0)
    sampled, true_ec, sampled_ec, tries = _ops.ydnn_unigram_sample(
        t.table, t.prob, t.num_positive_tensor, tf.constant([1, 4, 99], tf.int64),
        num_sampled=6, unique=True, seed=3, seed2=4)
    n = int(tries)
    p = unigram_probability_ref(counts, 1.0)
    assert n >= 6 and sorted(sampled.numpy().tolist()) == np.flatnonzero(counts).tolist()
    for k, got in zip(sampled.numpy(), sampled_ec.numpy()):
        assert got == pytest.approx(expected_count_ref(p[k], 6, n), rel=COUNT_RTOL)
    np.testing.assert_allclose(true_ec.numpy(), [expected_count_ref(p[1], 6, n), 0.0, 0.0],
                               rtol=COUNT_RTOL)


@pytest.mark.parametrize("unique", [True, False])
def test_same_distribution_as_tfs_fixed_unigram_sampler(unique):
    """Inclusion frequencies of each id over many calls, ours vs TF's, both
    against the exact law (non-unique) or against each other (unique)."""
    counts = COUNTS["small_ints"]
    d, S, calls = 0.75, 3, 4000
    ours_t = UnigramTable(counts, d)
    ours = tf.function(lambda: unigram_sample(ours_t, S, unique=unique, seed=5)[0])
    theirs = tf.function(lambda: tf.random.fixed_unigram_candidate_sampler(
        tf.zeros([1, 1], tf.int64), 1, S, unique=unique, range_max=len(counts), distortion=d,
        unigrams=counts.tolist(), seed=5)[0])
    hist = {}
    for who, fn in (("ours", ours), ("tf", theirs)):
        hist[who] = np.bincount(np.concatenate([fn().numpy() for _ in range(calls)]),
                                minlength=len(counts))
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


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_state_seeds_and_stream(mode):
    counts = COUNTS["zipf_1000_zeros"]
    t = UnigramTable(counts, 0.75)

    def op():
        return _ops.ydnn_unigram_sample(t.table, t.prob, t.num_positive_tensor,
                                        tf.zeros([0], tf.int64), num_sampled=50, unique=True,
                                        seed=11, seed2=12)

    fn = tf.function(op) if mode == "function" else op
    a, _, _, ta = fn()
    b, _, _, _ = fn()
    assert a.numpy().tolist() != b.numpy().tolist(), "each call draws fresh ids"
    ref_a, ref_ta = unigram_sample_ref(t.table.numpy().tolist(), 50, True, 11, 12, 0)
    ref_b, _ = unigram_sample_ref(t.table.numpy().tolist(), 50, True, 11, 12, ref_ta)
    assert a.numpy().tolist() == ref_a and int(ta) == ref_ta
    assert b.numpy().tolist() == ref_b
    # The NumPy entry point gives the op's first call.
    np.testing.assert_array_equal(
        arrays.unigram_sample(table_of(counts, 0.75), 50, True, seed=11, seed2=12)[0], a.numpy())


def test_global_and_op_seed_reproduce_sequences():
    t = UnigramTable(COUNTS["random_20000"], 1.0)

    def two_calls():
        return [unigram_sample(t, 20, seed=9)[0].numpy().tolist() for _ in range(2)]

    tf.random.set_seed(123)
    first = two_calls()
    tf.random.set_seed(123)
    assert two_calls() == first
    tf.random.set_seed(124)
    assert two_calls() != first


def test_public_wrapper_outputs_and_true_id_shapes():
    counts = COUNTS["small_ints"]
    t = UnigramTable(counts, 1.0)
    labels = tf.constant([[1, 3], [5, 8]], tf.int32)  # 8 is outside [0, V)
    ids, true_ec, sampled_ec = tf.function(lambda: unigram_sample(t, 4, unique=False,
                                                                  true_ids=labels, seed=2))()
    assert ids.dtype == tf.int64 and ids.shape == [4] and true_ec.shape == [2, 2]
    p = unigram_probability_ref(counts, 1.0)
    np.testing.assert_allclose(true_ec.numpy(), [[4 * p[1], 4 * p[3]], [4 * p[5], 0.0]],
                               rtol=COUNT_RTOL)
    np.testing.assert_allclose(sampled_ec.numpy(), [4 * p[k] for k in ids.numpy()],
                               rtol=COUNT_RTOL)
    assert "num_positive=6" in repr(t)


@pytest.mark.parametrize("counts, distortion, match", [
    ([1.0, -2.0, 3.0], 1.0, r"counts\[1\] = -2 is negative"),
    ([1.0, float("nan")], 1.0, r"counts\[1\] is NaN"),
    ([float("inf"), 1.0], 1.0, r"counts\[0\] = inf is not finite"),
    ([0, 0, 0], 1.0, r"counts has no positive entry \(3 ids"),
    ([], 1.0, "counts must have at least one entry"),
    ([1e300, 1.0], 2.0, r"counts\[0\] \*\* distortion overflows"),
    ([1.0, 2.0], float("nan"), "distortion must be finite and >= 0, got nan"),
    ([1.0, 2.0], -0.5, "distortion must be finite and >= 0, got -0.5"),
    ([1.0, 2.0], float("inf"), "distortion must be finite and >= 0, got inf"),
    ([1.0, 2.0], "1", "distortion must be a number, got '1'"),
])
def test_bad_tables(counts, distortion, match):
    for build in (UnigramTable, arrays.unigram_table):
        with pytest.raises(ValueError, match=match):
            build(np.asarray(counts, np.float64), distortion)


def test_huge_counts_do_not_overflow_the_sum():
    t = table_of([1e308, 1e308, 0.0], 1.0)
    np.testing.assert_array_equal(t.prob, [0.5, 0.5, 0.0])


def test_bad_table_arguments_and_raw_op_errors():
    with pytest.raises(ValueError, match=r"counts must be 1-D \[V\], got shape \(2, 2\)"):
        UnigramTable(np.ones((2, 2)))
    with pytest.raises(ValueError, match="counts must be float32, float64, int32 or int64, got "
                                         "string"):
        UnigramTable(["a", "b"])
    with pytest.raises(ValueError, match="must be built eagerly"):
        tf.function(lambda: UnigramTable([1.0, 2.0]).num_ids)()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"counts\[0\] = -1 is negative"):
        _ops.ydnn_unigram_table(tf.constant([-1.0, 1.0]), tf.constant(1.0, tf.float64))
    t = UnigramTable([0, 2, 3], 1.0)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="num_sampled = 3 exceeds the 2 ids with a positive count"):
        _ops.ydnn_unigram_sample(t.table, t.prob, t.num_positive_tensor, tf.zeros([0], tf.int64),
                                 num_sampled=3, unique=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"prob must be \[V\]"):
        _ops.ydnn_unigram_sample(t.table, t.prob[:2], t.num_positive_tensor,
                                 tf.zeros([0], tf.int64), num_sampled=1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_sampled=3), "num_sampled = 3 exceeds the 2 ids with a positive count"),
    (dict(num_sampled=0), "num_sampled must be >= 1, got 0"),
    (dict(num_sampled=2.0), "num_sampled must be an integer, got float 2.0"),
    (dict(num_sampled=1, true_ids=[0.5]), "true_ids must be integers, got float32"),
])
def test_bad_sample_arguments(kwargs, match):
    t = UnigramTable([0, 2, 3], 1.0)
    with pytest.raises(ValueError, match=match):
        unigram_sample(t, **kwargs)
    with pytest.raises(ValueError, match="table must be a ydnn_kernels.UnigramTable"):
        unigram_sample([0, 2, 3], 1)
    if "true_ids" not in kwargs and isinstance(kwargs["num_sampled"], int) \
            and kwargs["num_sampled"] >= 1:
        with pytest.raises(ValueError, match=match):
            arrays.unigram_sample(table_of([0, 2, 3], 1.0), kwargs["num_sampled"])


def test_non_unique_large_sample_through_both_entry_points():
    counts = COUNTS["random_20000"]
    t = UnigramTable(counts, 0.5)
    ids, _, ec = _ops.ydnn_unigram_sample(t.table, t.prob, t.num_positive_tensor,
                                          tf.zeros([0], tf.int64), num_sampled=70_000,
                                          unique=False, seed=1, seed2=1)[:3]
    np_ids, _, np_ec, tries = arrays.unigram_sample(table_of(counts, 0.5), 70_000, False,
                                                    seed=1, seed2=1)
    assert tries == 70_000
    np.testing.assert_array_equal(ids.numpy(), np_ids)
    np.testing.assert_array_equal(ec.numpy(), np_ec)
