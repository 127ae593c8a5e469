"""ydnn.Dataset and ydnn.Loader: every row once per epoch, Merlin's schema discovery, errors."""

import os
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

import ydnn as mm
from tests.merlin.fixtures import (
    SCHEMAS,
    loader_rows,
    sequence_testing_frame,
    write_sequence_testing,
)
from ydnn import ColumnSchema, Schema, Tags
from ydnn.io.columns import Ragged


def _expected(frame):
    return sorted(
        (int(u), tuple(int(i) for i in s))
        for u, s in zip(frame["test_user_id"], frame["item_id_seq"])
    )


@pytest.mark.parametrize("shuffle_rows", [1, 10, 1 << 20])
def test_an_epoch_yields_every_row_once(data_dir, shuffle_rows):
    data = mm.Dataset(data_dir)
    assert data.num_rows == 103 and data.npartitions == 3 * 5  # 35/34/34 rows, row groups of 7
    loader = mm.Loader(data, batch_size=10, seed=5, shuffle_rows=shuffle_rows)
    first, sizes = loader_rows(loader)
    assert sizes == [10] * 10 + [3] and len(loader) == 11
    assert sorted(first) == _expected(sequence_testing_frame(103))
    second, _ = loader_rows(loader)
    assert sorted(second) == sorted(first) and second != first, "a new order each epoch"
    again, _ = loader_rows(mm.Loader(data, batch_size=10, seed=5, shuffle_rows=shuffle_rows))
    assert again == first, "the same seed gives the same order"


def test_unshuffled_order_is_the_files_order_and_drop_last(data_dir):
    data = mm.Dataset(data_dir)
    rows, sizes = loader_rows(mm.Loader(data, batch_size=10, shuffle=False, drop_last=True))
    frame = sequence_testing_frame(103)
    assert sizes == [10] * 10
    assert rows == [
        (int(u), tuple(int(i) for i in s))
        for u, s in zip(frame["test_user_id"][:100], frame["item_id_seq"][:100])
    ]
    assert len(mm.Loader(data, batch_size=10, drop_last=True)) == 10


def test_padded_lists_and_dtypes(data_dir):
    data = mm.Dataset(data_dir)
    batch, targets = mm.Loader(data, batch_size=8, shuffle=False, lists="padded").peek()
    assert targets is None  # Merlin's (features, targets) with no target column
    items = batch["item_id_seq"].numpy()
    assert items.shape == (8, 4) and items.dtype == np.int64  # value_count max 4
    frame = sequence_testing_frame(103)
    for row, want in zip(items, frame["item_id_seq"][:8]):
        np.testing.assert_array_equal(row[: len(want)], want)
        assert (row[len(want) :] == 0).all()
    assert batch["user_age"].dtype == tf.float32 and batch["user_age"].shape == (8,)
    assert batch["item_age_days_norm"].dtype == tf.float32
    ragged = mm.Loader(data, batch_size=8, shuffle=False).peek()[0]["item_id_seq"]
    assert isinstance(ragged, tf.RaggedTensor)
    assert ragged.to_list() == [list(s) for s in frame["item_id_seq"][:8]]


def test_schema_discovery_follows_merlin(tmp_path):
    d = write_sequence_testing(str(tmp_path / "d"), "pbtxt")
    assert mm.Dataset(d).schema == Schema.read(os.path.join(SCHEMAS, "schema.pbtxt"))
    # .merlin/schema.json wins over schema.pbtxt, as in Merlin's Dataset
    os.makedirs(os.path.join(d, ".merlin"))
    small = Schema.read(os.path.join(SCHEMAS, "schema.json")).select_by_name(
        "test_user_id", "item_id_seq"
    )
    small.write(os.path.join(d, ".merlin", "schema.json"))
    assert mm.Dataset(d).schema.column_names == ["test_user_id", "item_id_seq"]
    # a list of files finds the schema beside them; an explicit schema wins
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".parquet"))
    assert mm.Dataset(files).schema.column_names == ["test_user_id", "item_id_seq"]
    given = mm.Dataset(files, schema=os.path.join(SCHEMAS, "schema.pbtxt"))
    assert len(given.schema) == 10
    # no schema file: inferred from the types, untagged
    shutil.rmtree(os.path.join(d, ".merlin"))
    os.remove(os.path.join(d, "schema.pbtxt"))
    inferred = mm.Dataset(d).schema
    assert inferred["item_id_seq"].is_list and inferred["item_id_seq"].dtype == "int64"
    assert inferred["user_age"].dtype == "float32" and not inferred["user_age"].tags


