"""Float64, loop-based NumPy references for every ydnn op.

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


# ---------------------------------------------------------------- sampler --
M32 = 0xFFFFFFFF


def philox4x32_10_ref(counter_lo, counter_hi, key):
    """Philox4x32-10 in Python integers: 4 x 32 random bits."""
    c = [counter_lo & M32, counter_lo >> 32 & M32, counter_hi & M32, counter_hi >> 32 & M32]
    k = [key & M32, key >> 32 & M32]
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
        k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
    return c


def philox_bits64_ref(i, key, stream):
    """Draw i's 64 random bits: block i // 2, words 0-1 (even i) or 2-3."""
    x = philox4x32_10_ref(i >> 1, stream, key)
    hi, lo = (x[2], x[3]) if i & 1 else (x[0], x[1])
    return hi << 32 | lo


def log_uniform_draw_ref(i, min_id, max_id, key, stream):
    """Draw i of the stream: the inverse CDF of the log-uniform law."""
    u = (philox_bits64_ref(i, key, stream) >> 11) * 2.0**-53
    R = max_id - min_id + 1
    j = int(math.exp(u * math.log1p(R))) - 1
    return min_id + min(max(j, 0), R - 1)


def first_occurrences_ref(draw, num_sampled, unique, counter):
    """(ids, num_tries) from the stream draw(counter), draw(counter + 1), ...:
    TF's unique semantics (draws in order, first occurrences kept) if unique."""
    ids, seen, i = [], set(), 0
    while len(ids) < num_sampled:
        k = draw(counter + i)
        i += 1
        if unique and k in seen:
            continue
        seen.add(k)
        ids.append(k)
    return ids, i


def log_uniform_sample_ref(num_sampled, min_id, max_id, unique, key, stream, counter):
    """(ids, num_tries): draws in order, first occurrences kept if unique."""
    return first_occurrences_ref(lambda i: log_uniform_draw_ref(i, min_id, max_id, key, stream),
                                 num_sampled, unique, counter)


def log_uniform_probability_ref(k, min_id, max_id):
    if k < min_id or k > max_id:
        return 0.0
    j = k - min_id
    # log1p(1 / (j + 1)), not log((j + 2) / (j + 1)): the ratio's rounding
    # costs ~1e-16 / P relative accuracy once j is large.
    return math.log1p(1.0 / (j + 1)) / math.log1p(max_id - min_id + 1)


def expected_count_ref(p, num_sampled, num_tries):
    """TF's ExpectedCountHelper."""
    if num_tries == num_sampled:
        return p * num_sampled
    return -math.expm1(num_tries * math.log1p(-p))


def unigram_probability_ref(counts, distortion):
    """P(k) = w_k / sum(w), w_k = counts[k] ** distortion for positive counts
    (0 otherwise), in float64 with an exactly rounded sum."""
    w = [float(c) ** distortion if c > 0 else 0.0 for c in counts]
    total = math.fsum(w)
    return [x / total for x in w]


def alias_probabilities_ref(table):
    """P(k) reconstructed from an alias table [V, 2] (accept, alias): bucket
    b gives accept_b / V to b and (1 - accept_b) / V to alias_b; summed
    exactly."""
    V = len(table)
    parts = [[] for _ in range(V)]
    for b in range(V):
        accept, alias = float(table[b][0]), int(table[b][1])
        parts[b].append(accept)
        parts[alias].append(1.0 - accept)
    return [math.fsum(p) / V for p in parts]


def unigram_draw_ref(i, table, key, stream):
    """Draw i: 64 Philox bits x times V = bucket * 2^64 + frac; the top 53
    bits of frac are the coin that keeps the bucket or takes its alias."""
    x = philox_bits64_ref(i, key, stream) * len(table)
    bucket, frac = x >> 64, x & (2**64 - 1)
    coin = (frac >> 11) * 2.0**-53
    return bucket if coin < table[bucket][0] else int(table[bucket][1])


def unigram_sample_ref(table, num_sampled, unique, key, stream, counter):
    """(ids, num_tries) of the unigram sampler."""
    return first_occurrences_ref(lambda i: unigram_draw_ref(i, table, key, stream),
                                 num_sampled, unique, counter)
