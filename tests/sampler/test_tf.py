"""log_uniform_sample as a TensorFlow op: num_tries consistent with its
expected counts, the op's state (each call continues the stream where the
last stopped), first_draw placing a call in the stream, and the global and
op seeds reproducing sequences; all against the pure-Python reference."""

import pytest
import tensorflow as tf

from tests.sampler.reference import (
    expected_count_ref,
    log_uniform_probability_ref,
    log_uniform_sample_ref,
)
from ydnn_kernels import log_uniform_sample
from ydnn_kernels.sampler_op import _ops


def test_op_reports_num_tries_consistent_with_its_expected_counts():
    sampled, true_ec, sampled_ec, tries = _ops.ydnn_log_uniform_sample(
        tf.constant([0, 5], tf.int64),
        num_sampled=500,
        min_id=0,
        max_id=999,
        unique=True,
        seed=3,
        seed2=4,
    )
    t = int(tries)
    assert t > 500
    for k, got in zip(sampled.numpy(), sampled_ec.numpy()):
        want = expected_count_ref(log_uniform_probability_ref(int(k), 0, 999), 500, t)
        assert got == pytest.approx(want, rel=2e-6)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_state_seeds_and_stream(mode):
    def make():
        op = lambda: _ops.ydnn_log_uniform_sample(  # noqa: E731
            tf.zeros([0], tf.int64),
            num_sampled=50,
            min_id=1,
            max_id=1000,
            unique=True,
            seed=11,
            seed2=12,
        )
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
            tf.constant([3], tf.int64),
            tf.constant(first, tf.int64),
            num_sampled=40,
            min_id=1,
            max_id=500,
            unique=True,
            seed=21,
            seed2=22,
        )

    op = tf.function(call) if mode == "function" else call
    for first in (0, 7, 2**32 * 1000 + 5, 2**62):
        a, _, _, ta = op(first)
        b, _, _, tb = op(first)  # the same place twice: the same ids
        ref, ref_t = log_uniform_sample_ref(40, 1, 500, True, 21, 22, first)
        assert a.numpy().tolist() == ref == b.numpy().tolist() and int(ta) == ref_t == int(tb)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"first_draw must be a non-negative int64 scalar, got shape \[\], "
        r"value -1",
    ):
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
