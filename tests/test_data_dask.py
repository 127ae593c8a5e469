"""prepare_sequences_dask against the in-memory prepare_sequences: the same item
mapping, counts and examples, from Dask frames, CSV and Parquet directories,
read back raw and through ydnn.Loader; edge cases and bad arguments."""

import glob
import os
import sys

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import ydnn
from ydnn.data import PreparedSequences, prepare_sequences, prepare_sequences_dask
from ydnn.schema import ColumnSchema

H = 5


@pytest.fixture(scope="module")
def log():
    """A shuffled synthetic log with coarse times (many ties within a user),
    users below the minimum (dropped, with items only they had) and one at it."""
    base = ydnn.data.generate_interactions(
        num_users=150, num_items=240, num_interactions=3000, seed=3
    )
    base["timestamp"] //= 20_000
    few = pd.DataFrame(
        {
            "user_id": [9001, 9001, 9002, 9003, 9003, 9003],
            "item_id": [7001, 7002, 7001, 7003, 7004, 7003],
            "timestamp": [1, 2, 3, 1, 1, 1],
        }
    )
    return pd.concat([base, few]).sample(frac=1, random_state=0).reset_index(drop=True)


def read_split(path):
    """A split's rows from its Parquet files, in the in-memory order."""
    files = sorted(glob.glob(os.path.join(path, "*.parquet")))
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    return frame.sort_values(["user", "position"], kind="stable").reset_index(drop=True)


def padded(lists, width):
    out = np.zeros((len(lists), width), np.int32)
    for r, row in enumerate(lists):
        out[r, : len(row)] = row
    return out


def assert_same(prepared, data):
    assert prepared.num_items == data.num_items
    assert prepared.max_history == data.max_history
    assert list(prepared.item_ids[1:]) == list(data.item_ids[1:])
    assert list(prepared.user_ids) == list(data.user_ids)
    np.testing.assert_array_equal(prepared.item_counts, data.item_counts)
    np.testing.assert_array_equal(prepared.train_item_counts, data.train_item_counts)
    assert prepared.num_train == len(data.train)
    lengths = np.diff(data.sequence_indptr)
    for split, examples in (("train", data.train), ("test", data.test)):
        rows = read_split(prepared.split_path(split))
        assert len(rows) == len(examples)
        np.testing.assert_array_equal(rows["user"], examples.user)
        np.testing.assert_array_equal(rows["target"], examples.target)
        np.testing.assert_array_equal(rows["item_id"].map(len), examples.lengths)
        np.testing.assert_array_equal(padded(rows["item_id"], data.max_history), examples.history)
    test = read_split(prepared.split_path("test"))
    np.testing.assert_array_equal(test["position"], lengths - 1)
    for u, seen in enumerate(test["seen_items"]):
        np.testing.assert_array_equal(seen, data.seen(u))
    train = read_split(prepared.split_path("train"))
    expected = np.concatenate([np.arange(1, n - 1) for n in lengths])
    np.testing.assert_array_equal(train["position"], expected)


def run(source, out, **kwargs):
    kwargs.setdefault("max_history", H)
    return prepare_sequences_dask(source, str(out), **kwargs)


@pytest.mark.parametrize("source_parts,npartitions", [(5, 3), (1, 1), (4, None)])
def test_dask_frame_equals_in_memory(log, tmp_path, source_parts, npartitions):
    frame = dd.from_pandas(log, npartitions=source_parts, sort=False)
    prepared = run(frame, tmp_path / "out", npartitions=npartitions)
    assert_same(prepared, prepare_sequences(log, max_history=H))
    expected = npartitions or source_parts
    assert len(glob.glob(str(tmp_path / "out" / "test" / "*.parquet"))) <= expected


def test_csv_and_parquet_directories_equal_in_memory(log, tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "pq").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(log)), 3)):
        part = log.iloc[rows]
        part.to_csv(tmp_path / "csv" / f"log{i}.csv", index=False)
        part.to_parquet(tmp_path / "pq" / f"log{i}.parquet")
    data = prepare_sequences(log, max_history=H)
    assert_same(run(tmp_path / "csv", tmp_path / "from_csv"), data)
    assert_same(run(tmp_path / "pq", tmp_path / "from_pq", npartitions=4), data)
    assert_same(run(str(tmp_path / "pq" / "log*.parquet"), tmp_path / "from_glob"), data)


def test_string_ids_datetimes_and_a_separator(tmp_path):
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 600)
    frame = pd.DataFrame(
        {
            "who": [f"u{u}" for u in users],
            "what": [f"item{i}" for i in rng.zipf(1.6, 600) % 90],
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 50, 600), "D"),
        }
    )
    cols = dict(user_col="who", item_col="what", time_col="when")
    frame.to_csv(tmp_path / "log.tsv", sep="\t", index=False)
    data = prepare_sequences(frame, max_history=H, min_interactions=4, **cols)
    source = dd.read_csv(str(tmp_path / "log.tsv"), sep="\t", parse_dates=["when"])
    prepared = run(source.repartition(npartitions=3), tmp_path / "out", min_interactions=4, **cols)
    assert_same(prepared, data)
    assert prepared.item_ids[1] == data.item_ids[1] and isinstance(prepared.item_ids[1], str)


def test_time_ties_break_by_original_item_id(tmp_path):
    # User 1's items 30 and 10 share t=5: 10 comes first, whatever the frequency.
    log = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2, 2, 2],
            "item_id": [30, 10, 20, 30, 30, 30, 20],
            "timestamp": [5, 5, 1, 9, 1, 2, 3],
        }
    )
    prepared = run(dd.from_pandas(log, npartitions=2, sort=False), tmp_path / "out")
    assert list(prepared.item_ids[1:]) == [30, 20, 10]  # counts 4, 2, 1
    test = read_split(prepared.split_path("test"))
    assert list(test["item_id"][0]) == [2, 3, 1] and test["target"][0] == 1
    assert_same(prepared, prepare_sequences(log, max_history=H))


