"""The most-popular baseline: the same top-k list for everyone, minus exclusions."""

import numba
import numpy as np

from ydnn.data.sequence_data import SequenceData


@numba.njit(cache=True)
def _top_k_excluding(ranking, k, seen_ptr, seen, users, num_ids):
    out = np.zeros((users.shape[0], k), np.int32)
    mark = np.zeros(num_ids, np.bool_)
    for r in range(users.shape[0]):
        u = users[r]
        for j in range(seen_ptr[u], seen_ptr[u + 1]):
            mark[seen[j]] = True
        filled = 0
        for item in ranking:
            if not mark[item]:
                out[r, filled] = item
                filled += 1
                if filled == k:
                    break
        for j in range(seen_ptr[u], seen_ptr[u + 1]):
            mark[seen[j]] = False
    return out


def most_popular_top_k(data, k=10, exclude_seen=True, min_id=1, users=None, counts="train"):
    """Top-`k` items by training popularity for the test rows.

    Popularity is `data.train_item_counts` (the log without each user's
    held-out item), ties by id; `counts="all"` uses `data.item_counts`
    instead, i.e. the id order itself (it counts the held-out items too). Ids
    below `min_id` (padding, reserved ids) are never returned; with
    `exclude_seen`, neither are the items a user had before the held-out one.

    Args:
        data: `SequenceData`.
        k: list length, `1 <= k`; rows with fewer than `k` candidates left
            are padded with 0 (which no target equals).
        exclude_seen: drop each user's earlier items.
        min_id: smallest id that may be recommended (>= 0).
        users: user indices (default: every test row, `data.test.user`).
        counts: `"train"` or `"all"` (see above).

    Returns:
        `[len(users), k]` int32 ids, best first.

    Raises:
        TypeError: `data` is not `SequenceData`.
        ValueError: bad `k`, `min_id` or `counts`.
    """
    if not isinstance(data, SequenceData):
        raise TypeError(f"data must be ydnn.data.SequenceData, got {type(data).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if isinstance(min_id, bool) or not isinstance(min_id, (int, np.integer)) or min_id < 0:
        raise ValueError(f"min_id must be an integer >= 0, got {min_id!r}")
    if counts not in ("train", "all"):
        raise ValueError(f"counts must be 'train' or 'all', got {counts!r}")
    counts = data.train_item_counts if counts == "train" else data.item_counts
    ids = np.arange(len(counts))
    ranking = np.lexsort((ids, -counts))
    ranking = ranking[ranking >= min_id].astype(np.int64)
    users = data.test.user if users is None else np.asarray(users)
    users = users.astype(np.int64)
    if exclude_seen:
        seen_ptr, seen = data.seen_indptr, data.seen_items.astype(np.int64)
    else:
        seen_ptr, seen = np.zeros(data.num_users + 1, np.int64), np.zeros(0, np.int64)
    return _top_k_excluding(ranking, int(k), seen_ptr, seen, users, len(counts))
