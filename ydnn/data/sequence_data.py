"""Prepared training data: splits, item mapping, schema, seen items."""

import dataclasses

import numpy as np
import pandas as pd

from ydnn.data.examples import Examples
from ydnn.schema import ColumnSchema, Schema, Tags

ITEM_COLUMN = "item_id"
TARGET_COLUMN = "target"


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceData:
    """An interaction log prepared with the leave-last-out protocol.

    Build it with `ydnn.data.prepare_sequences`. Item ids are `1..num_items`
    by decreasing frequency (ties by original id); 0 is padding.

    Attributes:
        train: `Examples`, every position `t >= 1` but the last of each user.
        test: `Examples`, one row per user: the last interaction.
        num_items: `N`, the largest item id.
        item_ids: `[N + 1]` original item ids by new id (`item_ids[0]` is a
            placeholder for padding).
        user_ids: `[U]` original user ids by user index.
        item_counts: `[N + 1]` int64 interactions per item over the kept
            log (`item_counts[0] = 0`); non-increasing from id 1.
        train_item_counts: `[N + 1]` int64 counts without each user's held-out
            last item: the popularity a baseline may use.
        seen_indptr, seen_items: CSR of each user's distinct items before
            the held-out one (row `u` is `seen_items[seen_indptr[u]:
            seen_indptr[u+1]]`, sorted), to exclude them when ranking.
        sequence_indptr, sequence_items: CSR of each user's full item
            sequence in time order (test target included).
        max_history: `H`.
    """

    train: Examples
    test: Examples
    num_items: int
    item_ids: np.ndarray
    user_ids: np.ndarray
    item_counts: np.ndarray
    train_item_counts: np.ndarray
    seen_indptr: np.ndarray
    seen_items: np.ndarray
    sequence_indptr: np.ndarray
    sequence_items: np.ndarray
    max_history: int

    @property
    def num_users(self):
        return len(self.user_ids)

    # -- id mapping ---------------------------------------------------------
    def decode_items(self, ids):
        """Original item ids of new ids (`[...]` int); 0 (padding) is an error.

        Raises:
            ValueError: an id outside `1..num_items`, naming it.
        """
        ids = np.asarray(ids)
        bad = (ids < 1) | (ids > self.num_items)
        if bad.any():
            raise ValueError(
                f"item ids must be in 1..{self.num_items}, got {ids[bad].flat[0].item()}"
            )
        return self.item_ids[ids]

    def encode_items(self, original_ids, unknown=None):
        """New ids of original item ids.

        Args:
            original_ids: array-like of original ids.
            unknown: id for ids not in the log (e.g. 0); `None` raises.

        Raises:
            ValueError: an unknown id while `unknown` is `None`, naming it.
        """
        index = pd.Index(self.item_ids[1:])
        pos = index.get_indexer(np.asarray(original_ids).ravel()).reshape(np.shape(original_ids))
        if (pos < 0).any():
            if unknown is None:
                first = np.asarray(original_ids).ravel()[(pos < 0).ravel()][0]
                first = first.item() if isinstance(first, np.generic) else first
                raise ValueError(f"item {first!r} is not in the prepared log")
            return np.where(pos < 0, unknown, pos + 1).astype(np.int32)
        return (pos + 1).astype(np.int32)

    def user_index(self, original_user_id):
        """Index of an original user id (for `test` rows and `seen_items`).

        Raises:
            KeyError: the user is not in the prepared log (maybe dropped for
                having fewer interactions than the protocol's minimum).
        """
        pos = pd.Index(self.user_ids).get_indexer([original_user_id])[0]
        if pos < 0:
            raise KeyError(
                f"user {original_user_id!r} is not in the prepared data "
                f"(unknown, or dropped for too few interactions)"
            )
        return int(pos)

    def seen(self, user):
        """Distinct items user index `user` had before the held-out item."""
        return self.seen_items[self.seen_indptr[user] : self.seen_indptr[user + 1]]

    def seen_mask(self, users=None):
        """Dense `[len(users), N + 1]` bool mask of seen items (small N only)."""
        users = np.arange(self.num_users) if users is None else np.asarray(users)
        mask = np.zeros((len(users), self.num_items + 1), bool)
        for r, u in enumerate(users):
            mask[r, self.seen(u)] = True
        return mask

    # -- validation -----------------------------------------------------------
    def holdout(self):
        """The validation split inside this data: each user's second-to-last item held out.

        The training rows are `train` less each user's last row (the one
        whose target is the second-to-last item); those rows, one per user,
        are the validation rows; the seen items of a validation row are the
        user's distinct items before it. Item ids stay this data's, so a
        model tuned or early-stopped on the validation rows is tested on
        `test` (whose histories hold the validation item) without remapping,
        the protocol of next-item papers (train on `1..n-2`, validate on
        `n-1`, test on `n`). A user with 3 interactions keeps no training row.

        Returns:
            `(train, validation, seen)`: two `Examples` and the seen items as
            an `(indptr, items)` CSR by user index.
        """
        user = self.train.user
        if len(user) and np.any(np.diff(user) < 0):
            raise ValueError("train rows must be grouped by user in time order")
        last = np.flatnonzero(np.r_[user[1:] != user[:-1], True]) if len(user) else user
        keep = np.ones(len(user), bool)
        keep[last] = False
        # Seen before the validation item: sequence positions 0..n-3.
        lengths = np.diff(self.sequence_indptr)
        owner = np.repeat(np.arange(self.num_users), lengths)
        position = np.arange(len(owner)) - np.repeat(self.sequence_indptr[:-1], lengths)
        before = position < np.repeat(lengths - 2, lengths)
        pairs = np.unique(
            owner[before].astype(np.int64) * (self.num_items + 1) + self.sequence_items[before]
        )
        counts = np.bincount(pairs // (self.num_items + 1), minlength=self.num_users)
        indptr = np.zeros(self.num_users + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        items = (pairs % (self.num_items + 1)).astype(self.seen_items.dtype)
        return self.train.take(keep), self.train.take(last), (indptr, items)

    # -- schema -------------------------------------------------------------
    def schema(self, embedding_dim=None):
        """The columns `ydnn.data.to_dataset` yields, for the model (see `sequence_schema`)."""
        return sequence_schema(self.num_items, self.max_history, embedding_dim)

    def summary(self):
        """Counts as a dict, for logs and CLI output."""
        return {
            "users": self.num_users,
            "items": self.num_items,
            "train_examples": len(self.train),
            "test_examples": len(self.test),
            "interactions": int(self.sequence_indptr[-1]),
            "max_history": self.max_history,
        }


def sequence_schema(num_items, max_history, embedding_dim=None, ragged=False):
    """The schema of next-item examples: a history column and a target column.

    `item_id`: the history, a list tagged ITEM_ID, ITEM, CATEGORICAL,
    SEQUENCE, LIST with int domain `[0, num_items]` and `value_count` 1 to
    `max_history`; `target`: the next item, tagged TARGET, ITEM, CATEGORICAL,
    same domain (named `item_id`, so it shares the item table).

    Args:
        num_items: `N`, the largest item id.
        max_history: `H`, the longest history.
        embedding_dim: stored as the history column's `embedding_dim`
            property when given.
        ragged: histories stored at their length (Parquet lists) rather than
            padded to `H` (`to_dataset`'s dense rows).
    """
    props = {"value_count": {"min": 1, "max": max_history}}
    if embedding_dim is not None:
        props["embedding_dim"] = int(embedding_dim)
    history = ColumnSchema(
        ITEM_COLUMN,
        "int32",
        [Tags.ITEM_ID, Tags.ITEM, Tags.CATEGORICAL, Tags.SEQUENCE, Tags.LIST],
        is_list=True,
        is_ragged=ragged,
        int_domain=(0, num_items),
        properties=props,
    )
    target = ColumnSchema(
        TARGET_COLUMN,
        "int32",
        [Tags.TARGET, Tags.ITEM, Tags.CATEGORICAL],
        int_domain=(0, num_items, ITEM_COLUMN),
    )
    return Schema([history, target])
