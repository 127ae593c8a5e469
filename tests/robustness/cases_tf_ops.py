"""Catalogue: the TensorFlow ops on bad and edge input, eager and traced.

The public wrappers (`ydnn_kernels.embedding_pool`, `sampled_softmax_loss`,
`log_uniform_sample`, `UnigramTable` / `unigram_sample`, `sparse_apply`)
and the raw ops a graph can call directly (`YdnnUnigramSample` with a
hand-built table tensor). Argument errors the wrapper can see are
ValueError; errors in tensor values are tf.errors.InvalidArgumentError from
the kernel, eager or inside tf.function alike. Nothing may crash or hang.
"""

import numpy as np
import tensorflow as tf

import ydnn_kernels as K
from tests.embedding_pool.reference import bags_from_padded, bags_from_ragged, embedding_pool_ref
from tests.robustness.catalogue import Case
from tests.sparse_optim.reference import sparse_step
from ydnn_kernels._loader import load_tf_ops

CASES = []
INVALID = tf.errors.InvalidArgumentError


def err(name, run, match, raises=ValueError):
    CASES.append(Case("tf/" + name, run, raises=raises, match=match))


def ok(name, run, check=None):
    CASES.append(Case("tf/" + name, run, check=check))


def traced(fn):
    """`fn` run inside a tf.function (a fresh trace each call)."""
    return lambda: tf.function(fn)()


V, D = 10, 4
TABLE = np.random.default_rng(3).standard_normal((V, D)).astype(np.float32)
IDS = np.array([[1, 2, 3], [4, 5, 0]], np.int64)
LENGTHS = np.array([3, 2], np.int64)
POOL_REF = embedding_pool_ref(TABLE, bags_from_padded(IDS, LENGTHS), "mean")


def close_to(expected, rtol=1e-5):
    return lambda out: np.testing.assert_allclose(np.asarray(out), expected, rtol=rtol, atol=1e-6)


# -- embedding_pool ----------------------------------------------------------------
def pool(**kw):
    args = dict(table=TABLE, ids=IDS, lengths=LENGTHS)
    args.update(kw)
    return lambda: K.embedding_pool(**args)


for mode, wrap in [("eager", lambda f: f), ("traced", traced)]:
    for label, kw, match, raises in [
        (
            "id-out-of-range",
            dict(ids=np.array([[1, 2, 3], [4, 10, 0]])),
            r"ids\[1, 1\] = 10 is out of range \[0, 10\)",
            INVALID,
        ),
        (
            "id-negative",
            dict(ids=np.array([[-7, 2, 3], [4, 5, 0]])),
            r"ids\[0, 0\] = -7 is out of range",
            INVALID,
        ),
        (
            "length-past-L",
            dict(lengths=np.array([3, 4])),
            r"lengths\[1\] = 4 is outside \[0, 3\]",
            INVALID,
        ),
        (
            "length-negative",
            dict(lengths=np.array([-1, 2])),
            r"lengths\[0\] = -1 is outside",
            INVALID,
        ),
        ("lengths-shape", dict(lengths=np.array([3, 2, 1])), r"lengths", INVALID),
        ("weights-shape", dict(weights=np.ones((2, 2), np.float32)), r"weights", INVALID),
    ]:
        err(f"embedding_pool/{mode}-{label}", wrap(pool(**kw)), match, raises)
    ragged_ids = tf.ragged.constant([[1, 2, 3], [4, 5]], dtype=tf.int64)
    err(
        f"embedding_pool/{mode}-ragged-weights-other-rows",
        wrap(
            lambda r=ragged_ids: K.embedding_pool(
                TABLE, r, weights=tf.ragged.constant([[1.0, 1.0], [1.0, 2.0, 3.0]])
            )
        ),
        r"weights must have the row lengths of ids",
        INVALID,
    )
    err(
        f"embedding_pool/{mode}-ragged-weights-other-rows-count",
        wrap(
            lambda r=ragged_ids: K.embedding_pool(
                TABLE, r, weights=tf.ragged.constant([[1.0, 1.0, 1.0], [1.0], [1.0]])
            )
        ),
        r"weights must have the row lengths of ids",
        (ValueError, INVALID),
    )
    ok(
        f"embedding_pool/{mode}-ragged-weights",
        wrap(
            lambda r=ragged_ids: K.embedding_pool(
                TABLE, r, weights=tf.ragged.constant([[1.0, 2.0, 0.5], [1.0, 1.0]]), combiner="sum"
            )
        ),
        close_to(
            embedding_pool_ref(
                TABLE,
                bags_from_ragged([1, 2, 3, 4, 5], [0, 3, 5], [1.0, 2.0, 0.5, 1.0, 1.0]),
                "sum",
            )
        ),
    )
    ok(f"embedding_pool/{mode}-valid", wrap(pool()), close_to(POOL_REF))

