"""Leave-last-out preparation: exact outputs on hand-made logs, and numba vs a
pure-Python reference of the protocol on random logs."""

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

from ydnn.data import prepare_sequences, read_interactions

# MovieLens ml-latest-small's ratings, when present: $YDNN_MOVIELENS, else the
# shared data folder beside the checkout (where CI lays it).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATINGS = os.environ.get("YDNN_MOVIELENS") or os.path.join(
    os.path.dirname(ROOT), "shared", "data", "ml-latest-small", "ratings.csv"
)


def reference_protocol(users, items, times, max_history, min_interactions=3):
    """The protocol in plain Python, written from its statement."""
    per_user = {}
    for u, i, t in zip(users, items, times):
        per_user.setdefault(u, []).append((t, i))
    kept = {u: rows for u, rows in per_user.items() if len(rows) >= min_interactions}
    counts = {}
    for rows in kept.values():
        for _, i in rows:
            counts[i] = counts.get(i, 0) + 1
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    new_id = {i: r + 1 for r, i in enumerate(ranked)}
    train, test, seen = [], [], []
    for ui, u in enumerate(sorted(kept)):
        seq = [new_id[i] for _, i in sorted(kept[u])]  # by time, ties by item id
        for t in range(1, len(seq)):
            row = (seq[max(0, t - max_history) : t], seq[t], ui)
            (test if t == len(seq) - 1 else train).append(row)
        seen.append(sorted(set(seq[:-1])))
    return ranked, sorted(kept), train, test, seen, counts


def rows_of(examples):
    return [
        (
            list(examples.history[r, : examples.lengths[r]]),
            int(examples.target[r]),
            int(examples.user[r]),
        )
        for r in range(len(examples))
    ]


def hand_log():
    # user 1: two items at t=1 (tie -> item 10 before 20); user 2 has only two
    # interactions (dropped, and item 50 with it); user 3 repeats item 20.
    return pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3],
            "item_id": [30, 10, 20, 40, 20, 50, 20, 30, 10, 60, 20],
            "timestamp": [3, 1, 1, 5, 7, 2, 1, 2, 3, 4, 5],
        }
    )


def test_hand_made_log_exact():
    data = prepare_sequences(hand_log(), max_history=2)
    # Counts over kept users: 20:3, 10:2, 30:2, 40:1, 60:1 (ties by original id).
    assert list(data.item_ids[1:]) == [20, 10, 30, 40, 60]
    assert data.num_items == 5 and list(data.user_ids) == [1, 3]
    assert list(data.item_counts) == [0, 3, 2, 2, 1, 1]
    assert list(data.train_item_counts) == [0, 2, 2, 2, 0, 1]  # minus targets 4 and 1
    # user 1: 10,20,30,40 -> 2,1,3,4 ; user 3: 20,30,10,60,20 -> 1,3,2,5,1
    assert list(data.sequence_items) == [2, 1, 3, 4, 1, 3, 2, 5, 1]
    assert list(data.sequence_indptr) == [0, 4, 9]
    assert rows_of(data.train) == [
        ([2], 1, 0),
        ([2, 1], 3, 0),
        ([1], 3, 1),
        ([1, 3], 2, 1),
        ([3, 2], 5, 1),
    ]
    assert rows_of(data.test) == [([1, 3], 4, 0), ([2, 5], 1, 1)]
    assert data.train.history.dtype == np.int32 and data.train.history.shape == (5, 2)
    assert (data.train.history[0] == [2, 0]).all()  # right-padded with 0
    assert list(data.seen(0)) == [1, 2, 3] and list(data.seen(1)) == [1, 2, 3, 5]
    assert list(data.decode_items([1, 5, 2])) == [20, 60, 10]
    assert list(data.encode_items([60, 20])) == [5, 1]
    assert list(data.encode_items([50, 40], unknown=0)) == [0, 4]
    assert data.user_index(3) == 1
    assert data.seen_mask([1])[0].nonzero()[0].tolist() == [1, 2, 3, 5]
    assert data.summary() == {
        "users": 2,
        "items": 5,
        "train_examples": 5,
        "test_examples": 2,
        "interactions": 9,
        "max_history": 2,
    }


def test_mapping_errors():
    data = prepare_sequences(hand_log(), max_history=2)
    with pytest.raises(ValueError, match="item 50 is not in the prepared log"):
        data.encode_items([20, 50])
    with pytest.raises(ValueError, match=r"item ids must be in 1..5, got 0"):
        data.decode_items([0])
    with pytest.raises(KeyError, match="user 2 is not in the prepared data"):
        data.user_index(2)


def test_max_history_truncation_keeps_the_latest_items():
    log = pd.DataFrame(
        {"user_id": [7] * 6, "item_id": [1, 2, 3, 4, 5, 6], "timestamp": [60, 50, 40, 30, 20, 10]}
    )  # reverse time
    data = prepare_sequences(log, max_history=3)

    def dec(ids):
        return [int(x) for x in data.decode_items(np.asarray(ids))]

    h = data.test.history[0, : data.test.lengths[0]]
    assert dec(h) == [4, 3, 2] and dec([data.test.target[0]]) == [1]
    assert [len(r[0]) for r in rows_of(data.train)] == [1, 2, 3, 3]
    assert dec(data.train.history[3]) == [5, 4, 3] and dec([data.train.target[3]]) == [2]


