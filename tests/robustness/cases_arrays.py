"""Catalogue: the arrays API (`ydnn_kernels.arrays`) on bad and edge input.

Each entry point gets the same classes of argument: wrong dtypes (float,
bool, string, object ids), wrong ranks and shapes, ids out of range,
non-native byte order and read-only memory (valid: the result must equal
the native one), scalars of the wrong type (floats for counts, strings,
bools) and NumPy scalars (valid). Valid cases are checked against the
float64 references of tests/reference*.py or against the same call on
plain arrays.
"""

import numpy as np

from tests.embedding_pool.reference import bags_from_padded, bags_from_ragged, embedding_pool_ref
from tests.robustness.catalogue import Case
from tests.sampled_softmax.reference import sampled_softmax
from ydnn_kernels import arrays as A

V, D = 10, 4
RNG = np.random.default_rng(7)
TABLE = RNG.standard_normal((V, D)).astype(np.float32)
IDS = np.array([[1, 2, 3], [4, 5, 0]], np.int64)
LENGTHS = np.array([3, 2], np.int64)
QUERY = RNG.standard_normal((2, D)).astype(np.float32)
POS = np.array([1, 2])
SAMPLED = np.array([3, 4, 5])
EC = np.ones(2, np.float32)
SEC = np.ones(3, np.float32)

CASES = []


def err(name, run, match, raises=ValueError):
    CASES.append(Case("arrays/" + name, run, raises=raises, match=match))


def ok(name, run, check=None):
    CASES.append(Case("arrays/" + name, run, check=check))


def close_to(expected, rtol=1e-5, atol=1e-6):
    def check(out):
        np.testing.assert_allclose(np.asarray(out, np.float64), expected, rtol=rtol, atol=atol)

    return check


def read_only(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def big_endian(a):
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder(">"))


def pool(table=TABLE, ids=IDS, **kw):
    kw.setdefault("lengths", LENGTHS)
    return lambda: A.embedding_pool(table, ids, **kw)


POOL_REF = embedding_pool_ref(TABLE, bags_from_padded(IDS, LENGTHS), "mean")

# -- embedding_pool: ids ------------------------------------------------------
for label, ids, match in [
    ("float", IDS.astype(np.float64), r"ids must have an integer dtype, got float64"),
    ("float32", IDS.astype(np.float32), r"ids must have an integer dtype, got float32"),
    ("bool", IDS > 2, r"ids must have an integer dtype, got bool"),
    ("string", IDS.astype(str), r"ids must be a numeric array, got <U"),
    ("object", IDS.astype(object), r"ids must be a numeric array, got object"),
    ("none", None, r"ids must be a numeric array, got object"),
    ("complex", IDS.astype(complex), r"ids must have an integer dtype, got complex128"),
    ("1d-padded", IDS[0], r"padded ids must be 2-D \[B, L\], got shape \(3,\)"),
    ("3d", IDS[None], r"padded ids must be 2-D \[B, L\], got shape \(1, 2, 3\)"),
    ("negative", np.array([[1, -1, 3], [4, 5, 0]]), r"ids\[0, 1\] = -1 is out of range \[0, 10\)"),
    ("equal-V", np.array([[1, 10, 3], [4, 5, 0]]), r"ids\[0, 1\] = 10 is out of range"),
    ("huge", np.array([[1, 2, 3], [2**40, 5, 0]]), r"ids\[1, 0\] = 1099511627776 is out"),
    ("int32-min", np.array([[1, 2, -(2**31)], [4, 5, 0]], np.int32), r"ids\[0, 2\] = -2147483648"),
    (
        "uint64-past-int64",
        np.array([[1, 2, 2**63], [4, 5, 0]], np.uint64),
        r"ids has a value 9223372036854775808 beyond int64",
    ),
    ("ragged-list", [[1, 2], [3]], r"ids must be an array, got list|inhomogeneous"),
]:
    err(f"embedding_pool/ids-{label}", pool(ids=ids), match)

for label, ids in [
    ("int8", IDS.astype(np.int8)),
    ("uint16", IDS.astype(np.uint16)),
    ("int32", IDS.astype(np.int32)),
    ("uint64", IDS.astype(np.uint64)),
    ("big-endian", big_endian(IDS)),
    ("read-only", read_only(IDS)),
    ("non-contiguous", np.asfortranarray(IDS)),
    ("list", IDS.tolist()),
    ("strided", np.repeat(IDS, 2, axis=1)[:, ::2]),
]:
    ok(f"embedding_pool/ids-{label}", pool(ids=ids), close_to(POOL_REF))

