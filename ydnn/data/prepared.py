"""`PreparedSequences`: leave-last-out examples written to Parquet, and their item table.

The directory `prepare_sequences_dask` writes (whole or not at all):

```
OUT/prepared.json          sizes, max_history, min_interactions, source column names
OUT/items.parquet          id (1..N), item_id (original), count, train_count
OUT/users.parquet          user (0..U-1), user_id (original)
OUT/train/part.*.parquet   item_id (history, list<int32>), target, user, position
OUT/train/schema.json      item_id + target, as `SequenceData.schema` (histories ragged)
OUT/test/part.*.parquet    the same columns plus seen_items (list<int32>)
OUT/test/schema.json
```

`train/part.K` and `test/part.K` hold the same users; within a file rows run
by user index, then by position (the target's index in the user's time-ordered
sequence), which is the in-memory `Examples` order. `seen_items` is what
"exclude seen" removes for the test row (`SequenceData.seen`). The schema
files list only `item_id` and `target`, so `ydnn.Dataset` and `ydnn.Loader`
feed the model what `ydnn.data.to_dataset` feeds it; `user`, `position` and
`seen_items` are there for evaluation and for reassembling the splits.
"""

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ydnn.data.sequence_data import sequence_schema
from ydnn.schema import Schema

if TYPE_CHECKING:  # ydnn.io imports TensorFlow; the files are read without it
    from ydnn.io import Dataset

META_FILE = "prepared.json"
ITEMS_FILE = "items.parquet"
USERS_FILE = "users.parquet"
SPLITS = ("train", "test")
FILES = (META_FILE, ITEMS_FILE, USERS_FILE, *SPLITS)
FORMAT = "ydnn.prepared_sequences"
FORMAT_VERSION = 1


def padding_id(dtype: np.dtype) -> Any:
    """The slot-0 placeholder `prepare_sequences` puts in `item_ids` for `dtype`:
    a value no real id can take where the dtype has one."""
    return {"i": -1, "f": np.nan, "u": 0, "b": False}.get(dtype.kind)


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedSequences:
    """A log prepared by `prepare_sequences_dask`: where the splits are, and the item table.

    The arrays follow `SequenceData`: item ids `1..num_items` by decreasing
    frequency (ties by original id), slot 0 padding.

    Attributes:
        path: the directory.
        num_items: `N`, the largest item id.
        max_history: `H`.
        min_interactions: the fewest interactions a kept user had.
        num_train: training rows (`num_test` is `num_users`: one per user).
        item_ids: `[N + 1]` original item ids by new id (slot 0 a placeholder).
        user_ids: `[U]` original user ids by user index (the `user` column).
        item_counts: `[N + 1]` int64 interactions per item over the kept log.
        train_item_counts: `[N + 1]` int64 counts without the held-out items.

    Example:
    ```python
    prepared = ydnn.data.PreparedSequences.read("prepared/")
    loader = ydnn.Loader(prepared.dataset("train"), batch_size=1024)
    model = ydnn.YoutubeDNNRetrievalModelV2(prepared.schema(), num_sampled=100)
    ```
    """

    path: str
    num_items: int
    max_history: int
    min_interactions: int
    num_train: int
    item_ids: np.ndarray
    user_ids: np.ndarray
    item_counts: np.ndarray
    train_item_counts: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_test(self) -> int:
        return len(self.user_ids)

    def split_path(self, split: str) -> str:
        """The directory of `split` (`"train"` or `"test"`).

        Raises:
            ValueError: another split name, naming it.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return os.path.join(self.path, split)

    def schema(self, embedding_dim: int | None = None) -> Schema:
        """The splits' schema: `item_id` (ragged history) and `target`, as in the schema files."""
        return sequence_schema(self.num_items, self.max_history, embedding_dim, ragged=True)

    def dataset(self, split: str = "train") -> "Dataset":
        """`ydnn.Dataset` of a split, with the schema file beside its Parquet files."""
        from ydnn.io import Dataset

        return Dataset(self.split_path(split))

    def summary(self) -> dict:
        """Counts as a dict, as `SequenceData.summary` gives them."""
        return {
            "users": self.num_users,
            "items": self.num_items,
            "train_examples": self.num_train,
            "test_examples": self.num_test,
            "interactions": int(self.item_counts.sum()),
            "max_history": self.max_history,
        }

    @classmethod
    def read(cls, path: str | os.PathLike) -> "PreparedSequences":
        """The directory `prepare_sequences_dask` wrote at `path`.

        Raises:
            FileNotFoundError: `path` holds no `prepared.json`.
            ValueError: a `prepared.json` of another format or a newer version.
        """
        import pyarrow.parquet as pq

        path = os.fspath(path)
        meta_path = os.path.join(path, META_FILE)
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(
                f"{path!r} holds no {META_FILE}: not a directory written by "
                f"ydnn.data.prepare_sequences_dask"
            )
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("format") != FORMAT or meta.get("version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"{meta_path!r} is not a {FORMAT} file of version <= {FORMAT_VERSION} "
                f"(format {meta.get('format')!r}, version {meta.get('version')!r})"
            )
        items = pq.read_table(os.path.join(path, ITEMS_FILE)).to_pandas()
        users = pq.read_table(os.path.join(path, USERS_FILE)).to_pandas()
        originals = items["item_id"].to_numpy()
        if originals.dtype.kind not in "iufb":
            originals = originals.astype(object)  # strings: as prepare_sequences holds them
        item_ids = np.empty(len(items) + 1, originals.dtype)
        item_ids[0] = padding_id(originals.dtype)
        item_ids[1:] = originals
        counts = np.zeros((2, len(items) + 1), np.int64)
        counts[0, 1:] = items["count"].to_numpy()
        counts[1, 1:] = items["train_count"].to_numpy()
        user_ids = users["user_id"].to_numpy()
        return cls(
            path=path,
            num_items=int(meta["num_items"]),
            max_history=int(meta["max_history"]),
            min_interactions=int(meta["min_interactions"]),
            num_train=int(meta["num_train"]),
            item_ids=item_ids,
            user_ids=user_ids if user_ids.dtype.kind in "iufb" else user_ids.astype(object),
            item_counts=counts[0],
            train_item_counts=counts[1],
        )
