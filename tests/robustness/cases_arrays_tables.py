"""Catalogue: the arrays API's stateful tables on bad and edge input.

Unigram alias tables (`unigram_table`, `unigram_sample`), hand-built or
tampered, must be refused before a draw can index out of range or loop for
ever; `sparse_apply` must refuse what it cannot update in place (read-only,
big-endian, aliased, wrong dtype) and, when it raises, leave the table and
slots exactly as they were.
"""

import numpy as np

from tests.robustness.catalogue import Case
from tests.sparse_optim.reference import sparse_step
from ydnn_kernels import arrays as A

CASES = []


def err(name, run, match, raises=ValueError):
    CASES.append(Case("arrays/" + name, run, raises=raises, match=match))


def ok(name, run, check=None):
    CASES.append(Case("arrays/" + name, run, check=check))


COUNTS = np.array([1.0, 2.0, 3.0, 0.0])


def built():
    return A.unigram_table(COUNTS)


# -- unigram_table -------------------------------------------------------------------
for label, counts, match in [
    ("negative", [1.0, -2.0], r"counts\[1\] = -2 is negative"),
    ("nan", [1.0, np.nan], r"counts\[1\] is NaN"),
    ("inf", [np.inf, 1.0], r"counts\[0\] = inf is not finite"),
    ("all-zero", [0.0, 0.0], r"counts has no positive entry"),
    ("empty", [], r"counts must have at least one entry"),
    ("2d", [[1.0, 2.0]], r"counts must be 1-D"),
    ("string", ["1", "2"], r"counts must be a numeric array"),
    ("none", None, r"counts must be a numeric array"),
    ("overflow", [1e300, 1.0], r"overflows float64"),
]:
    distortion = 2.0 if label == "overflow" else 1.0
    err(
        f"unigram_table/counts-{label}",
        lambda c=counts, d=distortion: A.unigram_table(c, distortion=d),
        match,
    )
for label, distortion, match in [
    ("nan", float("nan"), r"distortion must be finite and >= 0, got nan"),
    ("negative", -0.5, r"distortion must be finite and >= 0, got -0.5"),
    ("string", "0.75", r"distortion must be a number, got '0.75'"),
    ("bool", True, r"distortion must be a number, got True"),
]:
    err(
        f"unigram_table/distortion-{label}",
        lambda d=distortion: A.unigram_table(COUNTS, distortion=d),
        match,
    )
err(
    "unigram_table/device",
    lambda: A.unigram_table(COUNTS, device="tpu"),
    r"device must be 'cpu' or 'cuda'",
)
ok(
    "unigram_table/counts-int-big-endian-read-only",
    lambda: A.unigram_table(np.array([1, 2, 3, 0], ">i8")),
    lambda t: np.testing.assert_allclose(t.prob, COUNTS / COUNTS.sum()),
)
ok(
    "unigram_table/distortion-np-float32",
    lambda: A.unigram_table(COUNTS, np.float32(0.75)),
    lambda t: np.testing.assert_allclose(t.prob, COUNTS**0.75 / (COUNTS**0.75).sum()),
)

# -- unigram_sample on hand-built and tampered tables ------------------------------------


def hand_built(accept=None, alias=None, prob=None, num_positive=3, at=0):
    def run():
        t = built()
        table, p = np.array(t.table), np.array(t.prob)
        if accept is not None:
            table[at, 0] = accept
        if alias is not None:
            table[at, 1] = alias
        if prob is not None:
            p[at] = prob
        return A.unigram_sample(A.UnigramArrays(table, p, num_positive), 2, seed=1)

    return run


for label, alias in [
    ("1e12", 1e12),
    ("-1e18", -1e18),
    ("nan", np.nan),
    ("inf", np.inf),
    ("fraction", 1.5),
    ("equal-V", 4.0),
    ("negative", -1.0),
]:
    err(
        f"unigram_sample/alias-{label}",
        hand_built(accept=0.5, alias=alias),
        r"table\[0, 1\] = \S+ is not an id in \[0, 4\)",
    )
for label, accept in [("above-1", 2.0), ("negative", -0.1), ("nan", np.nan)]:
    err(
        f"unigram_sample/accept-{label}",
        hand_built(accept=accept),
        r"table\[0, 0\] = \S+ is not an accept probability in \[0, 1\]",
    )
for label, prob in [("nan", np.nan), ("above-1", 1.5), ("negative", -0.5)]:
    err(
        f"unigram_sample/prob-{label}",
        hand_built(prob=prob),
        r"prob\[0\] = \S+ is not a probability in \[0, 1\]",
    )
