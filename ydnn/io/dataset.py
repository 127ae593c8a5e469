"""`Dataset`: Parquet files (or a DataFrame) and their schema, Merlin's `merlin.io.Dataset`."""

import glob
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ydnn.io.columns import Block, Ragged, block_from_table, list_value_type, numpy_dtype
from ydnn.schema import ColumnSchema, Schema

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made
    import pandas as pd

# Where Merlin and NVTabular leave a dataset's schema, in the order Merlin's
# own Dataset looks: `.merlin/schema.json` (Merlin >= 23.02), then the TFMD
# text proto NVTabular writes, then a plain `schema.json` (ydnn's, or TFMD).
SCHEMA_FILES = (os.path.join(".merlin", "schema.json"), "schema.pbtxt", "schema.json")
# Rows per piece of an in-memory table: the unit the loader shuffles and reads.
MEMORY_PIECE_ROWS = 1 << 18


class Dataset:
    """A table of examples on disk (Parquet) or in memory, with its `Schema`.

    Reading streams: the loader reads one Parquet row group at a time, only
    the schema's columns, so a dataset larger than memory can be iterated.
    List columns stay lists (ragged). `schema` is settable, as in Merlin
    (`data.schema = data.schema.excluding_by_name([...])`): the loader then
    reads only the columns left.

    Args:
        path_or_source: a directory of `*.parquet` files, one file, a list of
            files, a `pandas.DataFrame` or a `pyarrow.Table`.
        schema: a `Schema`, or a schema file (`schema.json` /
            `schema.pbtxt`). Default: the schema file beside the data
            (`.merlin/schema.json`, `schema.pbtxt`, `schema.json`, as Merlin
            writes them), else one inferred from the column types (no tags:
            tag the columns before building a model on it).
        engine: `"parquet"` (the only format read).

    Raises:
        FileNotFoundError: no such path, or a directory with no Parquet file.
        ValueError: a schema column the files lack, a column the loader
            cannot feed (strings, nested lists), files with other columns or
            types than the first, a bad argument type.

    Example:
    ```python
    train = ydnn.Dataset("data/train")            # train/*.parquet + schema.pbtxt
    train.schema = train.schema.excluding_by_name(["event_timestamp"])
    loader = ydnn.Loader(train, batch_size=1024)
    ```
    """

    def __init__(
        self,
        path_or_source: Any,
        schema: Schema | str | os.PathLike | None = None,
        engine: str = "parquet",
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if engine != "parquet":
            raise ValueError(
                f"engine must be 'parquet' (the only format ydnn reads), got {engine!r}"
            )
        self._frame = None
        self._table = None
        self._nulls = {}
        self.files = []
        if _is_dataframe(path_or_source):
            self._frame = path_or_source
            self._table = pa.Table.from_pandas(path_or_source, preserve_index=False)
            where, schema_dir = "the DataFrame", None
        elif isinstance(path_or_source, pa.Table):
            self._table = path_or_source
            where, schema_dir = "the Table", None
        else:
            self.files, schema_dir = _parquet_files(path_or_source)
            where = f"{self.files[0]!r}"
        if self._table is not None:
            self._nulls = _table_nulls(self._table, where)
            self.arrow_schema = self._table.schema
            self._pieces = [
                (None, start) for start in range(0, max(self._table.num_rows, 1), MEMORY_PIECE_ROWS)
            ]
            self.num_rows = self._table.num_rows
            self.piece_rows = [
                min(MEMORY_PIECE_ROWS, self.num_rows - start) for _, start in self._pieces
            ]
        else:
            self._pieces, self.piece_rows, self.arrow_schema, self._nulls = _row_groups(
                pq, self.files
            )
            self.num_rows = sum(self.piece_rows)
        self._where = where
        self._types = {}
        for field in self.arrow_schema:
            value_type = list_value_type(field.type)
            self._types[field.name] = (
                value_type is not None,
                field.type if value_type is None else value_type,
            )
        if schema is None:
            found = _schema_beside(schema_dir)
            schema = Schema.read(found) if found else self.infer_schema()
        elif isinstance(schema, (str, os.PathLike)):
            schema = Schema.read(schema)
        self.schema = schema

    # -- schema ------------------------------------------------------------------
    @property
    def schema(self):
        return self._schema

    @schema.setter
    def schema(self, schema):
        if not isinstance(schema, Schema):
            raise ValueError(f"schema must be a ydnn.Schema, got {type(schema).__name__}")
        missing = [c.name for c in schema if c.name not in self._types]
        if missing:
            raise ValueError(
                f"schema columns {missing} are not in the data ({self._where} has "
                f"{sorted(self._types)}); drop them with "
                f"schema.excluding_by_name({missing})"
            )
        for col in schema:
            if col.name in self._nulls:
                count, where = self._nulls[col.name]
                raise ValueError(
                    f"column {col.name!r} of {where} has {count} null values: fill "
                    f"or drop them before training (a null has no id)"
                )
            is_list, arrow_type = self._types[col.name]
            numpy_dtype(arrow_type, col.name, self._where)  # strings etc. fail here, named
            if col.is_list != is_list:
                raise ValueError(
                    f"column {col.name!r}: the schema says "
                    f"{'a list' if col.is_list else 'a scalar'}"
                    f" but {self._where} holds {'lists' if is_list else 'scalars'}"
                )
        self._schema = schema

    def infer_schema(self) -> Schema:
        """A `Schema` of every column from its type alone (no tags, no domains)."""
        columns = []
        for name, (is_list, arrow_type) in self._types.items():
            dtype = numpy_dtype(arrow_type, name, self._where) if _feedable(arrow_type) else None
            if dtype is not None:
                columns.append(ColumnSchema(name, dtype.name, is_list=is_list, is_ragged=is_list))
        return Schema(columns)

    def dtype(self, name: str) -> np.dtype:
        """The NumPy dtype column `name` is served as."""
        return numpy_dtype(self._types[name][1], name, self._where)

    # -- reading -----------------------------------------------------------------
    @property
    def npartitions(self):
        """Pieces the data is read in (Parquet row groups, or slices of a table)."""
        return len(self._pieces)

    def read_piece(self, index: int, columns: list[str], open_files: dict | None = None) -> Block:
        """Rows of piece `index` (see `npartitions`), only `columns`, as a `Block`.

        `open_files` ({path: ParquetFile}) keeps each file open across the
        pieces of one pass: opening parses the footer, whose size grows
        with the row groups, so reopening per piece made a pass quadratic.
        """
        path, group = self._pieces[index]
        if path is None:
            assert self._table is not None  # pieces without a file are slices of the table
            table = self._table.slice(group, MEMORY_PIECE_ROWS).select(columns)
            return block_from_table(table, columns, self._where)
        import pyarrow.parquet as pq

        if open_files is None:
            with pq.ParquetFile(path) as f:
                table = f.read_row_group(group, columns=columns)
        else:
            if path not in open_files:
                open_files[path] = pq.ParquetFile(path)
            table = open_files[path].read_row_group(group, columns=columns)
        return block_from_table(table, columns, f"{path!r}")

    def iter_blocks(
        self, columns: list[str] | None = None, order: Iterable[int] | None = None
    ) -> Iterator[Block]:
        """`Block`s of the dataset, piece by piece (in `order` when given)."""
        columns = list(columns) if columns is not None else self.schema.column_names
        open_files: dict = {}
        try:
            for index in range(len(self._pieces)) if order is None else order:
                yield self.read_piece(index, columns, open_files)
        finally:
            for f in open_files.values():
                f.close()

    def compute(self) -> "pd.DataFrame":
        """The whole dataset (the schema's columns) as a pandas DataFrame, in memory."""
        if self._frame is not None:
            return self._frame[self.schema.column_names].copy()
        return _frame(self, Block.concat(list(self.iter_blocks())))

    def to_pandas(self) -> "pd.DataFrame":
        """Same as `compute()`."""
        return self.compute()

    def head(self, n: int = 5) -> "pd.DataFrame":
        """The first `n` rows as a DataFrame (reading only the pieces they are in)."""
        if self._frame is not None:
            return self.compute().head(n)
        blocks, rows = [], 0
        for block in self.iter_blocks():
            if rows >= n:
                break
            blocks.append(block)
            rows += block.n
        return _frame(self, Block.concat(blocks)).head(n)

    def __len__(self):
        return self.num_rows

    def __repr__(self):
        return (
            f"ydnn.Dataset({self.num_rows} rows in {self.npartitions} pieces, "
            f"columns {self.schema.column_names})"
        )


def _is_dataframe(value):
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False
    return isinstance(value, pd.DataFrame)


def _feedable(arrow_type):
    try:
        numpy_dtype(arrow_type, "", "")
        return True
    except ValueError:
        return False


def _parquet_files(path_or_paths):
    """The Parquet files named by a directory, a file or a list, and the
    directory to look for a schema in."""
    if isinstance(path_or_paths, (str, os.PathLike)):
        path = os.fspath(path_or_paths)
        if os.path.isdir(path):
            files = sorted(
                glob.glob(os.path.join(path, "*.parquet"))
                or glob.glob(os.path.join(path, "*.parq"))
            )
            if not files:
                raise FileNotFoundError(f"no *.parquet files in directory {path!r}")
            return files, path
        paths = [path]
    elif (
        isinstance(path_or_paths, (list, tuple))
        and path_or_paths
        and all(isinstance(p, (str, os.PathLike)) for p in path_or_paths)
    ):
        paths = [os.fspath(p) for p in path_or_paths]
    else:
        raise ValueError(
            f"path_or_source must be a directory, a Parquet file, a list of files, "
            f"a pandas DataFrame or a pyarrow Table, got {path_or_paths!r}"
        )
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"no such Parquet file(s): {missing}")
    return paths, os.path.dirname(os.path.abspath(paths[0]))