# -- embedding_pool: lengths, row_splits, weights, combiner, table -------------
for label, lengths, match in [
    ("float", LENGTHS.astype(float), r"lengths must have an integer dtype, got float64"),
    ("float-fraction", np.array([1.7, 2.0]), r"lengths must have an integer dtype"),
    ("bool", np.array([True, True]), r"lengths must have an integer dtype, got bool"),
    ("negative", np.array([3, -1]), r"lengths\[1\] = -1 is outside \[0, 3\]"),
    ("past-L", np.array([3, 4]), r"lengths\[1\] = 4 is outside \[0, 3\]"),
    ("short", np.array([3]), r"lengths"),
    ("long", np.array([3, 2, 1]), r"lengths"),
    ("2d", LENGTHS[None], r"lengths"),
    ("string", np.array(["3", "2"]), r"lengths must be a numeric array"),
]:
    err(f"embedding_pool/lengths-{label}", pool(lengths=lengths), match)
ok("embedding_pool/lengths-big-endian", pool(lengths=big_endian(LENGTHS)), close_to(POOL_REF))
ok(
    "embedding_pool/lengths-int32-read-only",
    pool(lengths=read_only(LENGTHS.astype(np.int32))),
    close_to(POOL_REF),
)
ok("embedding_pool/lengths-zero", pool(lengths=np.array([0, 0])), close_to(np.zeros((2, D))))

VALUES = np.array([1, 2, 3, 4, 5])
SPLITS = np.array([0, 3, 5])
RAGGED_REF = embedding_pool_ref(TABLE, bags_from_ragged(VALUES, SPLITS), "mean")
for label, splits, match in [
    ("decreasing", np.array([0, 4, 3, 5]), r"row_splits must be non-decreasing from 0 to 5"),
    ("not-from-0", np.array([1, 3, 5]), r"row_splits must be non-decreasing from 0 to 5"),
    ("not-to-N", np.array([0, 3, 4]), r"row_splits must be non-decreasing from 0 to 5"),
    ("past-N", np.array([0, 6, 5]), r"row_splits must be non-decreasing from 0 to 5"),
    ("float", SPLITS.astype(float), r"row_splits must have an integer dtype, got float64"),
    ("empty", np.array([], np.int64), r"row_splits"),
]:
    err(
        f"embedding_pool/row_splits-{label}",
        lambda s=splits: A.embedding_pool(TABLE, VALUES, row_splits=s),
        match,
    )
err(
    "embedding_pool/row_splits-and-lengths",
    lambda: A.embedding_pool(TABLE, VALUES, row_splits=SPLITS, lengths=LENGTHS),
    r"pass lengths \(padded ids\) or row_splits \(ragged ids\), not both",
)
err(
    "embedding_pool/ragged-2d-ids",
    lambda: A.embedding_pool(TABLE, IDS, row_splits=SPLITS),
    r"ragged ids must be 1-D values \[N\], got shape \(2, 3\)",
)
ok(
    "embedding_pool/row_splits-big-endian",
    lambda: A.embedding_pool(TABLE, big_endian(VALUES), row_splits=big_endian(SPLITS)),
    close_to(RAGGED_REF),
)

W = np.array([[1.0, 2.0, 0.5], [1.0, 1.0, 9.0]], np.float32)
W_REF = embedding_pool_ref(TABLE, bags_from_padded(IDS, LENGTHS, W), "sum")
for label, weights, match in [
    ("shape", np.ones((2, 2), np.float32), r"weights"),
    ("string", np.full((2, 3), "a"), r"weights must be a numeric array"),
    ("ragged-total", np.ones(4, np.float32), r"weights"),
]:
    err(f"embedding_pool/weights-{label}", pool(weights=weights), match)
ok(
    "embedding_pool/weights-big-endian",
    pool(weights=big_endian(W), combiner="sum"),
    close_to(W_REF),
)
ok(
    "embedding_pool/weights-float64",
    pool(weights=W.astype(np.float64), combiner="sum"),
    close_to(W_REF),
)
ok(
    "embedding_pool/weights-int",
    pool(weights=np.ones((2, 3), np.int64), combiner="sum"),
    close_to(embedding_pool_ref(TABLE, bags_from_padded(IDS, LENGTHS), "sum")),
)
for label, combiner in [("unknown", "max"), ("none", None), ("int", 1), ("upper", "MEAN")]:
    err(f"embedding_pool/combiner-{label}", pool(combiner=combiner), r"combiner must be one of")
