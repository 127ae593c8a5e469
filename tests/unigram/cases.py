"""Inputs of the unigram sampler tests (NumPy, TF op, CuPy): count vectors
from one id to 20,000 (Zipf, zeros, a range of 1e16), the tolerances, and
the chi-square check of a sample against a law. No TensorFlow here, so the
CuPy tests run on a TF-free GPU box."""

import math

import numpy as np

from ydnn_kernels import arrays

# Alias-table reconstruction vs counts^d / sum: float64 build, Neumaier sum,
# one subtraction per alias step; measured errors are ~1e-15.
ALIAS_RTOL = 1e-12
# Expected counts are float32 outputs of float64 maths.
COUNT_RTOL = 2e-6


def zipf_counts(V, s=1.1, seed=0, zeros=0.0):
    """Counts ~ 1e6 / rank^s (+ 0..2), a fraction `zeros` of them set to 0."""
    rng = np.random.default_rng(seed)
    counts = np.floor(1e6 / np.arange(1, V + 1) ** s) + rng.integers(0, 3, V)
    counts[rng.random(V) < zeros] = 0
    return counts


COUNTS = {
    "single": np.array([3.0]),
    "one_positive": np.array([0, 0, 7, 0]),
    "equal": np.ones(17),
    "small_ints": np.array([0, 5, 1, 3, 0, 9, 2, 2]),
    "zipf_1000_zeros": zipf_counts(1000, zeros=0.2),
    "wide_range": np.array([1e-3, 1e9, 1.0, 0.0, 12345.678, 1e-7, 3e5]),
    "random_20000": np.random.default_rng(3).exponential(10.0, 20000),
}


def table_of(counts, distortion):
    """The NumPy entry point's alias table."""
    return arrays.unigram_table(counts, distortion)


def chi_square_rejects(samples, probs):
    """True if `samples` fail a chi-square test against the law `probs` at
    significance 1e-6 (critical value by Wilson-Hilferty), or hit an id of
    probability 0 or outside [0, V). Consecutive ids are merged into bins
    expecting >= 20 draws each; the last bin takes any remainder."""
    samples, probs = np.asarray(samples), np.asarray(probs, np.float64)
    n, V = len(samples), len(probs)
    if np.any((samples < 0) | (samples >= V)) or np.any(probs[samples] == 0):
        return True
    edges, acc = [0], 0.0
    for k in range(V):
        acc += probs[k] * n
        if acc >= 20:
            edges.append(k + 1)
            acc = 0.0
    if edges[-1] != V:
        if len(edges) > 2:
            edges[-1] = V
        else:
            edges.append(V)
    counts = np.histogram(samples, bins=edges)[0]
    cum = np.concatenate([[0.0], np.cumsum(probs)])
    expected = n * (cum[edges[1:]] - cum[edges[:-1]])
    stat = float(np.sum((counts - expected) ** 2 / expected))
    k = len(expected) - 1
    if k == 0:
        return False
    crit = k * (1 - 2 / (9 * k) + 4.753 * math.sqrt(2 / (9 * k))) ** 3
    return stat > crit