def _row_groups(pq, files):
    """`[(file, row group)]`, each one's rows, the files' common Arrow schema,
    and `{column: (nulls, first file)}` for columns whose statistics count nulls."""
    pieces, rows, first, nulls = [], [], None, {}
    for path in files:
        try:
            meta = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises ArrowInvalid / OSError variants
            raise ValueError(f"{path!r} is not a readable Parquet file: {e}") from None
        with meta:
            schema = meta.schema_arrow
            if first is None:
                first = schema
            elif not schema.equals(first):
                raise ValueError(
                    f"{path!r} has columns {schema.names} of other types than "
                    f"{files[0]!r} ({first.names}): every file of a dataset must "
                    f"have the same columns and types"
                )
            for group in range(meta.num_row_groups):
                pieces.append((path, group))
                rows.append(meta.metadata.row_group(group).num_rows)
                _count_nulls(meta.metadata.row_group(group), meta.schema, path, nulls)
    return pieces, rows, first, nulls


def _count_nulls(row_group, schema, path, nulls):
    """Adds the nulls the column chunks' statistics count to `nulls`: a schema
    column with any is refused when the schema is set (a null id has no row
    to embed; finding it now beats failing epochs later). Files written
    without statistics are checked as their rows are read."""
    for i in range(row_group.num_columns):
        chunk = row_group.column(i)
        stats = chunk.statistics
        # A list column's leaf counts empty lists as nulls too: only flat
        # columns (definition level <= 1) are judged here, lists as read.
        if schema.column(i).max_definition_level > 1:
            continue
        if stats is not None and stats.has_null_count and stats.null_count:
            name = chunk.path_in_schema
            count, first = nulls.get(name, (0, repr(path)))
            nulls[name] = (count + stats.null_count, first)


def _schema_beside(directory):
    if directory is None:
        return None
    for name in SCHEMA_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def _table_nulls(table, where):
    """`{column: (nulls, where)}` of an in-memory table: null rows, and null
    entries of list columns (an empty list is not a null)."""
    from ydnn.io.columns import list_value_type

    nulls = {}
    for name in table.column_names:
        column = table.column(name)
        count = column.null_count
        if list_value_type(column.type) is not None and column.num_chunks:
            count += sum(chunk.flatten().null_count for chunk in column.chunks)
        if count:
            nulls[name] = (count, where)
    return nulls


def _frame(dataset, block):
    """The schema's columns of `block` as a DataFrame (lists as arrays per row)."""
    import pandas as pd

    frame = {}
    for name in dataset.schema.column_names:
        col = block.columns[name] if block is not None else np.zeros(0, dataset.dtype(name))
        frame[name] = (
            list(np.split(col.values, col.offsets[1:-1])) if isinstance(col, Ragged) else col
        )
    return pd.DataFrame(frame)
