"""unigram_sample / UnigramTable as TensorFlow ops: tables from every counts
dtype, num_tries consistent with the expected counts, the op's state (each
call continues the stream), global and op seeds, the public wrapper's
outputs and shapes, and the op equal to the NumPy entry point; against the
pure-Python references."""

import numpy as np
import pytest
import tensorflow as tf

from tests.sampler.reference import expected_count_ref
from tests.unigram.cases import COUNT_RTOL, COUNTS, table_of
from tests.unigram.reference import unigram_probability_ref, unigram_sample_ref
from ydnn_kernels import UnigramTable, arrays, unigram_sample
from ydnn_kernels.unigram_op import _ops


def test_counts_dtypes_give_the_same_table():
    counts = [4, 0, 1, 9, 3]
    tables = [
        UnigramTable(tf.constant(counts, dt), 0.75)
        for dt in (tf.int32, tf.int64, tf.float32, tf.float64)
    ]
    for t in tables[1:]:
        np.testing.assert_array_equal(t.table.numpy(), tables[0].table.numpy())
    np.testing.assert_array_equal(tables[0].table.numpy(), table_of(counts, 0.75).table)


def test_op_reports_num_tries_consistent_with_its_expected_counts():
    counts = COUNTS["small_ints"]
    t = UnigramTable(counts, 1.0)
    sampled, true_ec, sampled_ec, tries = _ops.ydnn_unigram_sample(
        t.table,
        t.prob,
        t.num_positive_tensor,
        tf.constant([1, 4, 99], tf.int64),
        num_sampled=6,
        unique=True,
        seed=3,
        seed2=4,
    )
    n = int(tries)
    p = unigram_probability_ref(counts, 1.0)
    assert n >= 6 and sorted(sampled.numpy().tolist()) == np.flatnonzero(counts).tolist()
    for k, got in zip(sampled.numpy(), sampled_ec.numpy()):
        assert got == pytest.approx(expected_count_ref(p[k], 6, n), rel=COUNT_RTOL)
    np.testing.assert_allclose(
        true_ec.numpy(), [expected_count_ref(p[1], 6, n), 0.0, 0.0], rtol=COUNT_RTOL
    )


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_state_seeds_and_stream(mode):
    counts = COUNTS["zipf_1000_zeros"]
    t = UnigramTable(counts, 0.75)

    def op():
        return _ops.ydnn_unigram_sample(
            t.table,
            t.prob,
            t.num_positive_tensor,
            tf.zeros([0], tf.int64),
            num_sampled=50,
            unique=True,
            seed=11,
            seed2=12,
        )

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
        arrays.unigram_sample(table_of(counts, 0.75), 50, True, seed=11, seed2=12)[0], a.numpy()
    )


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
    ids, true_ec, sampled_ec = tf.function(
        lambda: unigram_sample(t, 4, unique=False, true_ids=labels, seed=2)
    )()
    assert ids.dtype == tf.int64 and ids.shape == [4] and true_ec.shape == [2, 2]
    p = unigram_probability_ref(counts, 1.0)
    np.testing.assert_allclose(
        true_ec.numpy(), [[4 * p[1], 4 * p[3]], [4 * p[5], 0.0]], rtol=COUNT_RTOL
    )
    np.testing.assert_allclose(sampled_ec.numpy(), [4 * p[k] for k in ids.numpy()], rtol=COUNT_RTOL)
    assert "num_positive=6" in repr(t)


def test_non_unique_large_sample_through_both_entry_points():
    counts = COUNTS["random_20000"]
    t = UnigramTable(counts, 0.5)
    ids, _, ec = _ops.ydnn_unigram_sample(
        t.table,
        t.prob,
        t.num_positive_tensor,
        tf.zeros([0], tf.int64),
        num_sampled=70_000,
        unique=False,
        seed=1,
        seed2=1,
    )[:3]
    np_ids, _, np_ec, tries = arrays.unigram_sample(
        table_of(counts, 0.5), 70_000, False, seed=1, seed2=1
    )
    assert tries == 70_000
    np.testing.assert_array_equal(ids.numpy(), np_ids)
    np.testing.assert_array_equal(ec.numpy(), np_ec)