for label, table, match in [
    (
        "float64",
        TABLE.astype(np.float64),
        r"table must be float32, float16 or bfloat16, got float64",
    ),
    ("int", TABLE.astype(np.int32), r"table must be float32, float16 or bfloat16, got int32"),
    ("1d", TABLE[0], r"table must be 2-D \[V, D\], got float32 of shape \[4\]"),
    ("3d", TABLE[None], r"table must be 2-D \[V, D\]"),
    ("empty-V", TABLE[:0], r"ids\[0, 0\] = 1 is out of range \[0, 0\)"),
    ("string", np.full((3, 3), "x"), r"table must be a numeric array"),
    ("list", TABLE.tolist(), r"table must be float32, float16 or bfloat16, got float64"),
    ("none", None, r"table must be a numeric array"),
]:
    err(f"embedding_pool/table-{label}", pool(table=table), match)
for label, table in [
    ("big-endian", big_endian(TABLE)),
    ("read-only", read_only(TABLE)),
    ("fortran", np.asfortranarray(TABLE)),
]:
    ok(f"embedding_pool/table-{label}", pool(table=table), close_to(POOL_REF))
ok(
    "embedding_pool/table-float16",
    pool(table=TABLE.astype(np.float16)),
    close_to(
        embedding_pool_ref(TABLE.astype(np.float16), bags_from_padded(IDS, LENGTHS), "mean"),
        rtol=2e-3,
        atol=2e-3,
    ),
)
ok(
    "embedding_pool/empty-batch",
    lambda: A.embedding_pool(TABLE, np.zeros((0, 3), np.int64), lengths=np.zeros(0, np.int64)),
    close_to(np.zeros((0, D))),
)
ok(
    "embedding_pool/width-zero",
    lambda: A.embedding_pool(TABLE, np.zeros((2, 0), np.int64)),
    close_to(np.zeros((2, D))),
)

# -- embedding_pool_grad -------------------------------------------------------
GRAD = np.ones((2, D), np.float32)


def grad(**kw):
    args = dict(
        table=TABLE, ids=IDS, pooled=POOL_REF.astype(np.float32), grad=GRAD, lengths=LENGTHS
    )
    args.update(kw)
    return lambda: A.embedding_pool_grad(**args)


for label, kw, match in [
    ("bad-id", dict(ids=np.array([[1, 2, 3], [4, 50, 0]])), r"ids\[1, 1\] = 50 is out of range"),
    ("float-ids", dict(ids=IDS.astype(float)), r"ids must have an integer dtype"),
    ("grad-shape", dict(grad=np.ones((3, D), np.float32)), r"grad"),
    ("grad-string", dict(grad=np.full((2, D), "g")), r"grad must be a numeric array"),
    ("pooled-shape", dict(pooled=np.ones((2, D + 1), np.float32)), r"pooled"),
    ("bad-length", dict(lengths=np.array([3, 9])), r"lengths\[1\] = 9 is outside"),
    ("float-lengths", dict(lengths=np.array([3.0, 2.0])), r"lengths must have an integer"),
]:
    err(f"embedding_pool_grad/{label}", grad(**kw), match)


def grad_matches_native(out):
    ref = A.embedding_pool_grad(TABLE, IDS, POOL_REF.astype(np.float32), GRAD, lengths=LENGTHS)
    np.testing.assert_array_equal(out[0], ref[0])
    np.testing.assert_allclose(out[1], ref[1], rtol=1e-6)


ok(
    "embedding_pool_grad/big-endian-all",
    grad(
        table=big_endian(TABLE),
        ids=big_endian(IDS),
        grad=big_endian(GRAD),
        pooled=big_endian(POOL_REF.astype(np.float32)),
    ),
    grad_matches_native,
)
ok(
    "embedding_pool_grad/read-only-all",
    grad(table=read_only(TABLE), ids=read_only(IDS), grad=read_only(GRAD)),
    grad_matches_native,
)

# -- sampled_softmax_loss / _grad ------------------------------------------------
SOFTMAX_REF = sampled_softmax(QUERY, TABLE, POS, SAMPLED, EC, SEC)


