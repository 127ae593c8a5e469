"""Numba loops of the leave-last-out preparation (private).

All run in O(rows + users + items) apart from the per-user sort by time,
O(sum_u n_u log n_u); compiled once and cached on disk (`cache=True`).
Shapes: `R` interactions, `U` users, `I` items, `H` = max_history.
"""

import numba
import numpy as np


@numba.njit(cache=True)
def counting_order(keys, num_keys):
    """Stable permutation sorting `keys` (ints in [0, num_keys)), O(R + K)."""
    starts = np.zeros(num_keys + 1, np.int64)
    for k in keys:
        starts[k + 1] += 1
    for k in range(num_keys):
        starts[k + 1] += starts[k]
    order = np.empty(keys.shape[0], np.int64)
    for r in range(keys.shape[0]):
        k = keys[r]
        order[starts[k]] = r
        starts[k] += 1
    return order


@numba.njit(cache=True)
def user_time_order(users, items_rank, times, num_users, num_items):
    """Row order by (user, time, item rank), and each user's row offsets.

    Two stable counting sorts (item rank, then user) leave every user's rows
    in item-rank order; a stable merge sort by time inside each user then
    breaks time ties by item rank, as the protocol asks.

    Returns:
        order `[R]` int64, indptr `[U + 1]` int64.
    """
    by_item = counting_order(items_rank, num_items)
    by_user = counting_order(users[by_item], num_users)
    order = by_item[by_user]
    indptr = np.zeros(num_users + 1, np.int64)
    for u in users:
        indptr[u + 1] += 1
    for u in range(num_users):
        indptr[u + 1] += indptr[u]
    for u in range(num_users):
        lo, hi = indptr[u], indptr[u + 1]
        if hi - lo > 1:
            seg = order[lo:hi].copy()
            perm = np.argsort(times[seg], kind="mergesort")
            for j in range(hi - lo):
                order[lo + j] = seg[perm[j]]
    return order, indptr


@numba.njit(cache=True)
def count_examples(indptr):
    """Training rows: positions 1..n-2 of each user (n >= 2)."""
    total = 0
    for u in range(indptr.shape[0] - 1):
        n = indptr[u + 1] - indptr[u]
        if n > 2:
            total += n - 2
    return total


@numba.njit(cache=True)
def build_examples(seq, indptr, max_history, num_train):
    """History windows for leave-last-out.

    For a user's items `s[0..n-1]` (time order): training rows for positions
    `t = 1..n-2` (history `s[max(0, t-H):t]`, target `s[t]`), one test row
    (history `s[max(0, n-1-H):n-1]`, target `s[n-1]`). Histories are
    chronological and right-padded with 0.

    Returns:
        train (history `[T, H]` int32, lengths `[T]`, targets `[T]`, users
        `[T]`), test (the same with `U` rows).
    """
    num_users = indptr.shape[0] - 1
    h_tr = np.zeros((num_train, max_history), np.int32)
    len_tr = np.empty(num_train, np.int32)
    tgt_tr = np.empty(num_train, np.int32)
    usr_tr = np.empty(num_train, np.int32)
    h_te = np.zeros((num_users, max_history), np.int32)
    len_te = np.empty(num_users, np.int32)
    tgt_te = np.empty(num_users, np.int32)
    usr_te = np.empty(num_users, np.int32)
    row = 0
    for u in range(num_users):
        lo, hi = indptr[u], indptr[u + 1]
        n = hi - lo
        for t in range(1, n):
            start = max(0, t - max_history)
            length = t - start
            if t < n - 1:
                for j in range(length):
                    h_tr[row, j] = seq[lo + start + j]
                len_tr[row] = length
                tgt_tr[row] = seq[lo + t]
                usr_tr[row] = u
                row += 1
            else:
                for j in range(length):
                    h_te[u, j] = seq[lo + start + j]
                len_te[u] = length
                tgt_te[u] = seq[lo + t]
                usr_te[u] = u
    return (h_tr, len_tr, tgt_tr, usr_tr), (h_te, len_te, tgt_te, usr_te)


@numba.njit(cache=True)
def seen_before_last(seq, indptr):
    """CSR of each user's distinct items except the last one, sorted by id."""
    num_users = indptr.shape[0] - 1
    out_ptr = np.zeros(num_users + 1, np.int64)
    out = np.empty(seq.shape[0], seq.dtype)
    pos = 0
    for u in range(num_users):
        lo, hi = indptr[u], indptr[u + 1]
        if hi - lo > 1:
            s = np.sort(seq[lo:hi - 1])
            out[pos] = s[0]
            pos += 1
            for j in range(1, s.shape[0]):
                if s[j] != s[j - 1]:
                    out[pos] = s[j]
                    pos += 1
        out_ptr[u + 1] = pos
    return out_ptr, out[:pos].copy()
