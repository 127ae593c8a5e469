"""Float64, loop-based NumPy references of embedding_pool (forward and gradients).

Written for clarity, not speed: one Python loop per bag and per id, so each
line can be checked against the maths in the op's docstring. Tests and the
benchmarks' correctness gates compare the kernels against these.
"""

import math

import numpy as np


def bags_from_padded(ids, lengths=None, weights=None):
    """Lists of (ids, weights) per bag from padded `[B, L]` arrays."""
    ids = np.asarray(ids)
    lengths = [ids.shape[1]] * ids.shape[0] if lengths is None else list(lengths)
    bags = []
    for b, n in enumerate(lengths):
        w = [1.0] * n if weights is None else [float(x) for x in np.asarray(weights)[b, :n]]
        bags.append(([int(i) for i in ids[b, :n]], w))
    return bags


def bags_from_ragged(values, row_splits, weights=None):
    """Lists of (ids, weights) per bag from ragged values + row_splits."""
    bags = []
    for b in range(len(row_splits) - 1):
        lo, hi = int(row_splits[b]), int(row_splits[b + 1])
        w = [1.0] * (hi - lo) if weights is None else [float(x) for x in weights[lo:hi]]
        bags.append(([int(i) for i in values[lo:hi]], w))
    return bags


def _scale(weights, combiner):
    if combiner == "sum":
        return 1.0
    denom = sum(weights) if combiner == "mean" else math.sqrt(sum(w * w for w in weights))
    return 0.0 if denom == 0.0 else 1.0 / denom


def embedding_pool_ref(table, bags, combiner):
    """`out[b] = s_b * sum_j w_j * table[i_j]` in float64, `[B, D]`."""
    table = np.asarray(table, dtype=np.float64)
    out = np.zeros((len(bags), table.shape[1]))
    for b, (ids, weights) in enumerate(bags):
        s = _scale(weights, combiner)
        for i, w in zip(ids, weights):
            out[b] += s * w * table[i]
    return out


def embedding_pool_grad_ref(table, bags, combiner, grad):
    """Gradients of `sum(grad * embedding_pool_ref(...))`.

    Returns:
        (table_grad: dict id -> float64 row [D], weight_grads: list per bag).
    """
    table = np.asarray(table, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    out = embedding_pool_ref(table, bags, combiner)
    table_grad, weight_grads = {}, []
    for b, (ids, weights) in enumerate(bags):
        s = _scale(weights, combiner)
        g_out = float(grad[b] @ out[b])
        wg = []
        for i, w in zip(ids, weights):
            table_grad[i] = table_grad.get(i, 0.0) + s * w * grad[b]
            g_row = float(grad[b] @ table[i])
            if combiner == "sum":
                wg.append(g_row)
            elif combiner == "mean":
                wg.append(s * (g_row - g_out))
            else:
                wg.append(s * g_row - s * s * w * g_out)
        weight_grads.append(wg)
    return table_grad, weight_grads


def dense_table_grad(table_grad, num_rows, dim):
    """The dict of `embedding_pool_grad_ref` as a dense `[V, D]` array."""
    dense = np.zeros((num_rows, dim))
    for i, row in table_grad.items():
        dense[i] = row
    return dense