def softmax(fn=A.sampled_softmax_loss, **kw):
    args = dict(
        query=QUERY,
        table=TABLE,
        positive_ids=POS,
        sampled_ids=SAMPLED,
        true_expected_count=EC,
        sampled_expected_count=SEC,
    )
    args.update(kw)
    if fn is A.sampled_softmax_loss_grad:
        args.setdefault("lse", np.zeros(2, np.float32))
        args.setdefault("grad_loss", np.ones(2, np.float32))
    return lambda: fn(**args)


def loss_close(out):
    np.testing.assert_allclose(out[0], SOFTMAX_REF[0], rtol=1e-5)


for fn_name, fn in [
    ("sampled_softmax_loss", A.sampled_softmax_loss),
    ("sampled_softmax_loss_grad", A.sampled_softmax_loss_grad),
]:
    for label, kw, match in [
        ("query-dim", dict(query=np.ones((2, D + 1), np.float32)), r"query"),
        ("query-1d", dict(query=np.ones(D, np.float32)), r"query"),
        ("query-string", dict(query=np.full((2, D), "q")), r"query must be a numeric array"),
        (
            "positive-float",
            dict(positive_ids=np.array([1.0, 2.0])),
            r"positive_ids must have an integer dtype, got float64",
        ),
        (
            "positive-out-of-range",
            dict(positive_ids=np.array([1, 10])),
            r"positive_ids\[1\] = 10 is outside \[0, 10\)",
        ),
        (
            "positive-negative",
            dict(positive_ids=np.array([-5, 1])),
            r"positive_ids\[0\] = -5 is outside",
        ),
        ("positive-count", dict(positive_ids=np.array([1, 2, 3])), r"positive_ids must be \[B\]"),
        (
            "sampled-out-of-range",
            dict(sampled_ids=np.array([3, 4, 99])),
            r"sampled_ids\[2\] = 99 is outside",
        ),
        (
            "sampled-bool",
            dict(sampled_ids=np.array([True, False])),
            r"sampled_ids must have an integer dtype, got bool",
        ),
        (
            "true-ec-zero",
            dict(true_expected_count=np.array([0.0, 1.0])),
            r"true_expected_count\[0\] = 0: expected counts must be positive and finite",
        ),
        (
            "true-ec-negative-zero",
            dict(true_expected_count=np.array([1.0, -0.0])),
            r"true_expected_count\[1\] = 0: expected counts must be positive and finite; 0 is "
            r"what the sampler gives an id it can never draw",
        ),
        (
            "true-ec-nan",
            dict(true_expected_count=np.array([np.nan, 1.0])),
            r"true_expected_count\[0\] = nan",
        ),
        (
            "sampled-ec-inf",
            dict(sampled_expected_count=np.array([1.0, np.inf, 1.0])),
            r"sampled_expected_count\[1\] = inf",
        ),
        (
            "sampled-ec-shape",
            dict(sampled_expected_count=np.ones(2)),
            r"sampled_expected_count must be \[S\]",
        ),
        ("temperature-zero", dict(temperature=0.0), r"temperature must be positive and finite"),
        ("temperature-nan", dict(temperature=float("nan")), r"temperature must be positive"),
        ("temperature-negative", dict(temperature=-1.0), r"temperature must be positive"),
        (
            "temperature-string",
            dict(temperature="1"),
            r"temperature must be a real number, got str",
        ),
        ("temperature-bool", dict(temperature=True), r"temperature must be a real number"),
        ("temperature-array", dict(temperature=np.ones(2)), r"temperature must be a real"),
        (
            "hits-string",
            dict(remove_accidental_hits="yes"),
            r"remove_accidental_hits must be True or False",
        ),
        ("in-batch-int", dict(in_batch_negatives=1), r"in_batch_negatives must be True or"),
        (
            "table-float64",
            dict(table=TABLE.astype(np.float64)),
            r"table must be float32, float16 or bfloat16",
        ),
    ]:
        err(f"{fn_name}/{label}", softmax(fn, **kw), match)