for label, kw, match in [
    ("ids-float", dict(ids=IDS.astype(np.float32)), r"ids must be int32 or int64, got float32"),
    ("ids-1d", dict(ids=IDS[0]), r"padded ids must be 2-D \[B, L\]"),
    ("lengths-float", dict(lengths=np.array([1.5, 2.0])), r"lengths must be an integer tensor"),
    ("combiner", dict(combiner="max"), r"combiner must be one of"),
    (
        "ragged-ids-dense-weights",
        dict(ids=tf.ragged.constant([[1], [2]]), lengths=None, weights=np.ones((2, 1), np.float32)),
        r"weights must be ragged like ids",
    ),
    (
        "ragged-ids-and-lengths",
        dict(ids=tf.ragged.constant([[1], [2]])),
        r"lengths is only for padded ids",
    ),
    ("table-float64", dict(table=TABLE.astype(np.float64)), r"table|float64|double"),
]:
    err(f"embedding_pool/{label}", pool(**kw), match, (ValueError, TypeError, INVALID))
ok("embedding_pool/lengths-int32", pool(lengths=LENGTHS.astype(np.int32)), close_to(POOL_REF))
ok(
    "embedding_pool/variable-table",
    lambda: K.embedding_pool(tf.Variable(TABLE), IDS, LENGTHS),
    close_to(POOL_REF),
)

# -- sampled_softmax_loss ------------------------------------------------------------
QUERY = np.random.default_rng(4).standard_normal((2, D)).astype(np.float32)


def softmax(**kw):
    args = dict(
        query=QUERY,
        table=TABLE,
        positive_ids=np.array([1, 2]),
        sampled_ids=np.array([3, 4, 5]),
        true_expected_count=np.ones(2, np.float32),
        sampled_expected_count=np.ones(3, np.float32),
    )
    args.update(kw)
    return lambda: K.sampled_softmax_loss(**args)


for mode, wrap in [("eager", lambda f: f), ("traced", traced)]:
    for label, kw, match in [
        (
            "positive-out-of-range",
            dict(positive_ids=np.array([1, 10])),
            r"positive_ids\[1\] = 10 is outside \[0, 10\)",
        ),
        (
            "sampled-negative",
            dict(sampled_ids=np.array([3, -4, 5])),
            r"sampled_ids\[1\] = -4 is outside",
        ),
        (
            "true-ec-zero",
            dict(true_expected_count=np.array([1.0, 0.0], np.float32)),
            r"true_expected_count\[1\] = 0: expected counts must be positive and finite",
        ),
        (
            "sampled-ec-nan",
            dict(sampled_expected_count=np.array([1.0, np.nan, 1.0], np.float32)),
            r"sampled_expected_count\[1\] = nan",
        ),
    ]:
        err(f"sampled_softmax_loss/{mode}-{label}", wrap(softmax(**kw)), match, INVALID)
for label, kw, match in [
    ("temperature-zero", dict(temperature=0.0), r"temperature"),
    ("temperature-nan", dict(temperature=float("nan")), r"temperature"),
    ("temperature-string", dict(temperature="1"), r"temperature"),
    ("ids-float", dict(positive_ids=np.array([1.0, 2.0])), r"positive_ids"),
    ("query-width", dict(query=np.ones((2, D + 1), np.float32)), r"query"),
]:
    err(f"sampled_softmax_loss/{label}", softmax(**kw), match, (ValueError, INVALID))
ok("sampled_softmax_loss/temperature-np-float32", softmax(temperature=np.float32(0.5)))
ok("sampled_softmax_loss/temperature-np-float64", softmax(temperature=np.float64(0.5)))

