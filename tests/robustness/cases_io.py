"""Catalogue: the Merlin doors (ydnn.Dataset, ydnn.Loader, fit / evaluate with
pre=, the embedding exports) given bad files, bad schemas and bad arguments,
and valid edge cases (empty files, one-row datasets, batches larger than the
data). See catalogue.py.

Importing this module imports neither TensorFlow nor ydnn: every `run`
builds what it needs in a fresh temporary directory.
"""

import atexit
import os
import shutil
import tempfile

import numpy as np

from tests.robustness.catalogue import Case

# Every case's files live under one folder that the worker removes when it exits.
_ROOT = tempfile.mkdtemp(prefix="ydnn-io-cases-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def _mkdtemp():
    return tempfile.mkdtemp(dir=_ROOT)


def _dir(**columns):
    """A directory with one Parquet file of `columns` (lists of Python values)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _mkdtemp()
    pq.write_table(pa.table(columns), os.path.join(path, "part_0.parquet"))
    return path


def _schema(*columns):
    from ydnn import ColumnSchema, Schema

    return Schema([ColumnSchema(**c) for c in columns])


ITEMS = dict(
    name="item_id_seq",
    dtype="int64",
    tags=["item", "id", "categorical", "sequence"],
    is_list=True,
    is_ragged=True,
    int_domain=(0, 20),
)
USERS = dict(name="user_id", dtype="int64", tags=["user", "id", "categorical"], int_domain=(0, 9))


def _data(rows=6, schema=True, **extra):
    import ydnn

    columns = {
        "user_id": list(range(rows)),
        "item_id_seq": [[1 + i % 5, 2 + i % 7, 3] for i in range(rows)],
        **extra,
    }
    return ydnn.Dataset(_dir(**columns), schema=_schema(USERS, ITEMS) if schema else None)


def _loader(data=None, **kwargs):
    import ydnn

    kwargs.setdefault("batch_size", 4)
    return ydnn.Loader(data if data is not None else _data(), **kwargs)


def _model(data):
    import ydnn

    model = ydnn.YoutubeDNNRetrievalModelV2(
        data.schema, top_block=ydnn.MLPBlock([8]), num_sampled=5, min_sampled_id=1
    )
    model.compile()
    return model


def _pre(data):
    import ydnn

    return ydnn.SequencePredictLast(schema=data.schema)


def _fit(data=None, loader=None, **kwargs):
    data = data if data is not None else _data()
    model = _model(data)
    return model.fit(
        loader if loader is not None else _loader(data), pre=_pre(data), verbose=0, **kwargs
    ).history


def _rows(loader):
    return sum(int(x["user_id"].shape[0]) for x, _ in loader)


def _set_schema(data, schema):
    data.schema = schema
    return data


def _empty_file():
    import pyarrow as pa
    import pyarrow.parquet as pq

    import ydnn

    path = _mkdtemp()
    table = pa.table(
        {"user_id": pa.array([], pa.int64()), "item_id_seq": pa.array([], pa.list_(pa.int64()))}
    )
    pq.write_table(table, os.path.join(path, "part_0.parquet"))
    return ydnn.Dataset(path, schema=_schema(USERS, ITEMS))


def _is(value):
    def check(out):
        assert out == value, (out, value)

    return check


D = "io/Dataset"
L = "io/Loader"
F = "io/fit"
CASES = [
    # -- Dataset: paths, files, schemas --------------------------------------------
    Case(
        f"{D}/empty-directory",
        lambda: __import__("ydnn").Dataset(_mkdtemp()),
        raises=FileNotFoundError,
        match=r"no \*\.parquet files in directory",
    ),
    Case(
        f"{D}/missing-file",
        lambda: __import__("ydnn").Dataset(["/nonexistent/x.parquet"]),
        raises=FileNotFoundError,
        match=r"no such Parquet file\(s\): \['/nonexistent/x.parquet'\]",
    ),
    Case(
        f"{D}/int-path",
        lambda: __import__("ydnn").Dataset(3),
        raises=ValueError,
        match=r"path_or_source must be a directory, a Parquet file, .* got 3",
    ),
    Case(
        f"{D}/empty-list",
        lambda: __import__("ydnn").Dataset([]),
        raises=ValueError,
        match=r"path_or_source must be .* got \[\]",
    ),
    Case(
        f"{D}/engine-csv",
        lambda: __import__("ydnn").Dataset(_dir(a=[1]), engine="csv"),
        raises=ValueError,
        match=r"engine must be 'parquet' .* got 'csv'",
    ),
    Case(
        f"{D}/not-parquet",
        lambda: __import__("ydnn").Dataset(_write_text("x.parquet", "not a parquet file")),
        raises=ValueError,
        match=r"x.parquet' is not a readable Parquet file",
    ),
    Case(
        f"{D}/schema-not-a-schema",
        lambda: __import__("ydnn").Dataset(_dir(a=[1]), schema=3),
        raises=ValueError,
        match=r"schema must be a ydnn.Schema, got int",
    ),
    Case(
        f"{D}/schema-file-missing",
        lambda: __import__("ydnn").Dataset(_dir(a=[1]), schema="/nonexistent/schema.pbtxt"),
        raises=FileNotFoundError,
        match=r"/nonexistent/schema.pbtxt",
    ),
    Case(
        f"{D}/schema-column-missing",
        lambda: _set_schema(_data(), _schema(USERS, ITEMS, dict(name="gone", dtype="int64"))),
        raises=ValueError,
        match=r"schema columns \['gone'\] are not in the data .*excluding_by_name\(\['gone'\]\)",
    ),
    Case(
        f"{D}/schema-list-vs-scalar",
        lambda: _set_schema(_data(), _schema(dict(USERS, is_list=True, is_ragged=True))),
        raises=ValueError,
        match=r"column 'user_id': the schema says a list but .* holds scalars",
    ),
    Case(
        f"{D}/schema-scalar-vs-list",
        lambda: _set_schema(_data(), _schema(dict(ITEMS, is_list=False, is_ragged=False))),
        raises=ValueError,
        match=r"column 'item_id_seq': the schema says a scalar but .* holds lists",
    ),
    Case(
        f"{D}/strings",
        lambda: __import__("ydnn").Dataset(
            _dir(a=["x", "y"]), schema=_schema(dict(name="a", dtype="int64"))
        ),
        raises=ValueError,
        match=r"column 'a' of .* holds strings, .* encode it to integer ids first",
    ),
    Case(
        f"{D}/nested-lists",
        lambda: __import__("ydnn").Dataset(
            _dir(a=[[[1]], [[2, 3]]]), schema=_schema(dict(name="a", dtype="int64", is_list=True))
        ),
        raises=ValueError,
        match=r"column 'a' of .* holds list<element: int64>, which the loader cannot feed",
    ),
    Case(
        f"{D}/null-ids",
        lambda: _data(user_id=[0, None, 2, 3, 4, 5]),
        raises=ValueError,
        match=r"column 'user_id' of .* has 1 null values: fill or drop them",
    ),
    Case(
        f"{D}/null-list-entry",
        lambda: _rows(_loader(_data(item_id_seq=[[1], [2, None], [3], [4], [5], [6]]))),
        raises=Exception,
        match=r"column 'item_id_seq' of .* has 1 null list entries",
    ),
    Case(
        f"{D}/empty-lists-are-fine",
        lambda: _rows(_loader(_data(item_id_seq=[[1], [], [3], [], [5], [6]]))),
        check=_is(6),
    ),
    Case(
        f"{D}/uint64-beyond-int64",
        lambda: _rows(
            _loader(
                _data(user_id=__import__("pyarrow").array([0, 1, 2, 3, 4, 2**63 + 5], "uint64"))
            )
        ),
        raises=Exception,
        match=r"column 'user_id' of .* has id 9223372036854775813, beyond",
    ),
    Case(f"{D}/unused-null-column-is-fine", lambda: _data(other=[None] * 6).num_rows, check=_is(6)),
    Case(
        f"{D}/inferred-schema-untagged",
        lambda: _data(schema=False).schema["item_id_seq"].is_list,
        check=_is(True),
    ),
    Case(
        f"{D}/files-disagree",
        lambda: __import__("ydnn").Dataset(_two_files()),
        raises=ValueError,
        match=r"every file of a dataset must have the same columns and types",
    ),
    # -- Loader: arguments and edges ---------------------------------------------------
    Case(
        f"{L}/not-a-dataset",
        lambda: __import__("ydnn").Loader(3, 4),
        raises=ValueError,
        match=r"dataset must be a ydnn.Dataset .* or its path, got int",
    ),
    Case(
        f"{L}/path-that-is-not-there",
        lambda: __import__("ydnn").Loader("/nonexistent/", 4),
        raises=FileNotFoundError,
        match=r"no such Parquet file\(s\): \['/nonexistent/'\]",
    ),
    Case(
        f"{L}/batch-size-zero",
        lambda: _loader(batch_size=0),
        raises=ValueError,
        match=r"batch_size must be >= 1, got 0",
    ),
    Case(
        f"{L}/batch-size-float",
        lambda: _loader(batch_size=4.0),
        raises=ValueError,
        match=r"batch_size must be an integer, got float 4.0",
    ),
    Case(
        f"{L}/shuffle-int",
        lambda: _loader(shuffle=1),
        raises=ValueError,
        match=r"shuffle must be True or False, got int 1",
    ),
    Case(
        f"{L}/seed-negative",
        lambda: _loader(seed=-1),
        raises=ValueError,
        match=r"seed must be >= 0, got -1",
    ),
    Case(
        f"{L}/lists-dense",
        lambda: _loader(lists="dense"),
        raises=ValueError,
        match=r"lists must be one of \('ragged', 'padded'\), got 'dense'",
    ),
    Case(
        f"{L}/shuffle-rows-zero",
        lambda: _loader(shuffle_rows=0),
        raises=ValueError,
        match=r"shuffle_rows must be >= 1, got 0",
    ),
    Case(
        f"{L}/map-not-callable",
        lambda: _loader().map("x"),
        raises=ValueError,
        match=r"map takes a callable, got 'x'",
    ),
    Case(f"{L}/batch-larger-than-data", lambda: _rows(_loader(batch_size=100)), check=_is(6)),
    Case(
        f"{L}/drop-last-larger-than-data",
        lambda: len(_loader(batch_size=100, drop_last=True)),
        check=_is(0),
    ),
    Case(f"{L}/shuffle-rows-one", lambda: _rows(_loader(shuffle_rows=1)), check=_is(6)),
    Case(f"{L}/empty-file", lambda: _rows(_loader(_empty_file())), check=_is(0)),
    Case(
        f"{L}/padded-longer-than-value-count",
        lambda: _loader(
            __import__("ydnn").Dataset(
                _dir(a=[[1, 2, 3]]),
                schema=_schema(
                    dict(
                        name="a",
                        dtype="int64",
                        is_list=True,
                        properties={"value_count": {"max": 2}},
                    )
                ),
            ),
            lists="padded",
        ).peek(),
        raises=Exception,
        match=r"column 'a' has a list of 3 values but the schema's value_count max is 2",
    ),
    # -- fit / evaluate / embeddings ---------------------------------------------------
    Case(
        f"{F}/y-beside-a-loader",
        lambda: _model(_data()).fit(_loader(), np.zeros(3)),
        raises=ValueError,
        match=r"x is a ydnn Loader, which yields its own targets: leave y",
    ),
    Case(
        f"{F}/pre-not-callable",
        lambda: _model(_data()).fit(_loader(), pre=1),
        raises=ValueError,
        match=r"pre must be a callable .* got 1",
    ),
    Case(
        f"{F}/pre-on-arrays",
        lambda: _model(_data()).fit({"user_id": np.zeros(2, np.int64)}, pre=_pre(_data())),
        raises=ValueError,
        match=r"pre= needs batched data \(x as a ydnn.Loader, ydnn.Dataset or tf.data.Dataset\)",
    ),
    Case(
        f"{F}/no-targets",
        lambda: _model(_data()).fit(_loader(), verbose=0),
        raises=ValueError,
        match=r"the model trains on \(features, target ids\) pairs",
    ),
    Case(
        f"{F}/ids-out-of-domain",
        lambda: _fit(_data(item_id_seq=[[1, 50]] * 6)),
        raises=Exception,
        match=r"positive_ids\[0\] = 50 is outside \[0, 21\) \(the table has 21 rows\)",
    ),
    Case(
        f"{F}/one-id-rows-cannot-give-a-target-twice",
        lambda: _fit(loader=_loader(_data(item_id_seq=[[1]] * 6)).map(_pre(_data()))),
        raises=Exception,
        match=r"a row of \W*item_id_seq\W* has no ids to take a target from",
    ),
    Case(
        f"{F}/dataset-with-batch-size",
        lambda: len(
            _model(_data()).fit(_data(), batch_size=3, pre=_pre(_data()), verbose=0).history["loss"]
        ),
        check=_is(1),
    ),
    Case(
        f"{F}/query-embeddings-bad-index",
        lambda: _model(_data()).query_embeddings(_data(), index="nope"),
        raises=ValueError,
        match=r"index 'nope' is neither a column nor the tag of one column",
    ),
    Case(
        f"{F}/query-embeddings-rows",
        lambda: len(_model(_data()).query_embeddings(_data(), batch_size=4).compute()),
        check=_is(6),
    ),
    Case(
        f"{F}/candidate-embeddings-rows",
        lambda: _model(_data()).candidate_embeddings().compute().shape,
        check=_is((21, 8)),
    ),
    Case(
        f"{F}/targets-dict-without-the-item",
        lambda: _model(_data()).fit(
            _loader().map(lambda x: (x, {"a": x["user_id"], "b": x["user_id"]})), verbose=0
        ),
        raises=ValueError,
        match=r"the targets are a dict of \['a', 'b'\], none of them the item "
        r"column 'item_id_seq'",
    ),
]


def _write_text(name, text):
    path = os.path.join(_mkdtemp(), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _two_files():
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _mkdtemp()
    pq.write_table(pa.table({"a": [1, 2]}), os.path.join(path, "a.parquet"))
    pq.write_table(pa.table({"a": [1.5]}), os.path.join(path, "b.parquet"))
    return path