def test_schema_is_settable_and_only_its_columns_are_read(data_dir):
    data = mm.Dataset(data_dir)
    data.schema = data.schema.select_by_name("test_user_id", "item_id_seq")
    loader = mm.Loader(data, batch_size=4)
    assert sorted(loader.peek()[0]) == ["item_id_seq", "test_user_id"]
    data.schema = data.schema.select_by_name("item_id_seq")  # the loader reads the schema now
    assert sorted(loader.peek()[0]) == ["item_id_seq"]
    with pytest.raises(ValueError, match=r"schema columns \['nope'\] are not in the data"):
        data.schema = data.schema + Schema([ColumnSchema("nope", "int64")])
    with pytest.raises(ValueError, match="column 'user_age': the schema says a list but"):
        data.schema = Schema([ColumnSchema("user_age", "float32", is_list=True)])


def test_target_columns_come_out_as_targets(tmp_path):
    frame = pd.DataFrame({"user": [1, 2, 3], "item_id": [5, 6, 7]})
    schema = Schema(
        [
            ColumnSchema("user", "int64", [Tags.USER_ID], int_domain=(0, 3)),
            ColumnSchema("item_id", "int64", [Tags.ITEM_ID, Tags.TARGET], int_domain=(0, 9)),
        ]
    )
    x, y = mm.Loader(mm.Dataset(frame, schema=schema), batch_size=3, shuffle=False).peek()
    assert sorted(x) == ["user"]
    np.testing.assert_array_equal(y.numpy(), [5, 6, 7])


def test_a_dataframe_dataset_and_compute(data_dir):
    frame = sequence_testing_frame(20)
    data = mm.Dataset(frame, schema=mm.Dataset(data_dir).schema)
    assert data.num_rows == 20
    rows, _ = loader_rows(mm.Loader(data, batch_size=6, seed=0))
    assert sorted(rows) == _expected(frame)
    computed = mm.Dataset(data_dir).compute()
    assert len(computed) == 103 and list(computed["item_id_seq"][0]) == list(
        sequence_testing_frame(103)["item_id_seq"][0]
    )


def test_ragged_take_equals_python():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 5, 50)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    col = Ragged(rng.integers(0, 100, offsets[-1]), offsets)
    rows = rng.permutation(50)[:30]
    got = col.take(rows)
    want = [col.values[offsets[r] : offsets[r + 1]].tolist() for r in rows]
    assert [got.values[got.offsets[i] : got.offsets[i + 1]].tolist() for i in range(30)] == want
    part = col.slice(10, 20)
    assert part.offsets[0] == 0 and len(part) == 10
    assert part.values.tolist() == col.values[offsets[10] : offsets[20]].tolist()


def _write(path, table):
    pq.write_table(table, path)
    return path


