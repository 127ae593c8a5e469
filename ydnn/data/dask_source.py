"""The interaction log as a Dask DataFrame, for `prepare_sequences_dask`.

A source is a Dask or pandas DataFrame, or files: a Parquet or CSV file, a
directory of them, a glob or a list of paths. The columns are checked from
the frame's metadata, before any pass over the rows. Dask is imported only
here, when the Dask path runs, so `ydnn.data` imports without it.
"""

import glob
import os
from typing import Any

import pandas as pd

from ydnn.data.interactions import _times

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
NO_ROWS = "interaction log has no rows: give a log with one row per interaction"


def import_dask() -> tuple[Any, Any]:
    """`(dask, dask.dataframe)`, or an ImportError saying what to install."""
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise ImportError(
            'prepare_sequences_dask needs Dask: pip install "dask[dataframe]" '
            '(or pip install "ydnn[scale]")'
        ) from None
    return dask, dd


def as_frame(dd: Any, source: Any, cols: list[str], sep: str, npartitions: int | None) -> Any:
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


def check_times(frame: Any, time_col: str) -> None:
    """Refuses a time column that cannot sort, from the frame's metadata (before any pass)."""
    try:
        _times(frame._meta[time_col], time_col)
    except ValueError:
        # A header-only CSV reads as strings: its fault is having no rows.
        if not len(frame.head(1, npartitions=-1)):
            raise ValueError(NO_ROWS) from None
        raise
