"""Parameter lists of the log_uniform_sample tests (NumPy, TF op, CuPy) and
the chi-square check of a sample against the log-uniform law. No TensorFlow
here, so the CuPy tests run on a TF-free GPU box."""

import math

import numpy as np

# (num_sampled, min_id, max_id, unique) of the exact-stream tests against
# the pure-Python reference, and the (seed, seed2, counter) they start from.
STREAM_CASES = [
    (1, 0, 0, True),
    (5, 0, 4, True),
    (10, 1, 100, True),
    (64, 3, 10**6, True),
    (300, 0, 400, True),
    (50, 7, 20, False),
    (1000, 0, 10**9, False),
]
STREAM_SEEDS = [(1, 2, 0), (2**63 - 1, 0, 12345)]
# (num_sampled, min_id, max_id) of the GPU-equals-CPU tests: up to 65536
# draws, a single id, a full range, ranges past 2^32; and their counters.
DEVICE_CASES = [
    (1, 0, 0),
    (5, 0, 4),
    (100, 1, 10**6),
    (8192, 0, 10**6 - 1),
    (65536, 0, 10**6 - 1),
    (1000, 0, 999),
    (3000, 5, 2**40),
]
COUNTERS = [0, 987654321]


def chi_square_rejects(samples, min_id, max_id):
    """True if `samples` fail a chi-square test against the log-uniform law
    at significance 1e-6 (critical value by Wilson-Hilferty). Ids are binned
    so every bin expects >= 20 draws: single ids at the head, log-spaced
    ranges in the tail, with exact bin probabilities from the CDF."""
    n, R = len(samples), max_id - min_id + 1
    cdf = lambda j: math.log(j + 1) / math.log(R + 1)  # noqa: E731  P(draw < j)
    edges, j = [0], 0
    while j < R:
        nxt = j + 1
        while nxt < R and n * (cdf(nxt) - cdf(j)) < 20:
            nxt = min(R, max(nxt + 1, int(nxt * 1.1)))
        edges.append(nxt)
        j = nxt
    if n * (cdf(R) - cdf(edges[-2])) < 20 and len(edges) > 2:
        edges.pop(-2)
    counts = np.histogram(np.asarray(samples) - min_id, bins=edges)[0]
    outside = np.sum((np.asarray(samples) < min_id) | (np.asarray(samples) > max_id))
    expected = np.array([n * (cdf(b) - cdf(a)) for a, b in zip(edges[:-1], edges[1:])])
    stat = float(np.sum((counts - expected) ** 2 / expected))
    k = len(expected) - 1
    crit = k * (1 - 2 / (9 * k) + 4.753 * math.sqrt(2 / (9 * k))) ** 3
    return outside > 0 or stat > crit
