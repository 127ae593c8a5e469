"""An ordered collection of columns, selected by tag or by name."""

import json
import os
from collections.abc import Iterable
from typing import Any

from ydnn.schema import tfmd
from ydnn.schema.column_schema import ColumnSchema
from ydnn.schema.tags import Tags

FORMAT_VERSION = 1


def _names(args):
    """Varargs or a single list/tuple of names, flattened."""
    if len(args) == 1 and isinstance(args[0], (list, tuple, set)):
        return list(args[0])
    return list(args)


class Schema:
    """Ordered, immutable set of `ColumnSchema`s with Merlin's selection API.

    Args:
        columns: `ColumnSchema`s, or dicts as `ColumnSchema.to_dict` writes.

    Raises:
        ValueError: two columns share a name.
        TypeError: an entry is neither a `ColumnSchema` nor a dict.

    Example:
    ```python
    schema = Schema([
        ColumnSchema("item_id", "int32", [Tags.ITEM_ID, Tags.CATEGORICAL, Tags.LIST],
                     is_list=True, int_domain=(0, 5000)),
        ColumnSchema("user_age", "float32", [Tags.USER, Tags.CONTINUOUS]),
    ])
    schema.select_by_tag(Tags.ITEM_ID).only().vocabulary_size   # 5001
    schema.remove_by_tag("continuous").column_names              # ["item_id"]
    Schema.read("merlin_dir/schema.pbtxt")                       # a Merlin schema
    ```
    """

    def __init__(self, columns: Iterable[ColumnSchema | dict] = ()) -> None:
        self._columns: dict[str, ColumnSchema] = {}
        for col in columns:
            if isinstance(col, dict):
                col = ColumnSchema.from_dict(col)
            if not isinstance(col, ColumnSchema):
                raise TypeError(f"Schema takes ColumnSchema objects, got {col!r}")
            if col.name in self._columns:
                raise ValueError(f"duplicate column name {col.name!r} in schema")
            self._columns[col.name] = col

    # -- container protocol -------------------------------------------------
    def __len__(self):
        return len(self._columns)

    def __iter__(self):
        return iter(self._columns.values())

    def __contains__(self, name):
        return name in self._columns

    def __getitem__(self, key):
        """A column by name or position; a sub-schema by a list of names."""
        if isinstance(key, (list, tuple)):
            return self.select_by_name(key)
        if isinstance(key, int):
            cols = list(self._columns.values())
            if not -len(cols) <= key < len(cols):
                raise IndexError(f"column index {key} out of range for a schema of {len(cols)}")
            return cols[key]
        if key not in self._columns:
            raise KeyError(f"no column named {key!r} in schema; columns: {self.column_names}")
        return self._columns[key]

    def __eq__(self, other):
        if not isinstance(other, Schema):
            return NotImplemented
        return list(self) == list(other)

    def __add__(self, other):
        """Columns of both schemas (a name in both is an error)."""
        return Schema(list(self) + list(other))

    def __repr__(self):
        inner = ",\n  ".join(repr(c) for c in self)
        return f"Schema([\n  {inner}\n])" if inner else "Schema([])"

    @property
    def column_names(self):
        return list(self._columns)

    @property
    def first(self):
        """The first column.

        Raises:
            ValueError: the schema is empty.
        """
        if not self._columns:
            raise ValueError("the schema is empty: it has no first column")
        return next(iter(self._columns.values()))

    def only(self, what: str = "column") -> ColumnSchema:
        """The single column of a one-column schema.

        Args:
            what: how to describe the column in the error (e.g. the selection).

        Raises:
            ValueError: zero or several columns, naming them.
        """
        if len(self) != 1:
            found = "none" if not self._columns else f"{len(self)}: {self.column_names}"
            raise ValueError(f"expected exactly one {what}, found {found}")
        return self.first

    # -- selection ----------------------------------------------------------
    def select_by_tag(self, *tags: Any) -> "Schema":
        """Columns carrying any of `tags` (strings or `Tags`; varargs or a list)."""
        wanted = [Tags.normalize(t) for t in _names(tags)]
        return Schema(c for c in self if c.has_tag(*wanted))

    def remove_by_tag(self, *tags: Any) -> "Schema":
        """Columns carrying none of `tags`."""
        unwanted = [Tags.normalize(t) for t in _names(tags)]
        return Schema(c for c in self if not c.has_tag(*unwanted))

    def select_by_name(self, *names: Any) -> "Schema":
        """The named columns, in the order given.

        Raises:
            KeyError: a name is not in the schema.
        """
        names = _names(names)
        missing = [n for n in names if n not in self._columns]
        if missing:
            raise KeyError(f"no columns named {missing} in schema; columns: {self.column_names}")
        return Schema(self._columns[n] for n in names)

    def excluding(self, *names: Any) -> "Schema":
        """All columns but the named ones (unknown names are an error).

        Raises:
            KeyError: a name is not in the schema (a typo would otherwise
                silently exclude nothing).
        """
        dropped = set(_names(names))
        missing = sorted(dropped - set(self._columns))
        if missing:
            raise KeyError(f"cannot exclude {missing}: not in schema; columns: {self.column_names}")
        return Schema(c for c in self if c.name not in dropped)

    def excluding_by_name(self, names: str | Iterable[str]) -> "Schema":
        """All columns but the named ones; names not in the schema are ignored,
        as Merlin's method of this name does (its tests drop columns that
        some data sets lack). `excluding` is the strict form."""
        names = {names} if isinstance(names, str) else set(names)
        return Schema(c for c in self if c.name not in names)

    def column_by_tag(self, tag: str | Tags) -> ColumnSchema:
        """The one column tagged `tag`.

        Raises:
            ValueError: no column or several carry the tag; the message lists
                the schema's columns and tags so the fix is plain.
        """
        tag = Tags.normalize(tag)
        selected = self.select_by_tag(tag)
        if len(selected) == 1:
            return selected.first
        if not selected:
            listing = ", ".join(f"{c.name} [{', '.join(map(str, c.tags))}]" for c in self)
            raise ValueError(
                f"no column is tagged {str(tag)!r}; the schema has: {listing or 'no columns'}"
            )
        raise ValueError(
            f"several columns are tagged {str(tag)!r}: {selected.column_names}; select one by name"
        )

    def with_column(self, column: ColumnSchema) -> "Schema":
        """A copy with `column` added, or replacing the column of its name."""
        cols = dict(self._columns)
        cols[column.name] = column
        return Schema(cols.values())

    # -- serialisation ------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": "ydnn.schema",
            "version": FORMAT_VERSION,
            "columns": [c.to_dict() for c in self],
        }

    @classmethod
    def from_dict(cls, config: dict) -> "Schema":
        """Inverse of `to_dict`; also takes a TFMD/Merlin JSON dict (`feature` key).

        Raises:
            ValueError: neither format.
        """
        if isinstance(config, dict) and "columns" in config:
            version = config.get("version", FORMAT_VERSION)
            if version > FORMAT_VERSION:
                raise ValueError(
                    f"schema format version {version} is newer than this ydnn "
                    f"reads ({FORMAT_VERSION}); upgrade ydnn"
                )
            return cls(config["columns"])
        if isinstance(config, dict) and ("feature" in config or not config):
            return cls(tfmd.columns_from_tfmd_dict(config))
        raise ValueError(
            "not a schema: expected a dict with 'columns' (ydnn) or 'feature' "
            f"(TensorFlow Metadata / Merlin), got keys {sorted(config)[:10]}"
            if isinstance(config, dict)
            else f"not a schema: {type(config).__name__}"
        )

    def to_json(self, path: str | os.PathLike | None = None, indent: int = 2) -> str:
        """JSON text of the schema; written to `path` too when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, text: str) -> "Schema":
        """A schema from JSON text (ydnn's, or a TFMD/Merlin `schema.json`)."""
        try:
            config = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"schema JSON does not parse: {e}") from e
        return cls.from_dict(config)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Schema":
        """Read ydnn JSON, Merlin/TFMD `schema.json` or `schema.pbtxt`.

        Args:
            path: a file, or a directory holding `schema.pbtxt` or
                `schema.json` (where Merlin's `Dataset.to_parquet` and
                `Model.save` put them).

        Raises:
            FileNotFoundError: nothing readable at `path`.
            ValueError: the file does not parse, naming the line for pbtxt.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            for name in ("schema.pbtxt", "schema.json"):
                if os.path.isfile(os.path.join(path, name)):
                    path = os.path.join(path, name)
                    break
            else:
                raise FileNotFoundError(f"no schema.pbtxt or schema.json in directory {path!r}")
        with open(path) as f:
            text = f.read()
        if path.endswith((".pbtxt", ".pb", ".textproto")) or not text.lstrip().startswith("{"):
            return cls(tfmd.columns_from_pbtxt(text, source=path))
        return cls.from_json(text)

    def write(self, path: str | os.PathLike) -> str:
        """Write ydnn JSON to `path` (a file, or `schema.json` in a directory)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "schema.json")
        self.to_json(path)
        return path
