"""Readers for TensorFlow Metadata schemas as Merlin / NVTabular write them.

Merlin stores a dataset's schema as a TFMD `Schema` proto, in text format
(`schema.pbtxt`) or JSON (`schema.json`, camelCase keys, int64 as strings).
The subset read here is what Merlin emits:

```
feature {
  name: "item_id_seq"
  type: INT                       # INT | FLOAT | BYTES
  value_count { min: 1 max: 20 }  # a list column (or shape { dim { size: 20 } })
  int_domain { name: "item_id" min: 1 max: 51996 is_categorical: true }
  annotation {
    tag: "item_id"  tag: "categorical"  tag: "sequence"
    extra_metadata {              # google.protobuf.Struct, serialized
      type_url: "type.googleapis.com/google.protobuf.Struct"
      value: "\\n\\r\\n\\007is_list\\022\\002 \\001..."
    }
  }
}
```

Mapping (as `merlin.schema.io.tensorflow_metadata.merlin_column`):
`is_categorical: true` adds the `categorical` tag; `value_count` or a
`shape` with dims makes a list column, ragged unless its min and max agree or
the metadata says otherwise; `extra_metadata` keys `is_list`, `is_ragged` and
`dtype_item_size` set the flags and the dtype width, all other keys (e.g.
`embedding_sizes`, `cat_path`) become `properties`. Unset proto fields read as
their defaults (a missing `min` is 0), as protobuf does.
"""

import base64
import re

from ydnn.schema import textproto
from ydnn.schema.column_schema import ColumnSchema
from ydnn.schema.int_domain import IntDomain
from ydnn.schema.tags import Tags

_SINGULAR = {
    "name",
    "type",
    "int_domain",
    "float_domain",
    "value_count",
    "shape",
    "annotation",
    "min",
    "max",
    "is_categorical",
    "size",
    "type_url",
    "value",
    "domain",
}
_INT_BITS = {8: "int8", 16: "int16", 32: "int32", 64: "int64"}
_FLOAT_BITS = {16: "float16", 32: "float32", 64: "float64"}


def _snake(key):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _from_pbtxt_tree(tree):
    """Parsed text proto (every field a list) to JSON-like singular fields."""
    out = {}
    for key, values in tree.items():
        values = [_from_pbtxt_tree(v) if isinstance(v, dict) else v for v in values]
        if key in _SINGULAR:
            out[key] = values[-1]  # proto: the last value of a singular field wins
        else:
            out[key] = values
    return out


def _from_json_tree(node):
    """TFMD JSON (camelCase, int64 as strings) to snake_case keys."""
    if isinstance(node, dict):
        return {
            (k if k.startswith("@") else _snake(k)): _from_json_tree(v) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_from_json_tree(v) for v in node]
    return node


def _int(value, what):
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected an integer, got {value!r}") from None