ok("sampled_softmax_loss/temperature-np-float32", softmax(temperature=np.float32(1.0)), loss_close)
ok(
    "sampled_softmax_loss/big-endian-all",
    softmax(
        query=big_endian(QUERY),
        table=big_endian(TABLE),
        positive_ids=big_endian(POS),
        sampled_ids=big_endian(SAMPLED),
        true_expected_count=big_endian(EC),
        sampled_expected_count=big_endian(SEC),
    ),
    loss_close,
)
ok(
    "sampled_softmax_loss/read-only-all",
    softmax(query=read_only(QUERY), table=read_only(TABLE), positive_ids=read_only(POS)),
    loss_close,
)
ok("sampled_softmax_loss/hits-np-bool", softmax(remove_accidental_hits=np.bool_(True)), loss_close)
ok("sampled_softmax_loss/true-ec-column", softmax(true_expected_count=EC[:, None]), loss_close)
err(
    "sampled_softmax_loss/return-logits-string",
    softmax(return_logits="no"),
    r"return_logits must be True or False",
)
err(
    "sampled_softmax_loss_grad/lse-shape",
    softmax(A.sampled_softmax_loss_grad, lse=np.zeros(3, np.float32)),
    r"lse",
)
err(
    "sampled_softmax_loss_grad/grad-loss-string",
    softmax(A.sampled_softmax_loss_grad, grad_loss=np.array(["a", "b"])),
    r"grad_loss must be a numeric array",
)

# -- log_uniform_sample ------------------------------------------------------------
for label, kw, match in [
    ("S-zero", dict(num_sampled=0), r"num_sampled must be >= 1, got 0"),
    ("S-negative", dict(num_sampled=-3), r"num_sampled must be >= 1, got -3"),
    ("S-float", dict(num_sampled=5.5), r"num_sampled must be an integer, got float 5.5"),
    ("S-integral-float", dict(num_sampled=5.0), r"num_sampled must be an integer, got float"),
    ("S-string", dict(num_sampled="5"), r"num_sampled must be an integer, got str"),
    ("S-bool", dict(num_sampled=True), r"num_sampled must be an integer, got bool"),
    (
        "S-past-int64",
        dict(num_sampled=2**63),
        r"num_sampled must be <= 9223372036854775807, got 9223372036854775808",
    ),
    (
        "S-np-float",
        dict(num_sampled=np.float64(2.0)),
        r"num_sampled must be an integer, got float64 2.0",
    ),
    ("S-over-range-unique", dict(num_sampled=200), r"num_sampled = 200 exceeds"),
    ("max-below-min", dict(min_id=50, max_id=10), r"max_id|min_id"),
    ("max-float", dict(max_id=100.0), r"max_id must be an integer, got float"),
    ("min-negative", dict(min_id=-1), r"min_id"),
    ("seed-negative", dict(seed=-1), r"seed must be in \[0, 18446744073709551615\], got -1"),
    ("seed-past-uint64", dict(seed=2**64), r"seed must be in \[0, "),
    ("seed-float", dict(seed=1.5), r"seed must be an integer, got float"),
    ("seed2-string", dict(seed2="x"), r"seed2 must be an integer"),
    ("counter-negative", dict(counter=-5), r"counter must be in \[0, "),
    ("unique-string", dict(unique="false"), r"unique must be True or False, got str"),
    (
        "true-ids-float",
        dict(true_ids=np.array([1.5, 2.0])),
        r"true_ids must have an integer dtype, got float64",
    ),
    ("true-ids-string", dict(true_ids=np.array(["1"])), r"true_ids must be a numeric array"),
    ("device", dict(device="gpu"), r"device must be 'cpu' or 'cuda', got 'gpu'"),
]:
    args = dict(num_sampled=5, max_id=100)
    args.update(kw)
    err(f"log_uniform_sample/{label}", lambda a=args: A.log_uniform_sample(**a), match)


def same_draws(expected_kw):
    def check(out):
        ref = A.log_uniform_sample(**expected_kw)
        np.testing.assert_array_equal(out[0], ref[0])
        np.testing.assert_array_equal(out[1], ref[1])

    return check


BASE = dict(num_sampled=5, max_id=100, true_ids=np.array([1, 2]), seed=3)
ok(
    "log_uniform_sample/numpy-scalars",
    lambda: A.log_uniform_sample(
        np.int64(5),
        np.int32(100),
        true_ids=np.array([1, 2]),
        seed=np.uint64(3),
        unique=np.bool_(True),
    ),
    same_draws(BASE),
)
ok(
    "log_uniform_sample/true-ids-big-endian-read-only",
    lambda: A.log_uniform_sample(5, 100, true_ids=read_only(big_endian([1, 2])), seed=3),
    same_draws(BASE),
)
ok("log_uniform_sample/seed-max-uint64", lambda: A.log_uniform_sample(5, 100, seed=2**64 - 1))
ok(
    "log_uniform_sample/true-ids-2d",
    lambda: A.log_uniform_sample(5, 100, true_ids=[[1], [2]]),
    lambda out: np.testing.assert_equal(out[1].shape, (2, 1)),
)
