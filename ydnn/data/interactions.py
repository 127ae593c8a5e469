"""From an interaction log to leave-last-out next-item training data.

Protocol (the one `ydnn train` and the benchmarks use):

1. drop users with fewer than `min_interactions` (3) interactions;
2. re-index items `1..N` by decreasing frequency over the kept log, ties by
   original id (0 is padding), keeping the mapping both ways;
3. sort each user's interactions by time, ties by original item id;
4. the user's last item is the test target, its history the up to
   `max_history` items before it; every earlier position `t >= 1` is a
   training example with the up to `max_history` items before it.

The hot loops are numba (see `_kernels.py`); dense integer ids are coded
through a lookup table, other ids (strings, sparse integers) through pandas'
hash table. A 10-million-row log (200k users, 620k items, random row order)
prepares in about 6 s on one core of a 2-core x86 server; memory is dominated by
the `[num_train, max_history]` int32 history (800 MB for 10M rows, H = 20).

Items seen only by dropped users are not in the catalog; item frequencies
count every kept interaction, held-out ones included (the id order is what
the log-uniform sampler assumes), while `SequenceData.train_item_counts`
leaves the held-out items out for baselines.
"""

import importlib.util
import os
from typing import Any

import numpy as np
import pandas as pd

from ydnn.data import _kernels
from ydnn.data.examples import Examples
from ydnn.data.sequence_data import SequenceData


def read_interactions(
    source: Any,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
    sep: str = ",",
) -> pd.DataFrame:
    """Load an interaction log as a DataFrame with the three columns.

    Args:
        source: a `pandas.DataFrame`, a CSV path (any `sep`), or a `.parquet`
            path / directory (needs `pyarrow`). A log larger than memory (or a
            Dask DataFrame) goes to `prepare_sequences_dask` instead.
        user_col, item_col, time_col: column names in the source.
        sep: CSV field separator (`"\\t"`, `"::"`, ...).

    Returns:
        DataFrame with just `user_col`, `item_col`, `time_col`.

    Raises:
        FileNotFoundError: no such file.
        ImportError: a Parquet file without `pyarrow`, saying what to install.
        ValueError: a column is missing (naming it and the columns present),
            no rows, a file that does not parse as CSV / Parquet, or a Dask
            DataFrame (naming `prepare_sequences_dask`).
    """
    cols = [user_col, item_col, time_col]
    if type(source).__module__.startswith("dask."):
        # os.fspath would fail on it with a TypeError that names no way out.
        raise ValueError(
            f"source is a Dask {type(source).__name__}: the in-memory path holds the whole "
            f"log; prepare it partition by partition with "
            f"ydnn.data.prepare_sequences_dask(source, output_dir, ...), or pass "
            f"source.compute() if it fits in memory"
        )
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"interaction log {path!r} does not exist")
        if path.endswith((".parquet", ".pq")) or os.path.isdir(path):
            frame = _read_parquet(path)
        else:
            frame = _read_csv(path, cols, sep)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(
            f"interaction log has no column(s) {missing}; its columns are "
            f"{list(frame.columns)}; set user_col, item_col, time_col to match"
        )
    if not len(frame):
        where = "" if isinstance(source, pd.DataFrame) else f" {os.fspath(source)!r}"
        raise ValueError(
            f"interaction log{where} has no rows (only a header): give a log "
            f"with one row per interaction"
        )
    return frame[cols]


def _read_parquet(path):
    if os.path.isdir(path) and not any(
        n.endswith((".parquet", ".pq")) for _, _, names in os.walk(path) for n in names
    ):
        raise ValueError(
            f"interaction log {path!r} is a directory without Parquet files: give "
            f"a CSV file, a Parquet file or a directory of them"
        )
    if importlib.util.find_spec("pyarrow") is None:
        raise ImportError(
            f"reading Parquet ({path!r}) needs pyarrow: "
            f"pip install pyarrow (a ydnn dependency), or pass a CSV"
        )
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        what = "a directory of Parquet files" if os.path.isdir(path) else "a Parquet file"
        raise ValueError(
            f"interaction log {path!r} is not {what} ({_first_line(e)}); give a CSV or Parquet file"
        ) from None


def _read_csv(path, cols, sep):
    engine = "python" if len(sep) > 1 else "c"
    try:
        header = pd.read_csv(path, sep=sep, nrows=0, engine=engine)
        missing = [c for c in cols if c not in header.columns]
        if missing:
            raise ValueError(
                f"interaction log {path!r} has no column(s) {missing}; its "
                f"columns are {list(header.columns)} (separator {sep!r}); set "
                f"user_col, item_col, time_col or sep (--user-col, --item-col, "
                f"--time-col, --sep) to match"
            )
        return pd.read_csv(path, sep=sep, usecols=cols, engine=engine)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"interaction log {path!r} is empty: give a CSV with a header line naming {cols}"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        # Binary files, or a separator that splits rows unevenly.
        raise ValueError(
            f"interaction log {path!r} is not a readable CSV with separator "
            f"{sep!r} ({_first_line(e)}); check the file and the separator"
        ) from None


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _times(series, name):
    """Times as int64 (integers, datetimes as ns) or float64, for sorting only."""
    if series.isna().any():
        raise ValueError(
            f"time column {name!r} has {int(series.isna().sum())} missing values: "
            f"drop or fill those rows"
        )
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.to_numpy().astype("datetime64[ns]").view(np.int64)
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise ValueError(
            f"time column {name!r} must be numeric or datetime, got dtype "
            f"{series.dtype}; convert it (e.g. pd.to_datetime) first"
        )
    if pd.api.types.is_float_dtype(series):
        return series.to_numpy(dtype=np.float64)
    return series.to_numpy(dtype=np.int64)


