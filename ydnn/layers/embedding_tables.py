"""Embedding tables: their default width and initializer, their storage
dtypes, and their creation (a slice of rows at a time when large)."""

import math

import keras
import tensorflow as tf

TABLE_DTYPES = ("float32", "bfloat16", "float16")


def infer_embedding_dim(vocabulary_size):
    """Merlin's rule: ceil(2 * cardinality^0.25), rounded up to a multiple of 8."""
    return int(8 * math.ceil(math.ceil(2.0 * vocabulary_size**0.25) / 8))


def table_initializer(width):
    """Default table initializer: truncated normal, stddev `1/sqrt(width)`.

    Rows start near unit norm whatever their width. Merlin's fixed 0.05
    leaves a 64-wide row at norm 0.4, and with Adam (a step of about `lr`
    per touch) the tables then spend most of a short run growing to a useful
    scale: on MovieLens at lr 1e-3, 10 epochs, the validation Recall@10 is
    0.042 with 0.05 and 0.049 with 1/sqrt(64) (bench/RESULTS.md).
    """
    return keras.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(width))


# Tables with more elements than this are initialised a slice of rows at a
# time: a whole-table initializer holds about 3.5x the table in temporaries
# (8.7 GB for a 2.6 GB float32 table of 10^7 rows), which a 10^8-row
# bfloat16 table (12.8 GB) cannot afford on a 24 GB machine.
CHUNKED_INIT_ELEMENTS = 1 << 24


def add_table(layer, name, rows, dim, initializer, dtype):
    """A `[rows, dim]` embedding table weight of `layer`, in `dtype`.

    Small tables call `initializer` once, as `add_weight` does. Larger ones
    start as zeros (an in-place buffer) and each slice of rows is drawn by
    the initializer and written with `scatter_update`, in place, so the peak
    is the table plus one slice. An initializer with an int seed gets
    `seed + slice index` per slice (else every slice would repeat the
    first); without one, each slice draws from Keras's global seed
    generator (`keras.utils.set_random_seed` fixes it).
    """
    initializer = keras.initializers.get(initializer)
    chunked = rows * dim > CHUNKED_INIT_ELEMENTS
    table = layer.add_weight(
        shape=(rows, dim),
        initializer="zeros" if chunked else initializer,
        dtype=dtype,
        autocast=False,  # the kernels read the variable in place, in its dtype
        name=name,
    )
    if chunked:
        step = max(1, CHUNKED_INIT_ELEMENTS // dim)
        config = initializer.get_config()
        seed = config.get("seed")
        for k, r0 in enumerate(range(0, rows, step)):
            r1 = min(rows, r0 + step)
            part = initializer
            if isinstance(seed, int):
                part = type(initializer).from_config({**config, "seed": seed + k})
            values = tf.cast(part((r1 - r0, dim), dtype="float32"), dtype)
            table.value.scatter_update(tf.IndexedSlices(values, tf.range(r0, r1)))
    return table