def test_more_partitions_than_users(tmp_path):
    log = pd.DataFrame(
        {"user_id": np.repeat([4, 8], 4), "item_id": [1, 2, 3, 4, 4, 3, 2, 9], "timestamp": 0}
    )
    prepared = run(log, tmp_path / "out", npartitions=16)
    assert_same(prepared, prepare_sequences(log, max_history=H))
    assert len(glob.glob(str(tmp_path / "out" / "train" / "*.parquet"))) == 2


def test_loader_reads_the_same_examples(log, tmp_path):
    prepared = run(dd.from_pandas(log, npartitions=3, sort=False), tmp_path / "out")
    data = prepare_sequences(log, max_history=H)
    for split, examples in (("train", data.train), ("test", data.test)):
        dataset = prepared.dataset(split)
        assert dataset.schema == prepared.schema()
        extra = [ColumnSchema(n, "int32") for n in ("user", "position")]
        dataset.schema = ydnn.Schema([*dataset.schema, *extra])
        loader = ydnn.Loader(dataset, batch_size=256, shuffle=False, lists="padded")
        batches = list(loader)
        got = {k: np.concatenate([x[k].numpy() for x, _ in batches]) for k in batches[0][0]}
        target = np.concatenate([y.numpy() for _, y in batches])
        order = np.lexsort((got["position"], got["user"]))
        np.testing.assert_array_equal(got["item_id"][order], examples.history)
        np.testing.assert_array_equal(target[order], examples.target)
        np.testing.assert_array_equal(got["user"][order], examples.user)


def test_output_is_written_whole_or_not_at_all(log, tmp_path):
    out = tmp_path / "out"
    run(log, out)
    with pytest.raises(ValueError, match="not empty.*overwrite"):
        run(log, out)
    bad = log.astype({"item_id": "float64"})
    bad.loc[7, "item_id"] = np.nan
    with pytest.raises(ValueError, match="column 'item_id' has 1 missing values"):
        run(bad, out, overwrite=True)
    assert PreparedSequences.read(out).max_history == H  # the old one, whole
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temporary left
    assert run(log, out, overwrite=True, max_history=2).max_history == 2


def no_rows(tmp_path):
    (tmp_path / "empty.csv").write_text("user_id,item_id,timestamp\n")
    return tmp_path / "empty.csv"


def mixed(tmp_path):
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("a\n1\n")
    return [tmp_path / "a.parquet", tmp_path / "b.csv"]


def empty_dir(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.md").write_text("x")
    return tmp_path / "d"


BAD = [
    (dict(max_history=0), ValueError, "max_history must be an integer >= 1, got 0"),
    (dict(min_interactions=1), ValueError, "min_interactions must be an integer >= 2, got 1"),
    (dict(npartitions=0), ValueError, "npartitions must be None or an integer >= 1, got 0"),
    (dict(npartitions=True), ValueError, "npartitions .* got True"),
    (dict(overwrite="yes"), ValueError, "overwrite must be a bool, got 'yes'"),
    (dict(output_dir=3), ValueError, "output_dir must be a directory path, got 3"),
    (dict(sep=""), ValueError, "sep must be a non-empty str, got ''"),
    (dict(item_col="user_id"), ValueError, "three different columns"),
    (dict(user_col="userId"), ValueError, r"no column\(s\) \['userId'\]; its columns are"),
    (dict(min_interactions=500), ValueError, "no user has at least 500 interactions"),
    (dict(source=42), ValueError, "source must be a Dask or pandas DataFrame.* got int 42"),
    (dict(source="nope.csv"), FileNotFoundError, "'nope.csv' does not exist"),
    (dict(source="nope/*.csv"), FileNotFoundError, "'nope/\\*.csv' matches no file"),
    (dict(source=no_rows), ValueError, "has no rows"),
    (dict(source=mixed), ValueError, "mixes Parquet and other files"),
    (dict(source=empty_dir), ValueError, "directory without Parquet or CSV files"),
]


@pytest.mark.parametrize("kwargs,error,match", BAD, ids=[str(list(b[0])) for b in BAD])
def test_bad_arguments_are_named(log, tmp_path, kwargs, error, match):
    kwargs = dict(kwargs)
    source = kwargs.pop("source", log)
    source = source(tmp_path) if callable(source) else source
    out = kwargs.pop("output_dir", str(tmp_path / "out"))
    with pytest.raises(error, match=match):
        prepare_sequences_dask(source, out, **kwargs)
    assert not os.path.exists(tmp_path / "out")


def test_bad_times_are_refused_before_reading(log, tmp_path):
    frame = dd.from_pandas(log.astype({"timestamp": str}), npartitions=2)
    with pytest.raises(ValueError, match="time column 'timestamp' must be numeric or datetime"):
        run(frame, tmp_path / "out")


def test_in_memory_path_points_a_dask_frame_to_the_dask_path(log):
    with pytest.raises(ValueError, match=r"prepare_sequences_dask\(source, output_dir"):
        prepare_sequences(dd.from_pandas(log, npartitions=2))


def test_without_dask_the_error_says_what_to_install(log, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r'pip install "dask\[dataframe\]"'):
        run(log, tmp_path / "out")


def test_read_refuses_other_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory written by"):
        PreparedSequences.read(tmp_path)