def _codes(series, name):
    """Dense codes `0..K-1` following the sorted distinct values, and those values."""
    values = series.to_numpy()
    if values.dtype.kind in "iu" and len(values):
        lo, hi = values.min(), values.max()
        span = int(hi) - int(lo)
        if span < 4 * len(values) + 4096:
            # Dense integer ids: a lookup table beats hashing (O(R + span)).
            shifted = (values - lo).astype(np.intp)
            present = np.bincount(shifted, minlength=span + 1) > 0
            code_of = np.cumsum(present) - 1
            return code_of[shifted], (np.flatnonzero(present) + lo).astype(values.dtype)
    codes, uniques = pd.factorize(series, sort=True)
    if (codes < 0).any():
        raise ValueError(
            f"column {name!r} has {int((codes < 0).sum())} missing values: drop or fill those rows"
        )
    return codes.astype(np.int64), np.asarray(uniques)


def check_protocol_args(max_history: Any, min_interactions: Any) -> None:
    """Raises ValueError naming `max_history` (>= 1) or `min_interactions` (>= 2) if bad."""
    if (
        isinstance(max_history, bool)
        or not isinstance(max_history, (int, np.integer))
        or max_history < 1
    ):
        raise ValueError(f"max_history must be an integer >= 1, got {max_history!r}")
    if (
        isinstance(min_interactions, bool)
        or not isinstance(min_interactions, (int, np.integer))
        or min_interactions < 2
    ):
        raise ValueError(f"min_interactions must be an integer >= 2, got {min_interactions!r}")


def prepare_sequences(
    source: Any,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
    max_history: int = 20,
    min_interactions: int = 3,
    sep: str = ",",
) -> SequenceData:
    """Leave-last-out next-item data from an interaction log.

    Args:
        source: DataFrame, CSV path or Parquet path (see `read_interactions`).
        user_col, item_col, time_col: column names.
        max_history: `H`, the longest history window (>= 1).
        min_interactions: users with fewer interactions are dropped (>= 2; the
            protocol uses 3, so every kept user has a training example).
        sep: CSV separator.

    Returns:
        `SequenceData`.

    Raises:
        ValueError: bad arguments, missing values, or no user left.

    Example:
    ```python
    data = ydnn.data.prepare_sequences("ratings.csv", user_col="userId",
                                       item_col="movieId", max_history=20)
    data.train.history.shape      # (num_train, 20)
    ds = ydnn.data.to_dataset(data.train, batch_size=256, seed=0)
    ```
    """
    check_protocol_args(max_history, min_interactions)
    frame = read_interactions(source, user_col, item_col, time_col, sep)
    users, user_ids = _codes(frame[user_col], user_col)
    items, item_uniques = _codes(frame[item_col], item_col)
    times = _times(frame[time_col], time_col)

    keep_user = np.bincount(users, minlength=len(user_ids)) >= min_interactions
    if not keep_user.any():
        raise ValueError(
            f"no user has at least {min_interactions} interactions "
            f"({len(user_ids)} users, {len(frame)} rows)"
        )
    if not keep_user.all():
        rows = keep_user[users]
        users, items, times = users[rows], items[rows], times[rows]
        new_user = np.cumsum(keep_user) - 1
        users = new_user[users]
        user_ids = user_ids[keep_user]

    # Items: codes follow the sorted original ids, so "ties by original id"
    # is "ties by code" in both the frequency ranking and the time sort.
    counts = np.bincount(items, minlength=len(item_uniques))
    by_freq = np.lexsort((np.arange(len(counts)), -counts))
    num_items = int((counts > 0).sum())
    by_freq = by_freq[:num_items]
    new_id = np.zeros(len(counts), np.int32)
    new_id[by_freq] = np.arange(1, num_items + 1, dtype=np.int32)

    seq, indptr = _kernels.group_by_user(users, items, times, new_id, len(user_ids))
    train, test = _kernels.build_examples(
        seq, indptr, int(max_history), _kernels.count_examples(indptr)
    )
    seen_ptr, seen = _kernels.seen_before_last(seq, indptr)

    item_counts = np.zeros(num_items + 1, np.int64)
    item_counts[1:] = counts[by_freq]
    train_counts = item_counts.copy()
    train_counts -= np.bincount(test[2], minlength=num_items + 1)
    item_ids = np.empty(num_items + 1, dtype=item_uniques.dtype)
    item_ids[1:] = item_uniques[by_freq]
    # Slot 0 is padding, never decoded: a value no real id can take where
    # the dtype has one (-1 for signed ints, NaN for floats, None for objects).
    item_ids[0] = {"i": -1, "f": np.nan, "u": 0, "b": False}.get(item_uniques.dtype.kind)
    return SequenceData(
        train=Examples(*train),
        test=Examples(*test),
        num_items=num_items,
        item_ids=item_ids,
        user_ids=user_ids,
        item_counts=item_counts,
        train_item_counts=train_counts,
        seen_indptr=seen_ptr,
        seen_items=seen,
        sequence_indptr=indptr,
        sequence_items=seq,
        max_history=int(max_history),
    )
