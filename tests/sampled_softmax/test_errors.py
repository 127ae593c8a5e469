"""Bad input to the fused sampled softmax: clear errors naming argument and value."""

import numpy as np
import pytest
import tensorflow as tf

from tests.sampled_softmax.cases import make_case
from ydnn_kernels import arrays, sampled_softmax_loss

OP_ERROR = tf.errors.InvalidArgumentError


def call_tf(case, **kw):
    return sampled_softmax_loss(
        case["query"],
        case["table"],
        case["positive_ids"],
        case["sampled_ids"],
        case["true_expected_count"],
        case["sampled_expected_count"],
        **kw,
    )


def both(case, error_match, **kw):
    with pytest.raises(OP_ERROR, match=error_match):
        call_tf(case, **kw)
    with pytest.raises(ValueError, match=error_match):
        arrays.sampled_softmax_loss(**case, **kw)


@pytest.fixture
def case(rng):
    return make_case(rng, B=5, D=4, V=10, S=3)


@pytest.mark.parametrize("bad", [-1, 10, 2**40])
def test_positive_id_out_of_range(case, bad):
    case["positive_ids"][3] = bad
    both(case, rf"positive_ids\[3\] = {bad} is outside \[0, 10\)")


@pytest.mark.parametrize("bad", [-3, 10])
def test_sampled_id_out_of_range(case, bad):
    case["sampled_ids"][2] = bad
    both(case, rf"sampled_ids\[2\] = {bad} is outside \[0, 10\)")


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_expected_counts_must_be_positive_and_finite(case, bad):
    case["sampled_expected_count"][1] = bad
    both(case, r"sampled_expected_count\[1\] = .*positive and finite")
    case["sampled_expected_count"][1] = 1.0
    case["true_expected_count"][4] = bad
    both(case, r"true_expected_count\[4\] = .*positive and finite")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_temperature(case, bad):
    with pytest.raises(ValueError, match="temperature must be positive and finite"):
        call_tf(case, temperature=bad)
    with pytest.raises(ValueError, match="temperature must be positive and finite"):
        arrays.sampled_softmax_loss(**case, temperature=bad)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("table", np.zeros((10, 5), np.float32), r"table must be \[V, D\] with D = 4.*\[10, 5\]"),
        ("positive_ids", np.zeros(4, np.int64), r"positive_ids must be \[B\] with B = 5.*\[4\]"),
        (
            "sampled_expected_count",
            np.ones(2, np.float32),
            r"sampled_expected_count must be \[S\] with S = 3.*\[2\]",
        ),
        (
            "true_expected_count",
            np.ones(6, np.float32),
            r"true_expected_count must be \[B\].*\[6\]",
        ),
    ],
)
def test_shape_mismatch(case, key, value, match):
    case[key] = value
    both(case, match)


def test_wrong_dtypes_are_value_errors(case):
    with pytest.raises(ValueError, match="query must be float32, got float64"):
        sampled_softmax_loss(
            case["query"].astype(np.float64),
            case["table"],
            case["positive_ids"],
            case["sampled_ids"],
            case["true_expected_count"],
            case["sampled_expected_count"],
        )
    with pytest.raises(ValueError, match="sampled_ids must be int32 or int64, got float32"):
        sampled_softmax_loss(
            case["query"],
            case["table"],
            case["positive_ids"],
            case["sampled_ids"].astype(np.float32),
            case["true_expected_count"],
            case["sampled_expected_count"],
        )
    with pytest.raises(ValueError, match="table must be float32, float16 or bfloat16"):
        sampled_softmax_loss(
            case["query"],
            case["table"].astype(np.float64),
            case["positive_ids"],
            case["sampled_ids"],
            case["true_expected_count"],
            case["sampled_expected_count"],
        )


def test_overflowing_logits_are_an_error_not_nan(case):
    case["query"][2] = 1e30
    case["table"][:] = 1e30
    both(case, r"the loss of row \d is not finite")
