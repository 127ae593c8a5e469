"""How ydnn's ops take an embedding table: a tensor, or a variable read in place."""

import tensorflow as tf
from tensorflow.python.ops import resource_variable_ops

TABLE_DTYPES = (tf.float32, tf.float16, tf.bfloat16)


def table_variable(table):
    """The tf.Variable behind a tf.Variable or a Keras 3 Variable, else None."""
    if isinstance(table, tf.Variable):
        return table
    inner = getattr(table, "value", None)  # keras.Variable on the TF backend
    if isinstance(inner, tf.Variable) and hasattr(table, "assign"):
        return inner
    return None


def table_input(table):
    """Returns `(variable or None, tensor or None, dtype)` after checking dtype and rank.

    A variable is marked accessed: reading its handle directly bypasses the
    variable's read hooks, and the tape and tf.function must still see the
    read (as ResourceVariable.sparse_read does).

    Raises:
        ValueError: for a table that is not a 2-D float32/float16/bfloat16.
    """
    var = table_variable(table)
    if var is None:
        table = tf.convert_to_tensor(table)
    dtype = var.dtype if var is not None else table.dtype
    if dtype not in TABLE_DTYPES:
        raise ValueError(f"table must be float32, float16 or bfloat16, got {dtype.name}")
    shape = var.shape if var is not None else table.shape
    if shape.rank is not None and shape.rank != 2:
        raise ValueError(f"table must be 2-D [V, D], got shape {shape}")
    if var is not None:
        resource_variable_ops.variable_accessed(var)
        return var, None, dtype
    return None, table, dtype


def table_dense_shape(table):
    """The int64 `[V, D]` of an op's table input (a tensor or a resource handle)."""
    if table.dtype == tf.resource:
        return resource_variable_ops.variable_shape(table, out_type=tf.int64)
    return tf.shape(table, out_type=tf.int64)
