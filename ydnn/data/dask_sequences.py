"""Leave-last-out preparation of logs larger than memory, partition by partition with Dask.

`prepare_sequences_dask` gives the examples `prepare_sequences` gives (the
same item ids, rows and user indices) without ever holding the log, and
writes them as Parquet (`ydnn.data.prepared` describes the directory). Three
passes stream the source's partitions:

1. each user's interaction count, and the missing values of the columns;
2. item counts over the kept users' rows, hence the id mapping (decreasing
   count, ties by original id);
3. each kept row coded as (user index, item code, time) and shuffled by user
   index (Dask's hash shuffle: a user's rows meet in one partition); per
   partition the numba kernels of `prepare_sequences` sort each user's
   events by time (ties by original item id), build the examples, and the
   task writes them.

The driver holds the user and item tables, O(users + items); a task holds one
partition and its examples (`[rows, H]` int32). Tasks write their own files,
so on a distributed cluster `output_dir` must be on a file system every
worker sees. Dask is optional (`pip install "dask[dataframe]"`).
"""

import glob
import json
import os
from typing import Any

import numpy as np
import pandas as pd

from ydnn.atomic_dir import write_directory
from ydnn.data import _kernels
from ydnn.data.interactions import _times, check_protocol_args
from ydnn.data.prepared import (
    FILES,
    FORMAT,
    FORMAT_VERSION,
    ITEMS_FILE,
    META_FILE,
    USERS_FILE,
    PreparedSequences,
)
from ydnn.data.sequence_data import ITEM_COLUMN, TARGET_COLUMN, sequence_schema

# Rows per Parquet row group: the piece ydnn.Loader reads and shuffles by;
# its default 2^20-row shuffle buffer then mixes 16 pieces from anywhere.
ROW_GROUP_ROWS = 1 << 16
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
NO_ROWS = "interaction log has no rows: give a log with one row per interaction"


def prepare_sequences_dask(
    source: Any,
    output_dir: str | os.PathLike,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
    max_history: int = 20,
    min_interactions: int = 3,
    sep: str = ",",
    npartitions: int | None = None,
    overwrite: bool = False,
) -> PreparedSequences:
    """`prepare_sequences` for a log larger than memory: Parquet splits on disk.

    Runs on Dask's current scheduler (threads by default, or a
    `distributed.Client`'s cluster). The output directory is written whole or
    not at all (`ydnn.atomic_dir`).

    Args:
        source: a `dask.dataframe.DataFrame`, a `pandas.DataFrame`, or files:
            a Parquet or CSV file, a directory of them (Parquet datasets may
            be nested), a glob (`"logs/*.csv"`) or a list of paths.
        output_dir: the directory to write (see `ydnn.data.prepared`).
        user_col, item_col, time_col: column names in the source.
        max_history: `H`, the longest history window (>= 1).
        min_interactions: users with fewer interactions are dropped (>= 2).
        sep: CSV field separator.
        npartitions: partitions after the shuffle by user, so files per
            split (default: the source's partitions); each task holds one.
        overwrite: replace an existing prepared directory.

    Returns:
        `PreparedSequences`: the paths, sizes, item mapping and item counts.

    Raises:
        ImportError: Dask is not installed, saying what to install.
        FileNotFoundError: a source path that does not exist or matches nothing.
        ValueError: a bad argument (naming it and its value), a missing
            column, missing values, no rows or no user left, an output
            directory that cannot be written.

    Example:
    ```python
    prepared = ydnn.data.prepare_sequences_dask(
        "logs/*.parquet", "prepared/", user_col="userId", item_col="movieId"
    )
    loader = ydnn.Loader(prepared.dataset("train"), batch_size=1024)
    prepared.train_item_counts  # [N + 1] popularity for a baseline
    ```
    """
    check_protocol_args(max_history, min_interactions)
    cols = [user_col, item_col, time_col]
    _check_args(output_dir, cols, sep, npartitions, overwrite)
    dask, dd = _import_dask()
    frame = _as_frame(dd, source, cols, sep, npartitions)
    time_dtype = _time_dtype(frame, time_col)
    parts = npartitions or frame.npartitions

    def write(out):
        _prepare(dask, frame, out, cols, time_dtype, int(max_history), int(min_interactions), parts)

    write_directory(output_dir, write, overwrite, FILES, "prepared sequences")
    return PreparedSequences.read(output_dir)


def _check_args(output_dir, cols, sep, npartitions, overwrite):
    if not isinstance(output_dir, (str, os.PathLike)):
        raise ValueError(f"output_dir must be a directory path, got {output_dir!r}")
    for name, value in zip(("user_col", "item_col", "time_col"), cols):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a column name (a non-empty str), got {value!r}")
    if len(set(cols)) < 3:
        raise ValueError(
            f"user_col, item_col and time_col must name three different columns, got {cols}"
        )
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"sep must be a non-empty str, got {sep!r}")
    if npartitions is not None and (
        isinstance(npartitions, bool)
        or not isinstance(npartitions, (int, np.integer))
        or npartitions < 1
    ):
        raise ValueError(f"npartitions must be None or an integer >= 1, got {npartitions!r}")
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be a bool, got {overwrite!r}")