err(
    "unigram_sample/num-positive-inflated",
    hand_built(num_positive=4),
    r"num_positive = 4 exceeds the 3 ids the table can draw",
)
err(
    "unigram_sample/num-positive-past-V",
    hand_built(num_positive=40),
    r"num_positive must be in \[1, 4\], got 40|num_positive = 40 exceeds",
)
err(
    "unigram_sample/num-positive-float",
    hand_built(num_positive=3.0),
    r"table.num_positive must be an integer, got float",
)
err(
    "unigram_sample/replaced-num-positive",
    lambda: A.unigram_sample(built()._replace(num_positive=4), 4),
    r"num_positive = 4 exceeds the 3 ids the table can draw",
)
err(
    "unigram_sample/table-shape",
    lambda: A.unigram_sample(A.UnigramArrays(np.zeros((4, 3)), np.zeros(4), 1), 1),
    r"table must be \[V, 2\] float64, got 2 dimensions \[4, 3\]",
)
err(
    "unigram_sample/table-float32",
    lambda: A.unigram_sample(A.UnigramArrays(np.zeros((4, 2), np.float32), np.zeros(4), 1), 1),
    r"table.table must be a float64 array \[V, 2\], got float32",
)
err(
    "unigram_sample/prob-length",
    lambda: A.unigram_sample(A.UnigramArrays(np.array(built().table), np.zeros(3), 3), 1),
    r"prob must be \[V\] with the table's V = 4",
)
err(
    "unigram_sample/not-a-table",
    lambda: A.unigram_sample((1, 2, 3), 1),
    r"table must be a UnigramArrays from unigram_table, got tuple",
)
err(
    "unigram_sample/mass-on-fewer-ids",
    lambda: A.unigram_sample(A.unigram_table([1e12, 1.0]), 2),
    r"num_sampled = 2 distinct ids cannot be drawn in 2\^31 tries: the law puts almost all its "
    r"mass on 1 ids",
)
err(
    "unigram_sample/hand-built-mass-on-fewer-ids",
    lambda: A.unigram_sample(
        A.UnigramArrays(*map(np.array, A.unigram_table([1e12, 1.0])[:2]), 2), 2
    ),
    r"num_sampled = 2 distinct ids cannot be drawn",
)
ok(
    "unigram_sample/mass-on-fewer-ids-with-replacement",
    lambda: A.unigram_sample(A.unigram_table([1e12, 1.0]), 2, unique=False),
    lambda out: np.testing.assert_array_equal(out[0], [0, 0]),
)
for label, kw, match in [
    ("S-float", dict(num_sampled=2.5), r"num_sampled must be an integer, got float 2.5"),
    ("S-zero", dict(num_sampled=0), r"num_sampled must be >= 1, got 0"),
    ("S-over-positive", dict(num_sampled=4), r"num_sampled = 4 exceeds the 3 ids"),
    ("true-ids-float", dict(true_ids=[0.5]), r"true_ids must have an integer dtype"),
    ("seed-negative", dict(seed=-2), r"seed must be in \[0, "),
    ("unique-int", dict(unique=0), r"unique must be True or False"),
]:
    args = dict(num_sampled=2)
    args.update(kw)
    err(f"unigram_sample/{label}", lambda a=args: A.unigram_sample(built(), **a), match)


def draws_equal_built(out):
    ref = A.unigram_sample(built(), 2, seed=1)
    np.testing.assert_array_equal(out[0], ref[0])


ok(
    "unigram_sample/hand-built-valid-copy",
    lambda: A.unigram_sample(
        A.UnigramArrays(np.array(built().table), np.array(built().prob), 3), 2, seed=1
    ),
    draws_equal_built,
)
ok(
    "unigram_sample/hand-built-big-endian",
    lambda: A.unigram_sample(
        A.UnigramArrays(built().table.astype(">f8"), built().prob, 3), 2, seed=1
    ),
    draws_equal_built,
)
ok(
    "unigram_sample/numpy-scalars",
    lambda: A.unigram_sample(built(), np.int64(2), seed=np.int32(1), unique=np.bool_(True)),
    draws_equal_built,
)
ok(
    "unigram_sample/never-draws-zero-count",
    lambda: A.unigram_sample(built(), 3, unique=False, seed=5)[0],
    lambda ids: np.testing.assert_array_less(ids, 3),
)
ok(
    "unigram_sample/built-table-is-read-only",
    lambda: built().table.flags.writeable,
    lambda w: np.testing.assert_equal(w, False),
)

# -- sparse_apply ------------------------------------------------------------------------
V, D = 6, 3
TABLE = np.arange(V * D, dtype=np.float32).reshape(V, D) / 10
GRAD = np.ones((2, D), np.float32)
IDS = np.array([1, 4])


def fresh(kind):
    slots = {
        "sgd": [],
        "adagrad": [np.full((V, D), 0.1, np.float32)],
        "rowwise_adagrad": [np.full(V, 0.1, np.float32)],
        "lazy_adam": [np.zeros((V, D), np.float32), np.zeros((V, D), np.float32)],
    }[kind]
    return TABLE.copy(), slots


