"""`SequenceData.holdout`: the validation split inside prepared data.

Reference: the same split built by hand from each user's full sequence
(`sequence_items`), row by row.
"""

import numpy as np

import ydnn


def _data(max_history=4):
    log = ydnn.data.generate_interactions(
        num_users=150, num_items=200, num_interactions=2500, seed=3
    )
    return ydnn.data.prepare_sequences(log, max_history=max_history)


def test_validation_rows_hold_each_users_second_to_last_item():
    data = _data()
    train, val, (indptr, items) = data.holdout()
    assert len(val) == data.num_users and len(train) + len(val) == len(data.train)
    for u in range(data.num_users):
        seq = data.sequence_items[data.sequence_indptr[u] : data.sequence_indptr[u + 1]]
        n = len(seq)
        assert val.user[u] == u and val.target[u] == seq[n - 2]
        recent = seq[: n - 2][-data.max_history :]
        assert val.lengths[u] == len(recent)
        assert np.array_equal(val.history[u, : len(recent)], recent)
        assert np.array_equal(items[indptr[u] : indptr[u + 1]], np.unique(seq[: n - 2]))
    # No training row predicts a held-out item at its position or later.
    for u in range(data.num_users):
        rows = train.user == u
        seq = data.sequence_items[data.sequence_indptr[u] : data.sequence_indptr[u + 1]]
        assert rows.sum() == len(seq) - 3
        assert np.array_equal(train.target[rows], seq[1 : len(seq) - 2])


def test_holdout_matches_a_validation_prepare_on_users_that_keep_three_items():
    log = ydnn.data.generate_interactions(
        num_users=100, num_items=150, num_interactions=3000, seed=5
    )
    data = ydnn.data.prepare_sequences(log, max_history=5)
    order = log.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    dropped = order[order.duplicated("user_id", keep="last")]
    other = ydnn.data.prepare_sequences(dropped, max_history=5)
    _, val, _ = data.holdout()
    # Same users (every user has >= 4 items here); targets in original ids agree.
    assert other.num_users == data.num_users
    assert np.array_equal(data.decode_items(val.target), other.decode_items(other.test.target))