def _tidy(value):
    """Struct numbers are doubles: integral ones back to int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


def _extra_metadata(name, entries):
    props = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        value = entry.get("value")
        if isinstance(value, dict):  # canonical JSON: {"@type": ..., "value": {...}}
            props.update(value)
            continue
        if isinstance(value, str):  # JSON with base64 bytes
            value = base64.b64decode(value)
        if isinstance(value, bytes):
            try:
                props.update(textproto.decode_struct(value))
            except (ValueError, IndexError) as e:
                raise ValueError(
                    f"feature {name!r}: extra_metadata does not decode as a "
                    f"google.protobuf.Struct: {e}"
                ) from e
        # Any other canonical JSON object for a Struct keeps its fields inline.
        props.update({k: v for k, v in entry.items() if k not in ("@type", "value", "type_url")})
    return _tidy(props)


def column_from_feature(feature):
    """One TFMD `Feature` (snake_case dict) as a `ColumnSchema`.

    Raises:
        ValueError: the feature has no name or a malformed field, naming it.
    """
    name = feature.get("name")
    if isinstance(name, bytes):
        name = name.decode("utf-8")
    if not name:
        raise ValueError(f"a schema feature has no name: {feature!r}")
    annotation = feature.get("annotation") or {}
    tags = [t.decode("utf-8") if isinstance(t, bytes) else t for t in annotation.get("tag", [])]
    props = _extra_metadata(name, annotation.get("extra_metadata", []))
    is_list = props.pop("is_list", None)
    is_ragged = props.pop("is_ragged", None)
    bits = props.pop("dtype_item_size", None)

    kind = feature.get("type")
    domain = None
    if "int_domain" in feature:
        d = feature["int_domain"] or {}
        dname = d.get("name")
        dname = dname.decode("utf-8") if isinstance(dname, bytes) else dname
        lo = _int(d.get("min", 0), f"feature {name!r} int_domain.min")
        hi = _int(d.get("max", 0), f"feature {name!r} int_domain.max")
        try:
            domain = IntDomain(lo, hi, None if not dname or dname == name else dname)
        except ValueError as e:
            raise ValueError(f"feature {name!r}: bad int_domain: {e}") from e
        if d.get("is_categorical") in (True, "true"):
            tags.append(Tags.CATEGORICAL)
    if "float_domain" in feature:
        fd = {
            k: float(v) for k, v in (feature["float_domain"] or {}).items() if k in ("min", "max")
        }
        props["float_domain"] = fd

    inferred_list, inferred_ragged = False, False
    if "value_count" in feature:
        vc = feature["value_count"] or {}
        lo = _int(vc.get("min", 0), f"feature {name!r} value_count.min")
        hi = _int(vc.get("max", 0), f"feature {name!r} value_count.max")
        inferred_list, inferred_ragged = True, not (lo == hi and hi > 0)
        if lo or hi:
            props["value_count"] = {"min": lo, "max": hi}
    elif "shape" in feature:
        dims = (feature["shape"] or {}).get("dim", [])
        if dims:
            size = _int(dims[0].get("size", 0), f"feature {name!r} shape.dim.size")
            inferred_list, inferred_ragged = True, size <= 0
            if size > 0:
                props["value_count"] = {"min": size, "max": size}
    is_list = inferred_list if is_list is None else bool(is_list)
    is_ragged = (inferred_ragged if is_ragged is None else bool(is_ragged)) and is_list

    if kind is None:  # Merlin leaves `type` out for some id columns
        kind = "INT" if domain is not None or Tags.ID.value in tags else "FLOAT"
    if kind in ("INT", 2):
        dtype = _INT_BITS.get(bits, "int64")
    elif kind in ("FLOAT", 3):
        dtype = _FLOAT_BITS.get(bits, "float32")
    elif kind in ("BYTES", 1):
        dtype = "object"
    else:
        raise ValueError(f"feature {name!r}: unsupported type {kind!r}")
    try:
        return ColumnSchema(
            name,
            dtype,
            tags,
            is_list=is_list,
            is_ragged=is_ragged,
            int_domain=domain,
            properties=props,
        )
    except ValueError as e:
        raise ValueError(f"feature {name!r} of the Merlin schema: {e}") from e


def columns_from_tfmd_dict(config, snake_case=False):
    """The `ColumnSchema`s of a TFMD schema as a dict (parsed `schema.json`).

    The readers return columns and `Schema` wraps them (`Schema.from_dict`,
    `Schema.read`), so this module never imports `Schema`.
    """
    tree = config if snake_case else _from_json_tree(config)
    features = tree.get("feature", [])
    if isinstance(features, dict):
        features = [features]
    return [column_from_feature(f) for f in features]


def columns_from_pbtxt(text, source="schema.pbtxt"):
    """The `ColumnSchema`s of a TFMD text-format schema (`schema.pbtxt`).

    Raises:
        ValueError: a syntax error (with the line) or a malformed feature.
    """
    tree = _from_pbtxt_tree(textproto.parse(text, source))
    unknown = set(tree) - {
        "feature",
        "sparse_feature",
        "weighted_feature",
        "string_domain",
        "default_environment",
        "dataset_constraints",
        "tensor_representation_group",
    }
    if unknown:
        raise ValueError(
            f"{source}: not a TensorFlow Metadata schema (unexpected top-level "
            f"fields {sorted(unknown)})"
        )
    return columns_from_tfmd_dict(tree, snake_case=True)