def untouched(kind, mutate):
    """Runs sparse_apply on fresh state changed by `mutate`; re-raises its
    error only if the table and slots are exactly as before."""

    def run():
        table, slots = fresh(kind)
        args = dict(
            kind=kind, table=table, slots=slots, indices=IDS, values=GRAD, learning_rate=0.1
        )
        mutate(args)
        before = [np.array(a, copy=True) for a in [table] + slots]
        try:
            A.sparse_apply(**args)
        except ValueError:
            for a, b in zip([table] + slots, before):
                assert np.array_equal(a, b), "the call raised but wrote the table or a slot"
            raise

    return run


def setter(**kw):
    return lambda args: args.update(kw)


for kind in A.SPARSE_KINDS:
    for label, mutate, match in [
        (
            "id-out-of-range",
            setter(indices=np.array([1, 6])),
            r"indices\[1\] = 6 is out of range \[0, 6\)",
        ),
        ("id-negative", setter(indices=np.array([-1, 2])), r"indices\[0\] = -1 is out of range"),
        ("ids-float", setter(indices=np.array([1.0, 4.0])), r"indices must have an integer dtype"),
        ("values-rows", setter(values=np.ones((3, D), np.float32)), r"values"),
        ("values-width", setter(values=np.ones((2, D + 1), np.float32)), r"values"),
        ("lr-string", setter(learning_rate="0.1"), r"learning_rate must be a real number"),
        ("step-float", setter(step=1.5), r"step must be an integer, got float 1.5"),
    ]:
        err(f"sparse_apply/{kind}-{label}", untouched(kind, mutate), match)
    ok(
        f"sparse_apply/{kind}-np-scalars-read-only-ids",
        lambda k=kind: _step_matches(
            k,
            indices=np.array(IDS),
            learning_rate=np.float32(0.1),
            step=np.int64(1),
            read_only_ids=True,
        ),
    )


def _step_matches(kind, indices, learning_rate, step, read_only_ids=False):
    table, slots = fresh(kind)
    if read_only_ids:
        indices.flags.writeable = False
    A.sparse_apply(kind, table, slots, indices, GRAD, learning_rate, step=step)
    want, want_slots = sparse_step(kind, *fresh(kind), IDS, GRAD, 0.1, step=1)
    np.testing.assert_allclose(table, want, rtol=1e-5, atol=1e-6)
    for got, ref in zip(slots, want_slots):
        np.testing.assert_allclose(got, ref.reshape(got.shape), rtol=1e-5, atol=1e-6)


def read_only_table(args):
    args["table"].flags.writeable = False


def mmap_table(args):
    args["table"] = np.lib.stride_tricks.as_strided(args["table"], writeable=False)


for label, mutate, match in [
    ("table-read-only", read_only_table, r"table is read-only, and this op updates it in place"),
    ("table-read-only-view", mmap_table, r"table is read-only"),
    (
        "table-big-endian",
        lambda a: a.update(table=a["table"].astype(">f4")),
        r"table is big-endian \(>f4 of shape \[6, 3\]\) and is updated in place",
    ),
    (
        "table-float64",
        lambda a: a.update(table=a["table"].astype(np.float64)),
        r"table must be float32, float16 or bfloat16, got float64",
    ),
    (
        "table-list",
        lambda a: a.update(table=a["table"].tolist()),
        r"table is updated in place, so it must be an array, got list",
    ),
    (
        "table-fortran",
        lambda a: a.update(table=np.asfortranarray(a["table"])),
        r"table must be C-contiguous",
    ),
    ("slot-count", lambda a: a.update(slots=a["slots"][:1]), r"lazy_adam takes 2 slot\(s\), got 1"),
    ("slot-shape", lambda a: a.update(slots=[np.zeros((V, D + 1), np.float32)] * 2), r"slots"),
    (
        "slot-float64",
        lambda a: a.update(slots=[s.astype(np.float64) for s in a["slots"]]),
        r"slots\[0\] must be float32, got unsupported",
    ),
    (
        "slot-big-endian",
        lambda a: a.update(slots=[s.astype(">f4") for s in a["slots"]]),
        r"slots\[0\] is big-endian",
    ),
    (
        "slot-is-table",
        lambda a: a.update(slots=[a["table"], a["slots"][1]]),
        r"table and slots\[0\] share memory",
    ),
    (
        "slots-same-array",
        lambda a: a.update(slots=[a["slots"][0], a["slots"][0]]),
        r"slots\[0\] and slots\[1\] share memory",
    ),
    ("slots-not-list", lambda a: a.update(slots=a["slots"][0]), r"slots must be a list"),
    ("kind-unknown", lambda a: a.update(kind="adam"), r"kind must be one of"),
    (
        "unique-string",
        lambda a: a.update(indices_unique="no"),
        r"indices_unique must be True or False",
    ),
]:
    err(f"sparse_apply/lazy_adam-{label}", untouched("lazy_adam", mutate), match)