def test_bad_data_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no \\*.parquet files"):
        mm.Dataset(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such Parquet file"):
        mm.Dataset([str(tmp_path / "missing.parquet")])
    with pytest.raises(ValueError, match="path_or_source must be"):
        mm.Dataset(42)
    with pytest.raises(ValueError, match="engine must be 'parquet'"):
        mm.Dataset(pd.DataFrame({"a": [1]}), engine="csv")
    bad = _write(
        str(tmp_path / "bad.parquet"), pa.table({"a": pa.array([1, None, 3]), "b": [1, 2, 3]})
    )
    with pytest.raises(ValueError, match="column 'a' of .*bad.parquet' has 1 null values"):
        mm.Dataset(bad)
    assert mm.Dataset(bad, schema=Schema([ColumnSchema("b", "int64")])).num_rows == 3
    # A list column's statistics count empty lists with nulls: empty lists
    # are valid (a user with no history), a null inside a list is found as
    # its rows are read.
    empty = _write(str(tmp_path / "empty.parquet"), pa.table({"a": [[1, 2], [], [3]]}))
    assert mm.Dataset(empty).compute()["a"].map(len).tolist() == [2, 0, 1]
    holes = _write(str(tmp_path / "holes.parquet"), pa.table({"a": [[1], [2, None]]}))
    with pytest.raises(Exception, match="column 'a' of .*holes.parquet' has 1 null list entries"):
        mm.Loader(mm.Dataset(holes), batch_size=2).peek()
    frame = pd.DataFrame({"a": [[1], [2, None]], "b": [1.0, None]})
    with pytest.raises(ValueError, match="column 'b' of the DataFrame has 1 null values"):
        mm.Dataset(frame, schema=Schema([ColumnSchema("b", "float32")]))
    with pytest.raises(ValueError, match="column 'a' of the DataFrame has 1 null values"):
        mm.Dataset(frame, schema=Schema([ColumnSchema("a", "float32", is_list=True)]))
    # a file written without statistics: the null is found when its rows are read
    pq.write_table(pa.table({"a": pa.array([1, None, 3])}), bad, write_statistics=False)

    with pytest.raises(Exception, match="column 'a' of .*bad.parquet' has 1 null rows"):
        mm.Loader(mm.Dataset(bad), batch_size=2).peek()
    strings = _write(str(tmp_path / "s.parquet"), pa.table({"a": ["x", "y"]}))
    with pytest.raises(
        ValueError, match="column 'a' .* holds strings, .*: encode it to integer ids"
    ):
        mm.Dataset(strings, schema=Schema([ColumnSchema("a", "int64")]))
    other = tmp_path / "two"
    other.mkdir()
    _write(str(other / "a.parquet"), pa.table({"a": [1, 2]}))
    _write(str(other / "b.parquet"), pa.table({"a": [1.5, 2.5]}))
    with pytest.raises(ValueError, match="every file of a dataset must have the same columns"):
        mm.Dataset(str(other))
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(ValueError, match="is not a readable Parquet file"):
        mm.Dataset(str(not_parquet))


def test_bad_loader_arguments(data_dir):
    data = mm.Dataset(data_dir)
    with pytest.raises(ValueError, match="dataset must be a ydnn.Dataset"):
        mm.Loader(4.5, batch_size=4)
    assert len(mm.Loader(data_dir, batch_size=4)) == 26  # a path, as Merlin's Loader takes
    for kwargs, message in [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(batch_size=4, shuffle=1), "shuffle"),
        (dict(batch_size=4, lists="dense"), "lists must be one of"),
        (dict(batch_size=4, seed=-1), "seed"),
    ]:
        with pytest.raises(ValueError, match=message):
            mm.Loader(data, **kwargs)
    with pytest.raises(ValueError, match="map takes a callable"):
        mm.Loader(data, batch_size=4).map(3)


def test_a_list_longer_than_the_schema_says_is_an_error_when_padded(tmp_path):
    frame = pd.DataFrame({"item_id": [[1, 2, 3], [4]]})
    schema = Schema(
        [
            ColumnSchema(
                "item_id",
                "int64",
                [Tags.ITEM_ID],
                is_list=True,
                is_ragged=True,
                int_domain=(0, 9),
                properties={"value_count": {"min": 1, "max": 2}},
            )
        ]
    )
    loader = mm.Loader(mm.Dataset(frame, schema=schema), batch_size=2, lists="padded")
    with pytest.raises(Exception, match="'item_id' has a list of 3 values but the schema"):
        loader.peek()


def test_fit_takes_a_dataset_and_refuses_y_beside_a_loader(data_dir):
    data = mm.Dataset(data_dir)
    data.schema = data.schema.remove_by_tag(Tags.CONTINUOUS)
    model = mm.YoutubeDNNRetrievalModelV2(
        schema=data.schema, top_block=mm.MLPBlock([32]), num_sampled=20
    )
    model.compile()
    pre = mm.SequencePredictLast(schema=data.schema)
    history = model.fit(data, batch_size=40, epochs=1, pre=pre, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="leave y unset"):
        model.fit(mm.Loader(data, batch_size=4), np.zeros(3), pre=pre)
    with pytest.raises(ValueError, match="pre must be a callable"):
        model.fit(mm.Loader(data, batch_size=4), pre=3)
    with pytest.raises(ValueError, match="pre= needs batched data"):
        model.fit({"item_id_seq": np.ones((2, 2), np.int64)}, pre=pre)
    assert model.evaluate(data, batch_size=50, pre=pre, return_dict=True, verbose=0)["loss"] > 0
