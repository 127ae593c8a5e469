"""Invariants of log_uniform_sample (hypothesis, NumPy entry point): ids in
[min_id, max_id], distinct when unique=True, num_tries >= num_sampled (equal
when not unique); expected counts in (0, num_sampled], at most 1 once a
unique sample needed more tries than ids, and 0 for true ids outside the
range; and the stream: a non-unique sample of a + b draws is the sample of a
draws followed by the sample of b draws from counter + a."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ydnn_kernels import arrays

PROFILE = settings(
    max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@PROFILE
@given(
    st.integers(1, 60),
    st.integers(0, 10**6),
    st.integers(1, 10**6),
    st.booleans(),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**40),
)
def test_ids_in_range_unique_and_counts_bounded(num_sampled, min_id, span, unique, seed, counter):
    max_id = min_id + span - 1
    num_sampled = min(num_sampled, span) if unique else num_sampled
    true_ids = [min_id, max_id, max_id + 1, min_id - 1 if min_id else max_id + 2]
    ids, true_ec, sampled_ec, tries = arrays.log_uniform_sample(
        num_sampled, max_id, min_id, unique, true_ids=true_ids, seed=seed, counter=counter
    )
    assert ids.shape == (num_sampled,) and ((ids >= min_id) & (ids <= max_id)).all()
    if unique:
        assert len(set(ids.tolist())) == num_sampled and tries >= num_sampled
    else:
        assert tries == num_sampled
    # TF's formula: p * num_sampled when every try was kept, else
    # 1 - (1 - p)^tries, at most 1.
    bound = num_sampled if tries == num_sampled else 1.0
    for ec in (sampled_ec, true_ec[:2]):
        assert np.all((ec > 0) & (ec <= bound * (1 + 1e-6)))
    assert true_ec[2] == 0.0 and true_ec[3] == 0.0  # outside the range


@PROFILE
@given(
    st.integers(1, 50),
    st.integers(1, 50),
    st.integers(0, 100),
    st.integers(1, 10**9),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**62),
)
def test_a_sample_continues_where_the_last_one_stopped(a, b, min_id, span, seed, counter):
    max_id = min_id + span - 1
    kw = dict(max_id=max_id, min_id=min_id, unique=False, seed=seed, seed2=7)
    whole = arrays.log_uniform_sample(a + b, counter=counter, **kw)[0]
    first = arrays.log_uniform_sample(a, counter=counter, **kw)[0]
    second = arrays.log_uniform_sample(b, counter=counter + a, **kw)[0]
    np.testing.assert_array_equal(whole, np.concatenate([first, second]))