# -- log_uniform_sample ------------------------------------------------------------
for label, kw, match in [
    ("S-float", dict(num_sampled=5.5), r"num_sampled"),
    ("S-zero", dict(num_sampled=0), r"num_sampled"),
    ("S-bool", dict(num_sampled=True), r"num_sampled"),
    ("S-over-range", dict(num_sampled=500), r"num_sampled"),
    ("max-string", dict(max_id="100"), r"max_id"),
    ("true-ids-float", dict(true_ids=np.array([0.5])), r"true_ids"),
]:
    args = dict(num_sampled=5, max_id=100)
    args.update(kw)
    err(f"log_uniform_sample/{label}", lambda a=args: K.log_uniform_sample(**a), match)
ok(
    "log_uniform_sample/S-np-int64",
    lambda: K.log_uniform_sample(np.int64(5), np.int64(100), seed=1),
    lambda out: np.testing.assert_equal(out[0].shape, (5,)),
)

# -- UnigramTable / unigram_sample / the raw YdnnUnigramSample ---------------------------
COUNTS = np.array([1.0, 2.0, 3.0, 0.0])
for label, counts, match in [
    ("negative", [1.0, -1.0], r"counts\[1\] = -1 is negative"),
    ("nan", [np.nan, 1.0], r"counts\[0\] is NaN"),
    ("2d", [[1.0]], r"counts must be 1-D"),
    ("string", ["a"], r"counts must be float32, float64, int32 or int64|counts"),
    ("zeros", [0, 0], r"counts has no positive entry"),
]:
    err(
        f"UnigramTable/counts-{label}",
        lambda c=counts: K.UnigramTable(c),
        match,
        (ValueError, TypeError),
    )
err(
    "unigram_sample/S-float",
    lambda: K.unigram_sample(K.UnigramTable(COUNTS), 2.5),
    r"num_sampled must be an integer, got float 2.5",
)
err(
    "unigram_sample/mass-on-fewer-ids",
    lambda: K.unigram_sample(K.UnigramTable([1e12, 1]), 2),
    r"num_sampled = 2 distinct ids cannot be drawn in 2\^31 tries",
)
ok(
    "unigram_sample/S-np-int64",
    lambda: K.unigram_sample(K.UnigramTable(COUNTS), np.int64(2), seed=3),
    lambda out: np.testing.assert_array_less(out[0].numpy(), 3),
)

_ops = load_tf_ops()


def raw_sample(table=None, prob=None, num_positive=3, num_sampled=2, unique=True):
    def run():
        t = K.UnigramTable(COUNTS, device="/CPU:0")
        tab = t.table.numpy() if table is None else np.asarray(table, np.float64)
        p = t.prob.numpy() if prob is None else np.asarray(prob, np.float64)
        return _ops.ydnn_unigram_sample(
            tab,
            p,
            tf.constant(num_positive, tf.int64),
            tf.zeros([0], tf.int64),
            num_sampled=num_sampled,
            unique=unique,
        )

    return run


def with_entry(row, col, value):
    t = K.UnigramTable(COUNTS, device="/CPU:0").table.numpy()
    t[row, col] = value
    return t


for label, value in [("1e12", 1e12), ("-1e18", -1e18), ("nan", np.nan), ("2.5", 2.5)]:
    for unique in (True, False):
        err(
            f"YdnnUnigramSample/alias-{label}-{'unique' if unique else 'replace'}",
            raw_sample(table=with_entry(0, 1, value), unique=unique),
            r"table\[0, 1\] = \S+ is not an id in \[0, 4\)",
            INVALID,
        )
