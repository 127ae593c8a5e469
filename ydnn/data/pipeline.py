"""A tf.data pipeline over prepared examples."""

import numpy as np
import tensorflow as tf

from ydnn.data.examples import Examples
from ydnn.data.sequence_data import ITEM_COLUMN, SequenceData


def to_dataset(
    examples,
    batch_size,
    shuffle=True,
    seed=None,
    repeat=False,
    drop_remainder=False,
    item_column=ITEM_COLUMN,
    include_lengths=False,
    include_user=False,
    seen=None,
    prefetch=tf.data.AUTOTUNE,
):
    """Batches of `(features, target)` from `Examples`, prefetched.

    The arrays go in once (`from_tensor_slices`); with `shuffle`, a seeded
    permutation of row indices is batched and each batch gathered, so a
    shuffle costs `O(N)` int64 of buffer rather than `N` full rows, and the
    order is the same for the same `seed` on every run. Each pass over the
    data (with `repeat`) reshuffles, deterministically.

    Args:
        examples: `Examples` (e.g. `SequenceData.train`).
        batch_size: rows per batch, >= 1.
        shuffle: shuffle rows (every epoch anew).
        seed: int seed of the shuffle; `None` draws one (not reproducible).
        repeat: `True` for an endless dataset, an int for that many passes.
        drop_remainder: drop a last, smaller batch (static batch shape).
        item_column: feature name of the history (the schema's column name).
        include_lengths: add `f"{item_column}_length"` `[B]` int32.
        include_user: add `"user_index"` `[B]` int32.
        seen: a `SequenceData` (or an `(indptr, items)` CSR by user index)
            to add `"seen_items"`, a `tf.RaggedTensor` `[B, None]` int32 of
            each row's user's items before the held-out one: what full-catalog
            evaluation masks out with "exclude seen". Meant for test rows.
        prefetch: batches to prefetch (`tf.data.AUTOTUNE`), or 0 for none.

    Returns:
        `tf.data.Dataset` of `({item_column: int32 [B, H], ...}, int32 [B])`.

    Raises:
        TypeError: `examples` is not `Examples`.
        ValueError: `batch_size` or `repeat` is bad.

    Example:
    ```python
    ds = to_dataset(data.train, batch_size=256, seed=0)
    features, target = next(iter(ds))
    features["item_id"].shape     # (256, 20)
    ```
    """
    if not isinstance(examples, Examples):
        raise TypeError(
            f"to_dataset takes ydnn.data.Examples (e.g. data.train), got {type(examples).__name__}"
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if (
        repeat is not True
        and repeat is not False
        and (not isinstance(repeat, (int, np.integer)) or repeat < 1)
    ):
        raise ValueError(f"repeat must be True, False or a count >= 1, got {repeat!r}")
    n = len(examples)
    columns = {item_column: examples.history}
    if include_lengths:
        columns[f"{item_column}_length"] = examples.lengths
    if include_user:
        columns["user_index"] = examples.user
    tensors = ({k: tf.constant(v) for k, v in columns.items()}, tf.constant(examples.target))
    if seen is not None:
        tensors[0]["seen_items"] = _seen_rows(seen, examples.user)

    if shuffle and n > 0:
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        ds = tf.data.Dataset.range(n).shuffle(n, seed=int(seed), reshuffle_each_iteration=True)
        ds = _repeat(ds, repeat).batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(
            lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        ds = tf.data.Dataset.from_tensor_slices(tensors)
        ds = _repeat(ds, repeat).batch(batch_size, drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(prefetch)
    return ds


def _seen_rows(seen, users):
    if isinstance(seen, SequenceData):
        indptr, items = seen.seen_indptr, seen.seen_items
    else:
        try:
            indptr, items = (np.asarray(a) for a in seen)
        except (TypeError, ValueError):
            raise TypeError("seen must be a SequenceData or an (indptr, items) pair") from None
    if indptr.ndim != 1 or len(indptr) < 1 or indptr[-1] != len(items):
        raise ValueError(
            f"seen CSR is inconsistent: indptr {indptr.shape} ending at "
            f"{indptr[-1] if len(indptr) else None}, {len(items)} items"
        )
    if len(users) and users.max() >= len(indptr) - 1:
        raise ValueError(
            f"seen covers {len(indptr) - 1} users but examples reference user {int(users.max())}"
        )
    per_user = tf.RaggedTensor.from_row_splits(
        tf.constant(items, tf.int32), tf.constant(indptr, tf.int64)
    )
    return tf.gather(per_user, tf.constant(users, tf.int32))


def _repeat(ds, repeat):
    if repeat is True:
        return ds.repeat()
    if repeat is False:
        return ds
    return ds.repeat(int(repeat))
