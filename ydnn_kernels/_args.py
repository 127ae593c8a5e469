"""Argument checks and conversions shared by the arrays API and the TF wrappers.

Every public entry point turns what a user passes into what the kernels
take here, so that a bad value is refused in one place, with one message
that names the argument, its shape or type and the value, instead of
reaching pybind11 (an "incompatible function arguments" dump) or being
truncated, reinterpreted or silently converted:

* integer arrays (ids, lengths, row splits) must have an integer dtype:
  float `lengths` are not truncated, bool ids are not ids; narrower integer
  dtypes widen without loss; uint64 values past int64 are refused;
* NumPy arrays in non-native byte order (`>f4` on x86) are converted to
  native order for inputs the kernels only read, never read as native;
* scalars: ints must be integers (`np.int64` is fine, `5.5` and `True` are
  not), floats any real number (`np.float32` is fine, a string is not).
"""

import numbers

import numpy as np

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1


def describe(x):
    """`dtype [shape]` of an array, else the type and repr of a value."""
    if isinstance(x, np.generic):
        return f"{type(x).__name__} {x.item()!r}"
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        return f"{x.dtype} of shape {list(x.shape)}"
    text = repr(x)
    return f"{type(x).__name__} {text if len(text) < 80 else text[:80] + '...'}"


def int_scalar(name, value, minimum=None, maximum=INT64_MAX):
    """`value` as a Python int; ValueError unless it is an integer in range.

    Accepts `int` and NumPy integer scalars (and 0-d integer arrays); refuses
    bool, floats (even integral ones: a float where a count is meant is a
    bug upstream), strings and anything else.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer, got {describe(value)}")
    value = int(value)
    low = INT64_MIN if minimum is None else minimum
    if value < low or value > maximum:
        if minimum is not None and maximum != INT64_MAX:
            bound = f"in [{minimum}, {maximum}]"
        else:
            bound = f">= {low}" if value < low else f"<= {maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def seed_scalar(name, value):
    """A Philox key, stream or counter: an integer in [0, 2^64)."""
    return int_scalar(name, value, 0, UINT64_MAX)


def seed_scalars(seed, seed2, counter):
    """A sampler's Philox key, stream and first draw index, each in [0, 2^64)."""
    return seed_scalar("seed", seed), seed_scalar("seed2", seed2), seed_scalar("counter", counter)


def float_scalar(name, value):
    """`value` as a Python float; ValueError unless it is a real number
    (int, float, NumPy scalar or 0-d array; not bool, not a string).
    NaN and infinities pass: each op says which values it takes."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, np.integer, np.floating)
    ):
        raise ValueError(f"{name} must be a real number, got {describe(value)}")
    return float(value)


def bool_scalar(name, value):
    """`value` as a bool; ValueError unless it is a bool or NumPy bool."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def _asarray(xp, x, name):
    try:
        a = xp.asarray(x)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} must be an array, got {describe(x)}: {e}") from None
    if a.dtype.kind in "OSUV" and a.dtype.name != "bfloat16":
        raise ValueError(f"{name} must be a numeric array, got {describe(a)}")
    return a


def native(a):
    """A NumPy array in native byte order (a copy only when it was not)."""
    if isinstance(a, np.ndarray) and not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def int_array(xp, x, name, dtype=None):
    """An integer array, C-contiguous and native, of `dtype` (default:
    int32 and int64 kept, other integer dtypes widened to int64)."""
    a = native(_asarray(xp, x, name))
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must have an integer dtype, got {describe(a)}")
    if a.dtype == np.uint64 and a.size and int(a.max()) > INT64_MAX:
        raise ValueError(f"{name} has a value {int(a.max())} beyond int64 ({describe(a)})")
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.int32, np.int64) else np.int64
    return xp.ascontiguousarray(a, dtype=dtype)


def float_array(xp, x, name, dtype=np.float32):
    """A real array converted to `dtype`, C-contiguous and native."""
    a = native(_asarray(xp, x, name))
    if a.dtype.kind not in "fiu" and a.dtype.name != "bfloat16":
        raise ValueError(f"{name} must have a real dtype, got {describe(a)}")
    return xp.ascontiguousarray(a, dtype=dtype)


def true_ids_array(xp, true_ids):
    """A sampler's `true_ids` as int64 (empty when None)."""
    if true_ids is None:
        return xp.zeros(0, np.int64)
    return int_array(xp, true_ids, "true_ids", np.int64)


TABLE_DTYPES = ("float32", "float16", "bfloat16")
COMPUTE_DTYPES = ("float32", "bfloat16")


def compute_dtype_arg(value):
    """A `compute_dtype` as the op takes it: "float32" or "bfloat16" (a
    string, or a TF / NumPy dtype of that name); ValueError otherwise."""
    name = value if isinstance(value, str) else getattr(value, "name", None)
    if not isinstance(name, str) or name not in COMPUTE_DTYPES:
        raise ValueError(f'compute_dtype must be "float32" or "bfloat16", got {describe(value)}')
    return name


def table_array(xp, x, name="table", in_place=False):
    """A table the kernels read (converted to native order and C order) or,
    with `in_place`, write (never converted: a copy would take the update)."""
    if in_place:
        if not hasattr(x, "dtype"):
            raise ValueError(
                f"{name} is updated in place, so it must be an array, got {describe(x)}"
            )
        if isinstance(x, np.ndarray) and not x.dtype.isnative:
            raise ValueError(
                f"{name} is big-endian ({describe(x)}) and is updated in place: "
                f"convert it first with x.astype(x.dtype.newbyteorder('='))"
            )
        a = x
    else:
        a = xp.ascontiguousarray(native(_asarray(xp, x, name)))
    if a.dtype.name not in TABLE_DTYPES:
        raise ValueError(f"{name} must be float32, float16 or bfloat16, got {describe(a)}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D [V, D], got {describe(a)}")
    return a


def check_seed(seed: object) -> int:
    """`seed` as an int in `[0, 2^63)` (an int64 attribute), else ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int in [0, 2^63), got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be an int in [0, 2^63), got {int(seed)}")
    return int(seed)