def _import_dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise ImportError(
            'prepare_sequences_dask needs Dask: pip install "dask[dataframe]" '
            '(or pip install "ydnn[scale]")'
        ) from None
    return dask, dd


# -- the source ---------------------------------------------------------------
def _as_frame(dd, source, cols, sep, npartitions):
    """The source as a Dask DataFrame of just `cols`, the columns checked."""
    if isinstance(source, dd.DataFrame):
        frame, where = source, "the Dask DataFrame"
    elif isinstance(source, pd.DataFrame):
        frame = dd.from_pandas(source, npartitions=npartitions or 1, sort=False)
        where = "the DataFrame"
    else:
        paths, kind = _source_files(source)
        if kind == "parquet":
            frame = dd.read_parquet(paths)
        else:
            frame = dd.read_csv(paths, sep=sep, engine="python" if len(sep) > 1 else "c")
        where = repr(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "the files"
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(
            f"interaction log {where} has no column(s) {missing}; its columns are "
            f"{list(frame.columns)}; set user_col, item_col, time_col (or sep) to match"
        )
    return frame[cols]


def _source_files(source):
    """`(paths, "parquet" | "csv")` named by a path, a directory, a glob or a list."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            return _directory_files(path)
        if os.path.isfile(path):
            files = [path]
        elif glob.has_magic(path):
            files = sorted(glob.glob(path))
            if not files:
                raise FileNotFoundError(f"source {path!r} matches no file")
        else:
            raise FileNotFoundError(f"interaction log {path!r} does not exist")
    elif (
        isinstance(source, (list, tuple))
        and source
        and all(isinstance(p, (str, os.PathLike)) for p in source)
    ):
        files = [os.fspath(p) for p in source]
        absent = [p for p in files if not os.path.isfile(p)]
        if absent:
            raise FileNotFoundError(f"no such interaction log file(s): {absent[:3]}")
    else:
        raise ValueError(
            f"source must be a Dask or pandas DataFrame, a path, a glob or a list of "
            f"paths, got {type(source).__name__} {source!r:.100}"
        )
    parquet = [f.lower().endswith(PARQUET_SUFFIXES) for f in files]
    if any(parquet) and not all(parquet):
        raise ValueError(f"source mixes Parquet and other files ({files[:3]}...): give one kind")
    return files, "parquet" if all(parquet) else "csv"


def _directory_files(path):
    names = [os.path.join(d, n) for d, _, ns in os.walk(path) for n in ns]
    if any(n.lower().endswith(PARQUET_SUFFIXES) for n in names):
        return path, "parquet"  # Dask reads a (possibly hive-partitioned) dataset directory
    csv = sorted(n for n in names if n.lower().endswith(CSV_SUFFIXES))
    if not csv:
        raise ValueError(
            f"interaction log {path!r} is a directory without Parquet or CSV files "
            f"({', '.join(CSV_SUFFIXES)}): give a directory, a glob or a list of them"
        )
    return csv, "csv"


def _time_dtype(frame, time_col):
    """The dtype the times sort as, from the frame's metadata (before any pass)."""
    try:
        return _times(frame._meta[time_col], time_col).dtype
    except ValueError:
        # A header-only CSV reads as strings: its fault is having no rows.
        if not len(frame.head(1, npartitions=-1)):
            raise ValueError(NO_ROWS) from None
        raise


# -- the passes ---------------------------------------------------------------
def _prepare(dask, frame, out, cols, time_dtype, max_history, min_interactions, parts):
    user_col, item_col, time_col = cols
    user_counts, nulls = dask.compute(frame[user_col].value_counts(), frame.isna().sum())
    rows = int(user_counts.sum()) + int(nulls[user_col])
    if not rows:
        raise ValueError(NO_ROWS)
    for name in cols:
        if nulls[name]:
            what = "time column" if name == time_col else "column"
            raise ValueError(
                f"{what} {name!r} has {int(nulls[name])} missing values: drop or fill those rows"
            )
    kept = user_counts[user_counts.to_numpy(dtype=np.int64) >= min_interactions]
    if not len(kept):
        raise ValueError(
            f"no user has at least {min_interactions} interactions "
            f"({len(user_counts)} users, {rows} rows)"
        )
    # Sorted ids: positions in them are prepare_sequences' user indices and
    # item codes (codes in original id order break the ties of both sorts).
    users = pd.Index(kept.index).sort_values()
    users_task = dask.delayed(users, pure=True)  # one graph key, not a copy per task
    item_counts = (
        frame.map_partitions(
            _kept_items, users_task, user_col, item_col, meta=frame._meta[item_col]
        )
        .value_counts()
        .compute()
    )
    items = pd.Index(item_counts.index).sort_values()
    counts = item_counts.reindex(items).to_numpy(dtype=np.int64)
    by_freq = np.lexsort((np.arange(len(counts)), -counts))
    new_id = np.empty(len(counts), np.int32)
    new_id[by_freq] = np.arange(1, len(counts) + 1, dtype=np.int32)

    meta = pd.DataFrame(
        {
            "user": np.zeros(0, np.int32),
            "item": np.zeros(0, np.int32),
            "time": np.zeros(0, time_dtype),
        }
    )
    coded = frame.map_partitions(
        _code_rows, users_task, dask.delayed(items, pure=True), cols, meta=meta
    )
    shuffled = coded.shuffle(on="user", npartitions=parts, ignore_index=True)
    for split in ("train", "test"):
        os.mkdir(os.path.join(out, split))
    new_id_task = dask.delayed(new_id, pure=True)
    written = dask.compute(
        *(
            dask.delayed(_write_partition)(part, i, new_id_task, max_history, out)
            for i, part in enumerate(shuffled.to_delayed())
        )
    )
    num_items = len(counts)
    item_counts_by_id = np.zeros(num_items + 1, np.int64)
    item_counts_by_id[1:] = counts[by_freq]
    test_targets = np.concatenate([targets for _, targets in written])
    held_out = np.bincount(test_targets, minlength=num_items + 1)
    _write_tables(out, items[by_freq], item_counts_by_id, held_out, users)
    for split in ("train", "test"):
        sequence_schema(num_items, max_history, ragged=True).write(os.path.join(out, split))
    meta_json = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "num_items": num_items,
        "num_users": len(users),
        "num_train": int(sum(n for n, _ in written)),
        "max_history": max_history,
        "min_interactions": min_interactions,
        "columns": {"user": user_col, "item": item_col, "time": time_col},
    }
    with open(os.path.join(out, META_FILE), "w") as f:
        json.dump(meta_json, f, indent=2)
        f.write("\n")