err(
    "YdnnUnigramSample/accept-2",
    raw_sample(table=with_entry(1, 0, 2.0)),
    r"table\[1, 0\] = 2 is not an accept probability",
    INVALID,
)
err(
    "YdnnUnigramSample/prob-nan",
    raw_sample(prob=[np.nan, 0.2, 0.3, 0.5]),
    r"prob\[0\] = nan is not a probability",
    INVALID,
)
err(
    "YdnnUnigramSample/num-positive-inflated",
    raw_sample(num_positive=4, num_sampled=4),
    r"num_positive = 4 exceeds the 3 ids the table can draw",
    INVALID,
)
err(
    "YdnnUnigramSample/num-positive-past-V",
    raw_sample(num_positive=1000, num_sampled=4),
    r"num_positive must be in \[1, 4\], got 1000",
    INVALID,
)
err(
    "YdnnUnigramSample/table-shape",
    raw_sample(table=np.zeros((4, 3))),
    r"table must be \[V, 2\]",
    INVALID,
)
err(
    "YdnnUnigramSample/prob-shape",
    raw_sample(prob=np.zeros(3)),
    r"prob must be \[V\] with the table's V = 4",
    INVALID,
)


def heavy_raw():
    t = K.UnigramTable([1e12, 1.0], device="/CPU:0")
    return _ops.ydnn_unigram_sample(
        t.table, t.prob, tf.constant(2, tf.int64), tf.zeros([0], tf.int64), num_sampled=2
    )


CASES.append(
    Case(
        "tf/YdnnUnigramSample/mass-on-fewer-ids",
        heavy_raw,
        raises=INVALID,
        match=r"num_sampled = 2 distinct ids cannot be drawn in 2\^31 tries",
        timeout=10,
    )
)
ok(
    "YdnnUnigramSample/hand-built-valid",
    raw_sample(),
    lambda out: np.testing.assert_array_less(out[0].numpy(), 3),
)

# -- sparse_apply ----------------------------------------------------------------
GRAD = np.ones((2, D), np.float32)


def sparse(kind="lazy_adam", ids=(1, 4), values=GRAD, **kw):
    def run():
        table = tf.Variable(TABLE)
        slots = [tf.Variable(tf.zeros_like(TABLE)) for _ in range(2 if kind == "lazy_adam" else 0)]
        try:
            return K.sparse_apply(kind, table, slots, np.array(ids), values, 0.1, **kw)
        except (ValueError, INVALID):
            assert np.array_equal(table.numpy(), TABLE), "the call raised but wrote the table"
            raise

    return run


for label, kw, match, raises in [
    ("id-out-of-range", dict(ids=(1, 10)), r"indices\[1\] = 10 is out of range \[0, 10\)", INVALID),
    ("id-negative", dict(ids=(-1, 2)), r"indices\[0\] = -1 is out of range", INVALID),
    ("values-shape", dict(values=np.ones((3, D), np.float32)), r"values", INVALID),
    ("kind", dict(kind="adam"), r"kind must be one of", ValueError),
]:
    err(f"sparse_apply/{label}", sparse(**kw), match, raises)
err(
    "sparse_apply/not-a-variable",
    lambda: K.sparse_apply("sgd", tf.constant(TABLE), [], np.array([1]), GRAD[:1], 0.1),
    r"must be a tf.Variable or keras.Variable",
)


def sgd_step_matches():
    table = tf.Variable(TABLE)
    K.sparse_apply(
        "sgd", table, [], np.array([1, 4], np.int32), GRAD, np.float32(0.1), step=np.int64(1)
    )
    want, _ = sparse_step("sgd", TABLE, [], [1, 4], GRAD, 0.1)
    np.testing.assert_allclose(table.numpy(), want, rtol=1e-6)


ok("sparse_apply/np-scalars", sgd_step_matches)

# -- NumPy inputs in other byte orders and read-only memory: TF converts them ----------
ok(
    "embedding_pool/big-endian-numpy",
    pool(table=TABLE.astype(">f4"), ids=IDS.astype(">i8"), lengths=LENGTHS.astype(">i4")),
    close_to(POOL_REF),
)


def _read_only(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


ok(
    "embedding_pool/read-only-numpy",
    pool(table=_read_only(TABLE), ids=_read_only(IDS)),
    close_to(POOL_REF),
)


def big_endian_step_matches():
    table = tf.Variable(TABLE)
    K.sparse_apply("sgd", table, [], np.array([1, 4], ">i8"), GRAD.astype(">f4"), 0.1)
    want, _ = sparse_step("sgd", TABLE, [], [1, 4], GRAD, 0.1)
    np.testing.assert_allclose(table.numpy(), want, rtol=1e-6)


ok("sparse_apply/big-endian-numpy", big_endian_step_matches)
