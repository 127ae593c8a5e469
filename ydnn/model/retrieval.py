"""Full-catalog retrieval methods of the retrieval model (a mixin)."""

from typing import Any

import numpy as np

from ydnn.io import Dataset, Loader
from ydnn.model._mixin_base import MixinBase
from ydnn.model.top_k import candidate_rows, top_k_items
from ydnn.schema import Tags


class RetrievalMixin(MixinBase):
    """Top-k retrieval, embedding export and the top-k encoder.

    Mixed into `YoutubeDNNRetrievalModelV2`; relies on its `item_table`,
    `post`, `min_sampled_id`, `max_id`, `candidate` and `exclude_seen`.
    """

    def seen_items(self, features):
        """Ids each row has already seen: its `seen_items` feature, else its history."""
        return features.get("seen_items", features.get(self.candidate.name))

    def retrieve(self, query: Any, k: int, exclude: Any = None) -> tuple[Any, Any]:
        """Top-k over the whole catalog: `(scores [B, k], ids [B, k])`.

        Ids below `min_sampled_id` are never returned; `exclude` (ragged or
        0-padded ids per row) removes more. With `ops="fused"` the
        `topk_scores` kernel scores the catalog, with `ops="stock"` TF's
        matmul + `tf.math.top_k`: the same ids in the same order.
        """
        return top_k_items(
            query,
            self.item_table,
            k,
            post=self.post,
            min_id=self.min_sampled_id,
            exclude=exclude,
            fused=self.ops == "fused",
        )

    def candidate_embeddings(
        self, data: Any = None, index: Any = None, batch_size: int | None = None
    ) -> Dataset:
        """Every item's embedding, `post` applied, as Merlin returns them.

        A `ydnn.Dataset` of one row per id of the vocabulary (`int_domain.max
        + 1` rows, padding and reserved ids included, as Merlin), indexed by
        item id (the index named after the item-id column), columns `"0"` ..
        `"D-1"`; `.compute()` gives the pandas DataFrame. `data`, `index` and
        `batch_size` are accepted for Merlin's signature and not needed: the
        candidates are the rows of the item table.
        """
        rows = candidate_rows(self.item_table, 0, self.max_id + 1, self.post).numpy()
        return _embeddings_dataset(rows, np.arange(self.max_id + 1), self.candidate.name)

    def query_embeddings(
        self, data: Any, batch_size: int | None = None, index: str | Tags | None = Tags.USER_ID
    ) -> Dataset:
        """Query embeddings of every row of `data`, as Merlin returns them.

        Args:
            data: a `ydnn.Dataset` or `Loader` (read in order, unshuffled), or
                a `tf.data.Dataset` of feature dicts (or `(features, y)`).
            batch_size: rows per batch for a `Dataset` (default 1024).
            index: the column (or tag of one column) whose values index the
                rows, default the user id; `None` numbers the rows 0..N-1.

        Returns:
            A `ydnn.Dataset` over a DataFrame `[N, D]`, columns `"0"` ..
            `"D-1"`, indexed by `index`'s values; `.compute()` gives it.

        Raises:
            ValueError: `index` names no column of the data's schema.
        """
        name = None
        if index is not None:
            schema = (
                data.dataset.schema
                if isinstance(data, Loader)
                else getattr(data, "schema", self.schema)
            )
            name = index if isinstance(index, str) and index in schema.column_names else None
            if name is None:
                try:
                    name = schema.column_by_tag(index).name
                except (ValueError, KeyError) as e:
                    raise ValueError(
                        f"index {str(index)!r} is neither a column nor the tag of "
                        f"one column of the data's schema: {e}"
                    ) from None
        data = _in_row_order(data, batch_size)
        queries, keys = [], []
        for batch in data:
            x = batch[0] if isinstance(batch, tuple) else batch
            queries.append(self(x, training=False).numpy())
            if name is not None:
                if name not in x:
                    raise ValueError(f"index column {name!r} is not among the features {sorted(x)}")
                keys.append(np.reshape(x[name].numpy(), [-1]))
        rows = np.concatenate(queries) if queries else np.zeros((0, self.item_dim), np.float32)
        ids = np.concatenate(keys) if keys else np.arange(len(rows))
        return _embeddings_dataset(rows, ids, name)

    def to_top_k_encoder(self, k: int = 10, exclude_seen: bool = False) -> Any:
        """A Keras model mapping features to `(scores [B, k], ids [B, k])`."""
        from ydnn.model.top_k_encoder import TopKEncoder

        return TopKEncoder(self, k=k, exclude_seen=exclude_seen)

    def batch_predict(
        self, data: Any, k: int = 10, exclude_seen: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k `(scores [N, k], ids [N, k])` for every row of a dataset."""
        encoder = self.to_top_k_encoder(k, exclude_seen)
        data = _in_row_order(data)
        scores, ids = [], []
        for batch in data:
            x = batch[0] if isinstance(batch, tuple) else batch
            s, i = encoder(x)
            scores.append(s.numpy())
            ids.append(i.numpy())
        return np.concatenate(scores), np.concatenate(ids)


def _embeddings_dataset(rows, ids, index_name):
    """Merlin's embedding export: a DataFrame `[N, D]`, columns "0".."D-1", indexed by `ids`."""
    import pandas as pd

    frame = pd.DataFrame(
        rows, columns=[str(i) for i in range(rows.shape[1])], index=pd.Index(ids, name=index_name)
    )
    return Dataset(frame)


def _in_row_order(data, batch_size=None):
    """`data` as batches in row order: a `Dataset` through an unshuffled
    `Loader` (`batch_size`, default 1024), a `Loader` unshuffled with its
    transforms kept; anything else as given."""
    if isinstance(data, Dataset):
        data = Loader(data, batch_size or 1024, shuffle=False)
    if isinstance(data, Loader):
        data = data.unshuffled().to_tf_dataset()
    return data
