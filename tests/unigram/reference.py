"""Float64, loop-based NumPy references of the unigram (alias-table)
sampler: the law counts ** distortion, the probabilities an alias table
encodes, and the stream of draws (Philox bits from tests/sampler/reference.py).
"""

import math

from tests.sampler.reference import first_occurrences_ref, philox_bits64_ref


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
    return first_occurrences_ref(
        lambda i: unigram_draw_ref(i, table, key, stream), num_sampled, unique, counter
    )