def _kept_items(part, users, user_col, item_col):
    return part[item_col][users.get_indexer(part[user_col]) >= 0]


def _code_rows(part, users, items, cols):
    """Kept rows as (user index int32, item code int32, time) for the shuffle."""
    user_col, item_col, time_col = cols
    user = users.get_indexer(part[user_col])
    keep = user >= 0
    kept = part[keep]
    return pd.DataFrame(
        {
            "user": user[keep].astype(np.int32),
            "item": items.get_indexer(kept[item_col]).astype(np.int32),
            "time": _times(kept[time_col], time_col),
        }
    )


def _write_partition(part, index, new_id, max_history, out):
    """The examples of one partition's users (whole users, after the shuffle),
    written as `train/part.K` and `test/part.K`; returns (train rows, test targets)."""
    if not len(part):
        return 0, np.zeros(0, np.int32)
    # Local user codes in global order, so rows come out by user index.
    user_ids, local = np.unique(part["user"].to_numpy(), return_inverse=True)
    seq, indptr = _kernels.group_by_user(
        local.astype(np.int64),
        part["item"].to_numpy().astype(np.int64),
        part["time"].to_numpy(),
        new_id,
        len(user_ids),
    )
    train, test = _kernels.build_examples(seq, indptr, max_history, _kernels.count_examples(indptr))
    seen_indptr, seen = _kernels.seen_before_last(seq, indptr)
    lengths = np.diff(indptr)
    per_user = np.maximum(lengths - 2, 0)
    position = np.arange(len(train[0])) - np.repeat(np.cumsum(per_user) - per_user, per_user) + 1
    name = f"part.{index:05d}.parquet"
    _write_examples(os.path.join(out, "train", name), train, user_ids, position)
    _write_examples(
        os.path.join(out, "test", name), test, user_ids, lengths - 1, (seen_indptr, seen)
    )
    return len(train[0]), test[2]


def _write_examples(path, examples, user_ids, position, seen=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    history, lengths, target, user = examples
    columns = {
        ITEM_COLUMN: _list_array(history[np.arange(history.shape[1]) < lengths[:, None]], lengths),
        TARGET_COLUMN: target,
        "user": user_ids[user].astype(np.int32),
        "position": position.astype(np.int32),
    }
    if seen is not None:
        indptr, items = seen
        columns["seen_items"] = _list_array(items, np.diff(indptr))
    pq.write_table(pa.table(columns), path, row_group_size=ROW_GROUP_ROWS)


def _list_array(values, lengths):
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(np.int32)))


def _write_tables(out, item_ids, item_counts, held_out, users):
    import pyarrow as pa
    import pyarrow.parquet as pq

    num_items = len(item_ids)
    items = {
        "id": np.arange(1, num_items + 1, dtype=np.int32),
        "item_id": pa.array(np.asarray(item_ids)),
        "count": item_counts[1:],
        "train_count": (item_counts - held_out)[1:],
    }
    pq.write_table(pa.table(items), os.path.join(out, ITEMS_FILE))
    table = {"user": np.arange(len(users), dtype=np.int32), "user_id": pa.array(np.asarray(users))}
    pq.write_table(pa.table(table), os.path.join(out, USERS_FILE))
