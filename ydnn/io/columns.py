"""Columnar row blocks: Arrow record batches to NumPy, row gathers, batch slices.

A `Block` holds `n` rows of named columns in NumPy: a scalar column is one
array `[n]`; a list column is `Ragged(values, offsets)`, the layout of Arrow's
list arrays and of `tf.RaggedTensor.from_row_splits` (`offsets[0] == 0`,
`offsets[n] == len(values)`). The loader shuffles and cuts batches on blocks
without a Python loop over rows: a gather of list rows is one `np.repeat` and
one fancy index.
"""

import dataclasses

import numpy as np

INT_TYPES = ("int32", "int64")


@dataclasses.dataclass(frozen=True)
class Ragged:
    """Rows of variable length: row `i` is `values[offsets[i]:offsets[i + 1]]`."""

    values: np.ndarray
    offsets: np.ndarray  # int64, [n + 1], starts at 0

    def __len__(self):
        return len(self.offsets) - 1

    def take(self, rows):
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Ragged(self.values[positions], offsets)

    def slice(self, start, stop):
        lo, hi = self.offsets[start], self.offsets[stop]
        return Ragged(self.values[lo:hi], self.offsets[start : stop + 1] - lo)

    def lengths(self):
        return np.diff(self.offsets)


def concat_column(parts):
    if isinstance(parts[0], Ragged):
        shifts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
        offsets = np.concatenate(
            [parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)]
        )
        return Ragged(np.concatenate([p.values for p in parts]), offsets)
    return np.concatenate(parts)


@dataclasses.dataclass(frozen=True)
class Block:
    """`n` rows of named columns (NumPy arrays or `Ragged`)."""

    n: int
    columns: dict

    def take(self, rows):
        return Block(
            len(rows),
            {
                k: v.take(rows) if isinstance(v, Ragged) else v[rows]
                for k, v in self.columns.items()
            },
        )

    def slice(self, start, stop):
        return Block(
            stop - start,
            {
                k: v.slice(start, stop) if isinstance(v, Ragged) else v[start:stop]
                for k, v in self.columns.items()
            },
        )

    @staticmethod
    def concat(blocks):
        blocks = [b for b in blocks if b is not None and b.n]
        if len(blocks) == 1:
            return blocks[0]
        if not blocks:
            return None
        return Block(
            sum(b.n for b in blocks),
            {k: concat_column([b.columns[k] for b in blocks]) for k in blocks[0].columns},
        )


def numpy_dtype(arrow_type, name, where):
    """The NumPy dtype a column of `arrow_type` is served as (or a ValueError).

    Integers stay int32 / int64 (narrower or unsigned ones widen to int64),
    floats become float32 (what the model computes in; Merlin's loader does
    the same), booleans float32. Strings and nested lists are refused: ids
    must be integers (NVTabular's `Categorify` writes them).
    """
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_integer(t):
        return np.dtype(str(t)) if str(t) in INT_TYPES else np.dtype("int64")
    if pa.types.is_floating(t) or pa.types.is_boolean(t):
        return np.dtype("float32")
    kind = "strings" if (pa.types.is_string(t) or pa.types.is_large_string(t)) else str(t)
    hint = (
        ": encode it to integer ids first (NVTabular's Categorify, or ydnn.data)"
        if kind == "strings"
        else ""
    )
    raise ValueError(
        f"column {name!r} of {where} holds {kind}, which the loader cannot feed to the model{hint}"
    )


def list_value_type(arrow_type):
    """The element type of a list column's Arrow type, or None for a scalar column."""
    import pyarrow as pa

    if (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    ):
        return arrow_type.value_type
    return None


def column_to_numpy(array, name, where):
    """One Arrow array (a column of a table) as a NumPy array or `Ragged`.

    Raises:
        ValueError: a null anywhere (a missing id would be silently read as
            garbage), nested lists, strings.
    """
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        raise ValueError(
            f"column {name!r} of {where} has {array.null_count} null rows: fill "
            f"or drop them before training (a null has no id)"
        )
    value_type = list_value_type(array.type)
    if value_type is None:
        dtype = numpy_dtype(array.type, name, where)
        return _cast(array.to_numpy(zero_copy_only=False), dtype, name, where)
    if list_value_type(value_type) is not None:
        raise ValueError(
            f"column {name!r} of {where} is a list of lists ({array.type}); the "
            f"loader feeds scalars and flat lists"
        )
    dtype = numpy_dtype(value_type, name, where)
    if pa.types.is_fixed_size_list(array.type):
        size = array.type.list_size
        flat = array.flatten()
        offsets = np.arange(len(array) + 1, dtype=np.int64) * size
    else:
        offsets = np.asarray(array.offsets, dtype=np.int64)
        flat = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        offsets = offsets - offsets[0]
    if flat.null_count:
        raise ValueError(
            f"column {name!r} of {where} has {flat.null_count} null list entries: "
            f"fill or drop them before training"
        )
    return Ragged(_cast(flat.to_numpy(zero_copy_only=False), dtype, name, where), offsets)


def _cast(values, dtype, name, where):
    """`values` as `dtype`; a uint64 id past int64's range is refused, not wrapped negative."""
    if values.dtype == np.uint64 and values.size and values.max() > np.iinfo(np.int64).max:
        raise ValueError(
            f"column {name!r} of {where} has id {values.max()}, beyond int64's "
            f"range: re-encode the ids (NVTabular's Categorify, or ydnn.data)"
        )
    return np.asarray(values, dtype=dtype)


def block_from_table(table, names, where):
    return Block(
        table.num_rows, {name: column_to_numpy(table.column(name), name, where) for name in names}
    )
