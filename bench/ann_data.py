"""Clustered synthetic embeddings and exact top-k, for the ANN benchmarks.

Real item embeddings cluster (topics, genres) and their norms vary (a
dot-product model gives popular items longer vectors), so isotropic noise
would flatter or punish an ANN index for the wrong reasons. The catalog and
its queries are drawn from one mixture of Gaussians:

    c_j ~ N(0, I / D),  j < CENTRES           (one set of centres per seed)
    x   = s * (c_a + SPREAD * e),  e ~ N(0, I / D),  a ~ Zipf(0.5)-weighted centre,
          s ~ LogNormal(0, NORM_SIGMA)        (norms vary, as MIPS sees them)

Queries use the same centres and laws with their own seed, so they look
like users of the same catalog. Nothing here imports TensorFlow: the
library comparison runs libraries that must not load beside it.
"""

import numpy as np

CENTRES = 1000
SPREAD = 0.5
NORM_SIGMA = 0.25
CENTRE_SEED = 1234
# Draws of this many rows at a time keep float64 temporaries small at 10^7.
_CHUNK = 1 << 18


def describe():
    """One line for the reports: what the synthetic data is."""
    return (
        f"clustered synthetic embeddings: a mixture of {CENTRES} Gaussian centres "
        f"N(0, I/D), centre weights ~ 1/sqrt(rank), within-centre spread {SPREAD} of the "
        f"centre scale, every row scaled by LogNormal(0, {NORM_SIGMA}) (norms vary, as "
        f"unnormalised dot-product embeddings do); queries drawn from the same mixture "
        f"with another seed"
    )


def mixture(n, d=64, seed=0):
    """`[n, d]` float32 rows of the mixture (same centres for every `seed`)."""
    centres = np.random.default_rng(CENTRE_SEED + d).standard_normal((CENTRES, d)) / np.sqrt(d)
    centres = centres.astype(np.float32)
    weights = 1.0 / np.sqrt(np.arange(1, CENTRES + 1))
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), np.float32)
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        which = rng.choice(CENTRES, hi - lo, p=weights)
        noise = rng.standard_normal((hi - lo, d), dtype=np.float32) * np.float32(
            SPREAD / np.sqrt(d)
        )
        scale = rng.lognormal(0.0, NORM_SIGMA, (hi - lo, 1)).astype(np.float32)
        out[lo:hi] = (centres[which] + noise) * scale
    return out


def exact_top_k(queries, table, k, block=1 << 17):
    """Exact `(scores [B, k], rows [B, k])` by inner product, best first (NumPy).

    The catalog is scored in blocks of `block` rows, each block's best `k`
    merged into the running best, so `[B, N]` is never held at once.
    """
    queries = np.asarray(queries, np.float32)
    b = len(queries)
    best_s = np.full((b, k), -np.inf, np.float32)
    best_i = np.full((b, k), -1, np.int64)
    rows = np.arange(b)[:, None]
    for lo in range(0, len(table), block):
        s = queries @ table[lo : lo + block].T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, s[rows, part]], axis=1)
        cand_i = np.concatenate([best_i, part + lo], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = cand_s[rows, order], cand_i[rows, order]
    return best_s, best_i


def recall_at_k(found, truth):
    """Mean over rows of |found ∩ truth| / k (ids -1 never count)."""
    k = truth.shape[1]
    hits = [len(np.intersect1d(f[f >= 0], t)) for f, t in zip(found[:, :k], truth)]
    return float(np.mean(hits)) / k
