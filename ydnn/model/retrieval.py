"""Full-catalog retrieval methods of the retrieval model (a mixin)."""

import numpy as np

from ydnn.model.top_k import candidate_rows, top_k_items


class RetrievalMixin:
    """Top-k retrieval, embedding export and the top-k encoder.

    Mixed into `YoutubeDNNRetrievalModelV2`; relies on its `item_table`,
    `post`, `min_sampled_id`, `max_id`, `candidate` and `exclude_seen`.
    """

    def seen_items(self, features):
        """Ids each row has already seen: its `seen_items` feature, else its history."""
        return features.get("seen_items", features.get(self.candidate.name))

    def retrieve(self, query, k, exclude=None):
        """Top-k over the whole catalog: `(scores [B, k], ids [B, k])`.

        Ids below `min_sampled_id` are never returned; `exclude` (ragged or
        0-padded ids per row) removes more.
        """
        return top_k_items(query, self.item_table, k, post=self.post, min_id=self.min_sampled_id,
                           exclude=exclude)

    def candidate_embeddings(self):
        """`(ids [V], embeddings [V, D])` of every item, `post` applied."""
        rows = candidate_rows(self.item_table, 0, self.max_id + 1, self.post)
        return np.arange(self.max_id + 1), rows.numpy()

    def query_embeddings(self, data, batch_size=1024):
        """Query embeddings `[N, D]` of a dataset of features (or `(features, y)`)."""
        return self.predict(data, batch_size=batch_size, verbose=0)

    def to_top_k_encoder(self, k=10, exclude_seen=False):
        """A Keras model mapping features to `(scores [B, k], ids [B, k])`."""
        from ydnn.model.top_k_encoder import TopKEncoder

        return TopKEncoder(self, k=k, exclude_seen=exclude_seen)

    def batch_predict(self, data, k=10, exclude_seen=False):
        """Top-k `(scores [N, k], ids [N, k])` for every row of a dataset."""
        encoder = self.to_top_k_encoder(k, exclude_seen)
        scores, ids = [], []
        for batch in data:
            x = batch[0] if isinstance(batch, tuple) else batch
            s, i = encoder(x)
            scores.append(s.numpy())
            ids.append(i.numpy())
        return np.concatenate(scores), np.concatenate(ids)