def test_string_ids_datetimes_and_min_interactions():
    log = pd.DataFrame(
        {
            "u": ["b", "b", "a", "a", "a", "b"],
            "i": ["x", "y", "y", "z", "x", "z"],
            "t": pd.to_datetime(
                ["2024-01-02", "2024-01-01", "2024-01-01", "2024-01-01", "2024-01-03", "2024-01-03"]
            ),
        }
    )
    data = prepare_sequences(log, "u", "i", "t", max_history=5)
    assert list(data.user_ids) == ["a", "b"]
    assert list(data.item_ids[1:]) == ["x", "y", "z"] and data.item_ids[0] is None
    # a: y,z at the same time (tie by id: y, z), then x;  b: y, x, z.
    assert [
        list(data.decode_items(data.sequence_items[lo:hi]))
        for lo, hi in zip(data.sequence_indptr[:-1], data.sequence_indptr[1:])
    ] == [["y", "z", "x"], ["y", "x", "z"]]
    utc = log.assign(t=log.t.dt.tz_localize("Europe/Paris"))
    assert (prepare_sequences(utc, "u", "i", "t").sequence_items == data.sequence_items).all()
    two = prepare_sequences(log.iloc[[0, 1, 2, 3]], "u", "i", "t", min_interactions=2)
    assert len(two.test) == 2 and len(two.train) == 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_history", [1, 3, 50])
@pytest.mark.parametrize("num_users", [40, 3])  # 3: long histories (the argsort path)
def test_numba_matches_reference_on_random_logs(seed, max_history, num_users):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    users = rng.integers(0, num_users, n)
    items = rng.integers(100, 100 + int(rng.integers(5, 60)), n)
    times = rng.integers(0, 8, n)  # many ties in time
    if seed % 2:
        times = times.astype(np.float64) / 3.0
    ranked, kept, train, test, seen, counts = reference_protocol(users, items, times, max_history)
    data = prepare_sequences(
        pd.DataFrame({"user_id": users, "item_id": items, "timestamp": times}),
        max_history=max_history,
    )
    assert list(data.item_ids[1:]) == ranked
    assert list(data.user_ids) == kept
    assert rows_of(data.train) == train
    assert rows_of(data.test) == test
    assert [list(data.seen(u)) for u in range(data.num_users)] == seen
    assert list(data.item_counts[1:]) == [counts[i] for i in ranked]
    assert (np.diff(data.item_counts[1:]) <= 0).all()
    lengths = np.diff(data.sequence_indptr)
    assert lengths.min() >= 3 and len(data.train) == int((lengths - 2).sum())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_history=0), "max_history must be an integer >= 1"),
        (dict(max_history=2.5), "max_history"),
        (dict(min_interactions=1), "min_interactions must be an integer >= 2"),
        (dict(user_col="userId"), r"no column\(s\) \['userId'\]"),
    ],
)
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        prepare_sequences(hand_log(), **kwargs)


def test_data_errors():
    log = hand_log()
    with pytest.raises(ValueError, match="no user has at least 3 interactions"):
        prepare_sequences(log[log.user_id == 2])
    bad = log.astype({"item_id": float})
    bad.loc[0, "item_id"] = np.nan
    with pytest.raises(ValueError, match="column 'item_id' has 1 missing values"):
        prepare_sequences(bad)
    bad = log.astype({"timestamp": float})
    bad.loc[0, "timestamp"] = np.nan
    with pytest.raises(ValueError, match="time column 'timestamp' has 1 missing values"):
        prepare_sequences(bad)
    with pytest.raises(ValueError, match="time column 'timestamp' has 1 missing values"):
        prepare_sequences(log.astype({"timestamp": "Int64"}).mask(bad.isna()))
    with pytest.raises(ValueError, match="must be numeric or datetime"):
        prepare_sequences(log.astype({"timestamp": str}))


def test_csv_with_separator_and_missing_file(tmp_path):
    path = tmp_path / "log.tsv"
    hand_log().rename(columns={"user_id": "u"}).to_csv(path, sep="\t", index=False)
    data = prepare_sequences(str(path), user_col="u", sep="\t", max_history=2)
    assert rows_of(data.test) == [([1, 3], 4, 0), ([2, 5], 1, 1)]
    with pytest.raises(ValueError, match=r"no column\(s\) \['user_id'\].*separator '\\t'"):
        read_interactions(path, sep="\t")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_interactions(tmp_path / "nope.csv")


def test_parquet(tmp_path):
    path = tmp_path / "log.parquet"
    path.write_bytes(b"PAR1")  # only the extension matters to the dispatch
    if importlib.util.find_spec("pyarrow") is None:
        with pytest.raises(ImportError, match="needs pyarrow"):
            read_interactions(path)
        return
    hand_log().to_parquet(path)
    assert rows_of(prepare_sequences(path, max_history=2).test) == [([1, 3], 4, 0), ([2, 5], 1, 1)]


@pytest.mark.skipif(not os.path.exists(RATINGS), reason="MovieLens ml-latest-small not present")
def test_movielens_small_protocol_counts():
    data = prepare_sequences(RATINGS, "userId", "movieId", "timestamp", max_history=20)
    assert data.num_users == 610 and len(data.test) == 610
    assert data.num_items == 9724
    assert int(data.sequence_indptr[-1]) == 100836
    assert len(data.train) == 100836 - 2 * 610  # positions 1..n-2 per user
    assert data.train.lengths.max() == 20 and data.test.lengths.min() >= 2
    assert int(data.item_counts[1]) == 329  # Forrest Gump, rated 329 times
    assert data.decode_items([1])[0] == 356
    assert data.schema()["item_id"].vocabulary_size == 9725
