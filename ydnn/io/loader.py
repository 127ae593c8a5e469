"""`Loader`: shuffled batches of a `Dataset` as model inputs (Merlin's `mm.Loader`)."""

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from ydnn.io.columns import Block, Ragged
from ydnn.io.dataset import Dataset
from ydnn.layers._args import bool_arg, choice_arg, int_arg
from ydnn.schema import Schema, Tags

LISTS = ("ragged", "padded")
# Rows shuffled together: pieces (row groups) are read in a random order and
# accumulated up to this many rows before the rows are permuted, so small row
# groups still mix; memory stays bounded by it (plus one piece).
DEFAULT_SHUFFLE_ROWS = 1 << 20
# Rows per element handed from Python to tf.data (a whole number of batches).
CHUNK_ROWS = 1 << 15


class Loader:
    """Batches of a `Dataset`'s schema columns, ready for `fit` / `evaluate` / `predict`.

    Each batch is `(features, targets)`, as Merlin's loader gives them:
    `features` a dict `{column: tensor}`, scalar columns `[B]`, list
    columns `tf.RaggedTensor [B, None]` (or, with `lists="padded"`, `[B, L]`
    right-padded with 0 to the schema's `value_count` max); `targets` the
    columns tagged `target` (one tensor, a dict for several, None for
    none). Iterating again starts a new epoch: with
    `shuffle`, pieces and rows come in a new order each epoch (reproducible
    with `seed`). Reading streams row groups, so memory holds at most
    `shuffle_rows` rows.

    Args:
        dataset: a `ydnn.Dataset`, or what `ydnn.Dataset` takes (paths).
        batch_size: rows per batch, an int >= 1.
        shuffle: shuffle rows each epoch (a bool).
        seed: int seed of the shuffle; default one drawn from NumPy's global
            generator (so `keras.utils.set_random_seed` fixes it).
        drop_last: leave out the last, smaller batch.
        lists: `"ragged"` or `"padded"`.
        shuffle_rows: rows shuffled together (default 2^20).
        transforms: callables applied as `map` applies them (Merlin's
            `transforms=`).
        global_size, global_rank: read only share `global_rank` of
            `global_size` (Merlin's names, as with Horovod). Pieces (Parquet
            row groups) go to shares of about equal rows, and every rank
            yields the same number of full batches, the least any share's
            rows make (`drop_last` does not apply), so data-parallel
            workers take equal steps. Under a multi-worker `tf.distribute`
            strategy `fit` fills them in from the worker's place.

    Raises:
        ValueError: a bad argument (naming it and its value); when reading,
            a null, a list longer than the padded width, or a column the
            model cannot take (naming the column and the file).

    Example:
    ```python
    loader = ydnn.Loader(ydnn.Dataset("train/"), batch_size=1024)
    pre = ydnn.SequencePredictLast(schema=seq_schema, target="item_id_seq")
    model.fit(loader, epochs=3, pre=pre)
    ```
    """

    def __init__(
        self,
        dataset: Dataset | str | list,
        batch_size: int,
        shuffle: bool = True,
        seed: int | None = None,
        drop_last: bool = False,
        *,
        lists: str = "ragged",
        shuffle_rows: int = DEFAULT_SHUFFLE_ROWS,
        transforms: Callable | list[Callable] | None = None,
        global_size: int | None = None,
        global_rank: int | None = None,
    ) -> None:
        if isinstance(dataset, (str, list)):  # Merlin's Loader takes paths too
            dataset = Dataset(dataset)
        if not isinstance(dataset, Dataset):
            raise ValueError(
                f"dataset must be a ydnn.Dataset (e.g. ydnn.Dataset('train/')) or "
                f"its path, got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.batch_size = int_arg("batch_size", batch_size, 1)
        self.shuffle = bool_arg("shuffle", shuffle)
        self.drop_last = bool_arg("drop_last", drop_last)
        self.seed = int(np.random.randint(2**31 - 1)) if seed is None else int_arg("seed", seed, 0)
        self.lists = choice_arg("lists", lists, LISTS)
        self.shuffle_rows = int_arg("shuffle_rows", shuffle_rows, 1)
        self.global_size, self.global_rank = _share(dataset, global_size, global_rank)
        self._check_shares()
        self._transforms: list[Callable] = []
        self._epochs = [0]  # the next epoch; a share made by `sharded` counts on with it
        for fn in (
            []
            if transforms is None
            else transforms
            if isinstance(transforms, (list, tuple))
            else [transforms]
        ):
            self.map(fn)

    # The dataset's schema as it is now: `data.schema = ...` after the loader
    # was made changes what the next epoch reads, as in Merlin.
    @property
    def schema(self) -> Schema:
        return self.dataset.schema

    @property
    def target_names(self) -> list[str]:
        return self.schema.select_by_tag(Tags.TARGET).column_names

    @property
    def feature_names(self) -> list[str]:
        targets = set(self.target_names)
        return [n for n in self.schema.column_names if n not in targets]

    # -- Merlin's Loader API -----------------------------------------------------
    def map(self, fn: Callable) -> "Loader":
        """Apply `fn` to every batch, as Merlin's `Loader.map`; returns the loader.

        `fn(features, targets)` when the batch has targets; without targets
        `fn(features)`, or `fn(features, None)` when `fn` requires a second
        argument (Merlin calls `fn(*batch)` with `targets` None).
        """
        if not callable(fn):
            raise ValueError(f"map takes a callable, got {fn!r}")
        self._transforms.append(fn)
        return self

    def peek(self) -> Any:
        """The first batch of the next epoch, without starting it (the next
        epoch's order stays what it would have been)."""
        return _merlin_batch(next(iter(self.to_tf_dataset(epoch=self._epochs[0]))))

    def stop(self) -> None:
        """Nothing to stop: the reading happens inside each epoch's iterator (Merlin API)."""

    def unshuffled(self) -> "Loader":
        """This loader in file order (same batches, lists, transforms): for
        embeddings and predictions that must line up with the rows."""
        return self._copy(False, self.global_size, self.global_rank)

    def sharded(self, global_size: int, global_rank: int) -> "Loader":
        """This loader reading share `global_rank` of `global_size` (see the class)."""
        copy = self._copy(self.shuffle, global_size, global_rank)
        copy._epochs = self._epochs  # the next fit's epochs shuffle anew, as the loader's would
        return copy

    def _copy(self, shuffle: bool, global_size: int, global_rank: int) -> "Loader":
        copy = Loader(
            self.dataset,
            self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            drop_last=self.drop_last,
            lists=self.lists,
            shuffle_rows=self.shuffle_rows,
            global_size=global_size,
            global_rank=global_rank,
        )
        copy._transforms = list(self._transforms)
        return copy

    def __len__(self):
        if self.global_size > 1:
            return min(rows // self.batch_size for rows in self._rank_rows())
        full, rest = divmod(self.dataset.num_rows, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _assign_shares(self):
        """`(owner rank of each piece, rows per rank)`: the largest pieces
        first, each to the rank with the fewest rows so far (ties to the lower
        rank), so uneven row groups still give shares of about equal rows."""
        rows = self.dataset.piece_rows
        owner, load = np.zeros(len(rows), np.int64), [0] * self.global_size
        for piece in sorted(range(len(rows)), key=lambda i: (-rows[i], i)):
            rank = min(range(self.global_size), key=lambda r: (load[r], r))
            owner[piece], load[rank] = rank, load[rank] + rows[piece]
        return owner, load

    def _rank_pieces(self, rank):
        return np.flatnonzero(self._owner == rank)

    def _rank_rows(self):
        return self._share_rows

    def _check_shares(self):
        if self.global_size == 1:
            self._owner = np.zeros(self.dataset.npartitions, np.int64)
            self._share_rows = [self.dataset.num_rows]
            return
        self._owner, self._share_rows = self._assign_shares()
        rows = self._share_rows
        if min(rows) < self.batch_size:
            raise ValueError(
                f"global_size {self.global_size}: the smallest share holds {min(rows)} rows, "
                f"fewer than batch_size {self.batch_size} (rows per share: {rows}); lower "
                f"batch_size, or write the data in more, smaller row groups"
            )

    def __iter__(self):
        """Batches as Merlin's loader yields them: `(features, targets)`,
        targets None when the schema has no target column."""
        return (_merlin_batch(b) for b in self.to_tf_dataset())

    # -- batches -------------------------------------------------------------------
    def numpy_chunks(self, epoch: int | None = None) -> Iterator[Block]:
        """One epoch as `Block`s of whole batches (rows already in batch order).

        Every chunk holds a multiple of `batch_size` rows but the last, which
        holds the rest (none with `drop_last`). Rows are shuffled within
        `shuffle_rows`-row buffers of pieces read in a shuffled order.
        """
        if epoch is None:
            epoch = self._epochs[0]
            self._epochs[0] += 1
        rng = np.random.default_rng([self.seed, epoch])
        if self.global_size > 1:
            yield from self._share_chunks(rng)
            return
        pieces = rng.permutation(self.dataset.npartitions) if self.shuffle else None
        fill = self.shuffle_rows if self.shuffle else self.batch_size
        pending, buffered = [], 0
        for block in self.dataset.iter_blocks(self.schema.column_names, pieces):
            pending.append(block)
            buffered += block.n
            if buffered < fill:
                continue
            rows = Block.concat(pending)
            if self.shuffle:
                rows = rows.take(rng.permutation(rows.n))
            full = rows.n - rows.n % self.batch_size
            yield from self._pieces_of(rows, full)
            pending, buffered = [rows.slice(full, rows.n)], rows.n - full
        rows = Block.concat(pending)
        if rows is None:
            return
        if self.shuffle:
            rows = rows.take(rng.permutation(rows.n))
        yield from self._pieces_of(
            rows, rows.n - rows.n % self.batch_size if self.drop_last else rows.n
        )

    def _share_chunks(self, rng):
        """This rank's `len(self)` full batches: its pieces (shuffled, rows
        shuffled within `shuffle_rows`), cut where the smallest share ends."""
        pieces = self._rank_pieces(self.global_rank)
        if self.shuffle:
            pieces = rng.permutation(pieces)
        fill = self.shuffle_rows if self.shuffle else self.batch_size
        left = len(self) * self.batch_size
        pending, buffered = [], 0
        for block in self.dataset.iter_blocks(self.schema.column_names, pieces):
            pending.append(block)
            buffered += block.n
            if buffered < fill and buffered < left:
                continue
            rows = Block.concat(pending)
            if self.shuffle:
                rows = rows.take(rng.permutation(rows.n))
            full = min(rows.n - rows.n % self.batch_size, left)
            yield from self._pieces_of(rows, full)
            left -= full
            if not left:
                return
            pending, buffered = [rows.slice(full, rows.n)], rows.n - full
        rows = Block.concat(pending)
        if self.shuffle:
            rows = rows.take(rng.permutation(rows.n))
        yield from self._pieces_of(rows, left)

    def _pieces_of(self, rows, stop):
        """Rows `[0, stop)` in chunks of whole batches of about CHUNK_ROWS rows:
        TF gets the first batches of a buffer while the rest converts."""
        step = max(1, CHUNK_ROWS // self.batch_size) * self.batch_size
        for start in range(0, stop, step):
            yield rows.slice(start, min(start + step, stop))

    def numpy_batches(self, epoch: int | None = None) -> Iterator[Block]:
        """One epoch of batches as `Block`s of NumPy columns (see `ydnn.io.columns`)."""
        for chunk in self.numpy_chunks(epoch):
            for start in range(0, chunk.n, self.batch_size):
                yield chunk.slice(start, min(start + self.batch_size, chunk.n))

    def _flat(self, block):
        out = [np.int64(block.n)]
        for name in self.schema.column_names:
            col = block.columns[name]
            if isinstance(col, Ragged):
                if self.lists == "padded":
                    out.append(self._padded(name, col))
                else:
                    out.extend((col.values, col.offsets))
            else:
                out.append(col)
        return tuple(out)

    def _padded(self, name, col):
        lengths = col.lengths()
        count = self.schema[name].value_count
        width = count[1] if count and count[1] else int(lengths.max(initial=0))
        if lengths.size and lengths.max() > width:
            raise ValueError(
                f"column {name!r} has a list of {lengths.max()} values but the "
                f"schema's value_count max is {width}; fix the schema, or use "
                f"lists='ragged'"
            )
        dense = np.zeros((len(lengths), width), col.values.dtype)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        dense[rows, np.arange(len(col.values)) - col.offsets[rows]] = col.values
        return dense

    def _signature(self):
        spec = [tf.TensorSpec([], tf.int64)]  # rows in the chunk
        for col in self.schema:
            dtype = tf.as_dtype(self.dataset.dtype(col.name))
            if not col.is_list:
                spec.append(tf.TensorSpec([None], dtype))
            elif self.lists == "padded":
                spec.append(tf.TensorSpec([None, None], dtype))
            else:
                spec.extend((tf.TensorSpec([None], dtype), tf.TensorSpec([None], tf.int64)))
        return tuple(spec)

    def _batch(self, flat, start, stop):
        """Rows `[start, stop)` of a chunk as `features` or `(features, targets)`."""
        values, i = {}, 0
        for col in self.schema:
            if col.is_list and self.lists == "ragged":
                offsets = flat[i + 1]
                lo, hi = offsets[start], offsets[stop]
                values[col.name] = tf.RaggedTensor.from_row_splits(
                    flat[i][lo:hi], offsets[start : stop + 1] - lo, validate=False
                )
                i += 2
            else:
                values[col.name] = flat[i][start:stop]
                i += 1
        features = {n: values[n] for n in self.feature_names}
        if not self.target_names:
            return features
        if len(self.target_names) == 1:
            return features, values[self.target_names[0]]
        return features, {n: values[n] for n in self.target_names}

    def to_tf_dataset(
        self, pre: Callable | None = None, epoch: int | None = None
    ) -> tf.data.Dataset:
        """The loader as a `tf.data.Dataset` (one epoch per iteration), its
        `map` transforms then `pre` applied to each batch.

        Python hands TF one chunk of many batches at a time (a generator's
        per-element cost would bound the rate at small batches); each batch
        is sliced from it and transformed in one tf.data function, so the
        ragged features cross no stage boundary (each costs an encode and a
        decode of every ragged tensor).
        """
        size = self.batch_size
        transforms = self._transforms + ([pre] if pre is not None else [])

        def one_batch(flat, start, stop):
            batch = self._batch(flat, start, stop)
            for fn in transforms:
                batch = apply_transform(fn, batch if isinstance(batch, tuple) else (batch,))
            return batch

        def batches(rows, *flat):
            count = (rows + size - 1) // size
            return tf.data.Dataset.range(count).map(
                lambda b: one_batch(flat, b * size, tf.minimum(b * size + size, rows))
            )

        ds = tf.data.Dataset.from_generator(
            lambda: (self._flat(c) for c in self.numpy_chunks(epoch)),
            output_signature=self._signature(),
        )
        ds = ds.flat_map(batches)
        # The exact batch count: Keras then shows progress and expects no
        # more (an unknown count makes it warn that the data ran out).
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(self)))
        return ds.prefetch(tf.data.AUTOTUNE)

    def __repr__(self):
        share = (
            f", global_size={self.global_size}, global_rank={self.global_rank}"
            if self.global_size > 1
            else ""
        )
        return (
            f"ydnn.Loader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}{share})"
        )


def _share(dataset: Dataset, size: int | None, rank: int | None) -> tuple[int, int]:
    """`(global_size, global_rank)` checked: both or neither, rank in range,
    and at least one piece for every rank."""
    if size is None and rank is None:
        return 1, 0
    if size is None or rank is None:
        raise ValueError(
            f"global_size and global_rank go together, got global_size={size!r}, "
            f"global_rank={rank!r}"
        )
    size = int_arg("global_size", size, 1)
    rank = int_arg("global_rank", rank, 0)
    if rank >= size:
        raise ValueError(f"global_rank must be in 0..{size - 1} (global_size {size}), got {rank}")
    if size > dataset.npartitions:
        raise ValueError(
            f"global_size {size} (the ranks; under a multi-worker strategy, the workers) is "
            f"more than the dataset's {dataset.npartitions} pieces (Parquet row groups, or "
            f"slices of an in-memory table): write the data in at least {size} row groups"
        )
    return size, rank


def apply_transform(fn: Callable, batch: tuple) -> Any:
    """`fn` on one batch `(features[, targets[, weights]])`, as Merlin calls `pre`
    and `map` functions: `fn(features, targets)`; without targets `fn(features)`,
    or `fn(features, None)` when `fn` requires a second argument. A tuple
    result replaces features and targets; a dict replaces the features."""
    features, rest = batch[0], tuple(batch[1:])
    if rest and rest[0] is not None:
        out = fn(features, rest[0])
    else:
        out = fn(features, None) if _requires_two(fn) else fn(features)
    if isinstance(out, tuple):
        return tuple(out) + rest[len(out) - 1 :] if len(out) == 2 else tuple(out)
    return (out,) + rest if rest else out


def _requires_two(fn: Callable) -> bool:
    """Whether `fn` (a Keras layer: its `call`) has two required positional parameters."""
    target = getattr(fn, "call", None) if hasattr(fn, "built") else fn
    try:
        params = inspect.signature(target if target is not None else fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return sum(p.default is p.empty for p in positional) >= 2


def _merlin_batch(batch: Any) -> tuple:
    """A batch as `(features, targets)`, targets None when there are none."""
    return batch if isinstance(batch, tuple) else (batch, None)
