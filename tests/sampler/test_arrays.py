"""log_uniform_sample on the NumPy entry point: the exact stream against a
pure-Python Philox reference, the distribution by chi-square (and a check
that the test can reject), uniqueness, bounds, the expected counts' call-free
maths against libm, and every CPU vector path drawing the scalar path's ids.
The TF op: test_tf.py; against TF's sampler: test_vs_stock.py; bad
arguments: test_errors.py."""

import numpy as np
import pytest

from tests.isa_run import run_json
from tests.sampler.cases import STREAM_CASES, STREAM_SEEDS, chi_square_rejects
from tests.sampler.reference import (
    expected_count_ref,
    log_uniform_probability_ref,
    log_uniform_sample_ref,
)
from ydnn_kernels import _device, arrays


@pytest.mark.parametrize("S, min_id, max_id, unique", STREAM_CASES)
@pytest.mark.parametrize("seed, seed2, counter", STREAM_SEEDS)
def test_exact_stream_matches_reference(S, min_id, max_id, unique, seed, seed2, counter):
    ids, true_ec, sampled_ec, tries = arrays.log_uniform_sample(
        S,
        max_id,
        min_id,
        unique,
        true_ids=[min_id, max_id, max_id + 1],
        seed=seed,
        seed2=seed2,
        counter=counter,
    )
    want, want_tries = log_uniform_sample_ref(S, min_id, max_id, unique, seed, seed2, counter)
    assert ids.tolist() == want and tries == want_tries
    for got, k in zip(list(true_ec) + list(sampled_ec), [min_id, max_id, max_id + 1] + want):
        p = log_uniform_probability_ref(k, min_id, max_id)
        assert got == pytest.approx(expected_count_ref(p, S, tries), rel=2e-6, abs=1e-12)


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


def test_non_unique_sample_has_num_sampled_tries():
    ids, _, sampled_ec, tries = arrays.log_uniform_sample(100, 50, unique=False, seed=1)
    assert tries == 100 and len(ids) == 100
    p = np.array([log_uniform_probability_ref(int(k), 0, 50) for k in ids])
    np.testing.assert_allclose(sampled_ec, p * 100, rtol=2e-6)


@pytest.mark.parametrize("min_id, max_id", [(0, 1), (0, 9), (3, 10**5), (0, 10**6 - 1), (1, 2**40)])
@pytest.mark.parametrize("extra_tries", [0, 1, 37, 10**6])
def test_expected_counts_cover_every_branch_of_the_call_free_maths(min_id, max_id, extra_tries):
    """The polynomial log/exp of sampler_math.h against libm (through the
    float64 reference): head ids (libm branch), tail ids (series), P > 1/16
    (tiny ranges), and num_tries large enough that the count saturates at 1."""
    R = max_id - min_id + 1
    ids = sorted(
        {min_id + j for j in [0, 1, 15, 16, 17, R // 2, R - 1] if 0 <= j < R}
        | {min_id + int(x) for x in np.geomspace(1, R, 30) if x < R}
    )
    ids = np.array(ids + [max_id + 1, min_id - 1 if min_id > 0 else max_id + 2], np.int64)
    S = 1 if R < 4 else 3
    tries = S + extra_tries
    got = _device._py.log_uniform_expected_count_cpu(ids, S, min_id, max_id, False, tries)
    want = [
        expected_count_ref(log_uniform_probability_ref(int(k), min_id, max_id), S, tries)
        for k in ids
    ]
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
    cases = [
        (5000, 0, 10**6 - 1, True, 11),
        (20000, 1, 10**6, False, 11),
        (3000, 5, 4000, True, 11),
        (2000, 0, 2**52, False, 11),
        (999, 0, 2**40, True, 11),
        (4099, 3, 10**5, False, 2**33 - 2000),
        (777, 0, 10**6, True, 2**33 - 101),
    ]
    got = {}
    for path in ("scalar", isa):
        got[path] = run_json(_ISA_SUBPROCESS, cases, path)
    for case, a, b in zip(cases, got["scalar"], got[isa]):
        assert a[0] == b[0] and a[3] == b[3], f"ids differ between paths for {case}"
        np.testing.assert_allclose(a[1] + a[2], b[1] + b[2], rtol=1e-6, err_msg=str(case))
