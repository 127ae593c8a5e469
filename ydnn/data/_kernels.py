"""Numba loops of the leave-last-out preparation (private).

All run in O(rows + users + items) apart from the per-user sorts,
O(sum_u n_u log n_u); compiled once and cached on disk (`cache=True`). The
entry points release the GIL (`nogil=True`), so the Dask path's threads
build several partitions at once.
Shapes: `R` interactions, `U` users, `I` items, `H` = max_history.
"""

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _before(t_a, c_a, t_b, c_b):
    return t_a < t_b or (t_a == t_b and c_a < c_b)


@numba.njit(cache=True)
def _insertion_sort(times, codes, lo, hi):
    """Sort `[lo, hi)` by (time, code) in place; O(n + inversions)."""
    for j in range(lo + 1, hi):
        t, c = times[j], codes[j]
        i = j - 1
        while i >= lo and _before(t, c, times[i], codes[i]):
            times[i + 1] = times[i]
            codes[i + 1] = codes[i]
            i -= 1
        times[i + 1] = t
        codes[i + 1] = c


@numba.njit(cache=True, nogil=True)
def group_by_user(users, codes, times, new_id, num_users):
    """Each user's items in (time, original id) order, as new ids.

    One counting-sort scatter groups the rows by user (O(R + U)); each
    user's rows are then sorted by (time, item code): short runs by insertion
    sort, long ones by a time argsort followed by an insertion pass that only
    has equal-time runs left to order. Item codes follow the sorted original
    ids, so ties in time break by original item id.

    Args:
        users: `[R]` user index, codes: `[R]` item code, times: `[R]`,
        new_id: `[I]` int32 new id of each item code.

    Returns:
        seq `[R]` int32 new ids grouped by user, indptr `[U + 1]` int64.
    """
    n = users.shape[0]
    indptr = np.zeros(num_users + 1, np.int64)
    for r in range(n):
        indptr[users[r] + 1] += 1
    for u in range(num_users):
        indptr[u + 1] += indptr[u]
    fill = indptr[:-1].copy()
    seg_code = np.empty(n, codes.dtype)
    seg_time = np.empty(n, times.dtype)
    for r in range(n):
        u = users[r]
        p = fill[u]
        fill[u] = p + 1
        seg_code[p] = codes[r]
        seg_time[p] = times[r]
    seq = np.empty(n, np.int32)
    for u in range(num_users):
        lo, hi = indptr[u], indptr[u + 1]
        if hi - lo > 32:
            perm = np.argsort(seg_time[lo:hi])
            t_sorted = seg_time[lo:hi][perm]
            c_sorted = seg_code[lo:hi][perm]
            seg_time[lo:hi] = t_sorted
            seg_code[lo:hi] = c_sorted
        _insertion_sort(seg_time, seg_code, lo, hi)
        for j in range(lo, hi):
            seq[j] = new_id[seg_code[j]]
    return seq, indptr


@numba.njit(cache=True, nogil=True)
def count_examples(indptr):
    """Training rows: positions 1..n-2 of each user (n >= 2)."""
    total = 0
    for u in range(indptr.shape[0] - 1):
        n = indptr[u + 1] - indptr[u]
        if n > 2:
            total += n - 2
    return total


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def seen_before_last(seq, indptr):
    """CSR of each user's distinct items except the last one, sorted by id."""
    num_users = indptr.shape[0] - 1
    longest = 0
    for u in range(num_users):
        longest = max(longest, indptr[u + 1] - indptr[u])
    scratch = np.empty(longest, seq.dtype)
    out_ptr = np.zeros(num_users + 1, np.int64)
    out = np.empty(seq.shape[0], seq.dtype)
    pos = 0
    for u in range(num_users):
        lo, hi = indptr[u], indptr[u + 1]
        m = hi - 1 - lo
        if m > 0:
            scratch[:m] = seq[lo : hi - 1]
            scratch[:m].sort()
            out[pos] = scratch[0]
            pos += 1
            for j in range(1, m):
                if scratch[j] != scratch[j - 1]:
                    out[pos] = scratch[j]
                    pos += 1
        out_ptr[u + 1] = pos
    return out_ptr, out[:pos].copy()
