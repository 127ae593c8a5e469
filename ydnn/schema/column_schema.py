"""One column of a schema: name, dtype, tags, shape flags, id domain."""

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from ydnn.schema.int_domain import IntDomain
from ydnn.schema.tags import COLLISIONS, Tags


def _normalize_tags(name, tags):
    if isinstance(tags, (str, Tags)):
        tags = (tags,)
    out = []
    for tag in tags:
        tag = Tags.normalize(tag)
        for t in tag.expanded() if isinstance(tag, Tags) else (tag,):
            if t not in out:
                out.append(t)
    for a, b in COLLISIONS:
        if a in out and b in out:
            raise ValueError(
                f"column {name!r}: tags {a.value!r} and {b.value!r} "
                f"cannot be combined (got tags {[str(t) for t in out]})"
            )
    return tuple(out)


@dataclasses.dataclass(frozen=True, eq=True)
class ColumnSchema:
    """What the model needs to know about one input or target column.

    Args:
        name: the column (feature) name.
        dtype: NumPy dtype name of the values (`"int64"`, `"int32"`,
            `"float32"`, ...); anything `np.dtype` accepts.
        tags: `Tags` or strings. Compound tags expand (`ITEM_ID` adds `ITEM`,
            `ID`); `int_domain` given and tag `CATEGORICAL` absent is fine (a
            plain id), but `CATEGORICAL` with `CONTINUOUS` is an error.
        is_list: each row holds a list of values (a history, a bag of tags).
        is_ragged: lists vary in length (`values`+`row_splits`); a padded
            dense list has `is_list=True, is_ragged=False`.
        int_domain: `IntDomain` or `(min, max)` / `{"min":, "max":}`; the id
            range of an integer column. Needed for an embedding table.
        properties: free-form extras kept through JSON round trips, e.g.
            `{"embedding_dim": 64}` or Merlin's `value_count`,
            `embedding_sizes`, `float_domain`.

    Raises:
        ValueError: empty name, unknown dtype, colliding tags, a list flag
            mismatch (`is_ragged` without `is_list`), a categorical column
            with a non-integer dtype, or a bad domain, each naming the column.

    Example:
    ```python
    col = ColumnSchema("item_id", "int32",
                       [Tags.ITEM_ID, Tags.CATEGORICAL, Tags.SEQUENCE, Tags.LIST],
                       is_list=True, int_domain=(0, 5000),
                       properties={"embedding_dim": 64})
    col.vocabulary_size      # 5001
    ```
    """

    name: str
    dtype: str = "int64"
    tags: tuple = ()
    is_list: bool = False
    is_ragged: bool = False
    int_domain: IntDomain | None = None
    # A dict when given; frozen into a read-only MappingProxyType in __post_init__.
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a column name must be a non-empty string, got {self.name!r}")
        try:
            dtype = np.dtype(self.dtype)
        except TypeError as e:
            raise ValueError(f"column {self.name!r}: unknown dtype {self.dtype!r}") from e
        object.__setattr__(self, "dtype", dtype.name)
        object.__setattr__(self, "tags", _normalize_tags(self.name, self.tags))
        object.__setattr__(self, "is_list", bool(self.is_list))
        object.__setattr__(self, "is_ragged", bool(self.is_ragged))
        if self.is_ragged and not self.is_list:
            raise ValueError(f"column {self.name!r}: is_ragged=True needs is_list=True")
        domain = self.int_domain
        try:
            if isinstance(domain, dict):
                domain = IntDomain.from_dict(domain)
            elif isinstance(domain, (tuple, list)):
                domain = IntDomain(*domain)
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"column {self.name!r}: bad int_domain {self.int_domain!r}: {e}"
            ) from e
        if domain is not None and not isinstance(domain, IntDomain):
            raise ValueError(
                f"column {self.name!r}: int_domain must be an IntDomain, a (min, max) "
                f"pair or a dict, got {domain!r}"
            )
        object.__setattr__(self, "int_domain", domain)
        if self.is_categorical and dtype.kind not in "iu":
            raise ValueError(
                f"column {self.name!r} is tagged categorical but has dtype "
                f"{dtype.name}; categorical ids must be integers"
            )
        if domain is not None and dtype.kind not in "iu":
            raise ValueError(f"column {self.name!r} has an int_domain but dtype {dtype.name}")
        # Read-only view: a frozen column must not change under a shared dict.
        object.__setattr__(self, "properties", types.MappingProxyType(dict(self.properties)))

    def __eq__(self, other):
        if not isinstance(other, ColumnSchema):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash((self.name, self.dtype, self.tags, self.is_list, self.int_domain))

    # -- tags ---------------------------------------------------------------
    def has_tag(self, *tags):
        """True when the column carries any of `tags`.

        A compound tag (`ITEM_ID`, `USER_ID`, ...) is carried by a column
        tagged with it or with all of its atoms: NVTabular and Merlin write
        an item-id column as `["item", "id", ...]`, never `"item_id"`; a
        column tagged `item` alone is not the item id.
        """
        return any(self._carries(Tags.normalize(t)) for t in tags)

    def _carries(self, tag):
        if tag in self.tags:
            return True
        atoms = tag.expanded()[1:] if isinstance(tag, Tags) else ()
        return bool(atoms) and all(a in self.tags for a in atoms)

    @property
    def is_categorical(self):
        return Tags.CATEGORICAL in self.tags

    @property
    def is_continuous(self):
        return Tags.CONTINUOUS in self.tags

    # -- sizes --------------------------------------------------------------
    @property
    def vocabulary_size(self):
        """Rows of the column's embedding table: `int_domain.max + 1`.

        Raises:
            ValueError: the column has no `int_domain`.
        """
        if self.int_domain is None:
            kind = "is tagged categorical but has" if self.is_categorical else "has"
            raise ValueError(
                f"column {self.name!r} {kind} no int_domain, so its vocabulary size is unknown; "
                f"give it one, e.g. ColumnSchema({self.name!r}, ..., int_domain=(0, max_id))"
            )
        return self.int_domain.max + 1

    @property
    def table_name(self):
        """Name of the embedding table: the domain's name, else the column's."""
        if self.int_domain is not None and self.int_domain.name:
            return self.int_domain.name
        return self.name

    @property
    def embedding_dim(self):
        """Embedding width asked for in the properties, or `None`.

        Reads `properties["embedding_dim"]`, else Merlin's
        `properties["embedding_sizes"]["dimension"]` (NVTabular's suggestion).
        """
        dim = self.properties.get("embedding_dim")
        if dim is None:
            sizes = self.properties.get("embedding_sizes")
            if isinstance(sizes, dict):
                dim = sizes.get("dimension")
        return None if dim is None else int(dim)

    @property
    def value_count(self):
        """`(min, max)` list length from the properties, or `None`."""
        vc = self.properties.get("value_count")
        if not vc:
            return None
        return int(vc.get("min", 0)), int(vc.get("max", 0))

    # -- copies -------------------------------------------------------------
    def with_name(self, name):
        return dataclasses.replace(self, name=name)

    def with_tags(self, tags):
        """A copy with `tags` added."""
        return dataclasses.replace(
            self, tags=self.tags + tuple((tags,) if isinstance(tags, (str, Tags)) else tags)
        )

    def without_tags(self, tags):
        """A copy with `tags` removed (compound parts stay unless listed)."""
        drop = {Tags.normalize(t) for t in ((tags,) if isinstance(tags, (str, Tags)) else tags)}
        return dataclasses.replace(self, tags=tuple(t for t in self.tags if t not in drop))

    def with_properties(self, **properties):
        """A copy with `properties` merged in."""
        return dataclasses.replace(self, properties={**self.properties, **properties})

    def with_int_domain(self, int_domain):
        return dataclasses.replace(self, int_domain=int_domain)

    # -- serialisation ------------------------------------------------------
    def to_dict(self):
        """Plain JSON-able dict; `ColumnSchema.from_dict` inverts it."""
        return {
            "name": self.name,
            "dtype": self.dtype,
            "tags": [str(t) for t in self.tags],
            "is_list": self.is_list,
            "is_ragged": self.is_ragged,
            "int_domain": None if self.int_domain is None else self.int_domain.to_dict(),
            "properties": _plain(self.properties),
        }

    @classmethod
    def from_dict(cls, config):
        """Inverse of `to_dict`.

        Raises:
            ValueError: `config` lacks `name` or holds an unknown key.
        """
        if not isinstance(config, dict) or "name" not in config:
            raise ValueError(f"a column needs a 'name', got {config!r}")
        unknown = set(config) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"column {config['name']!r}: unknown keys {sorted(unknown)}")
        return cls(**config)

    def __repr__(self):
        parts = [repr(self.name), self.dtype, "[" + ", ".join(str(t) for t in self.tags) + "]"]
        if self.is_list:
            parts.append("ragged list" if self.is_ragged else "list")
        if self.int_domain is not None:
            parts.append(f"ids {self.int_domain.min}..{self.int_domain.max}")
        return f"ColumnSchema({', '.join(parts)})"


def _plain(value):
    """Mapping proxies and tuples as dicts and lists, for JSON."""
    if isinstance(value, (dict, types.MappingProxyType)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
