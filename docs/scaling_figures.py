"""The figures of docs/scaling.md: table memory, bytes per step, time per step.

Run: python docs/scaling_figures.py   (NumPy only; a few seconds)

Id model (the benchmarks' synthetic ids): history ids and targets are iid
Zipf(ALPHA) over items 1..V, item k drawn with probability k^-ALPHA / sum;
negatives are S unique log-uniform draws (ydnn's sampler, min_id 1). Expected
distinct ids in n draws: sum_k 1 - (1 - p_k)^n, exact over the first HEAD
items and first order (n p_k << 1) beyond them.
"""

import math

import numpy as np

ALPHA = 1.05  # bench.embedding_pool_bench.zipf_ids
HEAD = 2_000_000
H, S, D = 20, 8192, 64  # full histories, negatives per step, width
GB, MB, MS = 1e9, 1e6, 1e3
SIZES = [10**6, 10**7, 10**8, 10**9]

# Measured on 2-core CPUs (bench/RESULTS.md, section in brackets):
POOL_FB = 0.938e-3 / 26_829  # embedding_pool fwd+bwd per id [embedding_pool, large, ragged]
GATHER = 0.378e-3 / 26_829  # pool forward per id, for the owner's row gather [same]
SOFTMAX_FB = 20.756e-3 / 1024  # fwd+bwd per query, D=64, S=8192, fp32 [sampled_softmax_bf16]
APPLY = 1.303e-3 / 2_811  # whole LazyAdam step / its rows at V=1e7: upper bound [sparse_optim]
# Assumptions (not measured here):
UNIQUE = 30e-9  # tf.unique + bucketing + id remapping, per id
NET = 12.5e9  # bytes/s each way per host (100 Gb/s)
LATENCY = 0.2e-3  # per collective call over TF's gRPC collectives
HOST = 128 * GB  # host memory; a replicated table must fit it


def row(*cells):
    print("| " + " | ".join(str(c) for c in cells) + " |")


def header(*names):
    row(*names)
    print("|" + "---|" * len(names))


def exp10(v):
    return f"10^{round(math.log10(v))}"


def zipf_head(V):
    """(p_1..p_K, tail mass, mass of the ids in (a, b] beyond HEAD)."""
    K = min(V, HEAD)
    w = np.arange(1, K + 1, dtype=np.float64) ** -ALPHA

    def integral(a, b):
        return (a ** (1 - ALPHA) - b ** (1 - ALPHA)) / (ALPHA - 1)

    total = w.sum() + (integral(K + 0.5, V + 0.5) if V > K else 0.0)
    return w / total, 1.0 - w.sum() / total, lambda a, b: integral(a + 0.5, b + 0.5) / total


def logu_head(V):
    """Log-uniform over ids 1..V: q(k) = log((k+1)/k) / log(V+1)."""
    k = np.arange(1, min(V, HEAD) + 1, dtype=np.float64)
    q = np.log1p(1.0 / k) / math.log(V + 1)
    return q, 1.0 - q.sum(), lambda a, b: math.log((b + 1) / (a + 1)) / math.log(V + 1)


def miss(p, n):
    """Probability that an id of probability p is absent from n draws."""
    return np.exp(n * np.log1p(-p))


def tries(V):
    """Draws the unique sampler makes to collect S distinct ids."""
    q, tail, _ = logu_head(V)
    lo, hi = S, 100.0 * S
    for _ in range(100):
        t = (lo + hi) / 2
        lo, hi = (t, hi) if (1 - miss(q, t)).sum() + t * tail < S else (lo, t)
    return t


def touched(V, B):
    """Expected distinct ids of one worker's step: history U_h, candidates U_c
    (targets and negatives), all U_all, and P(k touched) for the HEAD ids."""
    p, pt, _ = zipf_head(V)
    q, qt, _ = logu_head(V)
    T = tries(V)
    u_h = (1 - miss(p, B * H)).sum() + B * H * pt
    u_c = (1 - miss(p, B) * miss(q, T)).sum() + B * pt + T * qt
    p_all = 1 - miss(p, B * (H + 1)) * miss(q, T)
    return u_h, u_c, p_all.sum() + B * (H + 1) * pt + T * qt, p_all


def pad(u, W):
    """All-to-all sends equal slices: each (sender, owner) bucket is padded to
    the largest, about m + sqrt(2 m ln W^2) for Poisson-like counts of mean m."""
    m = u / W
    return (m + math.sqrt(2 * m * math.log(W * W))) / m if W > 1 else 1.0


def memory():
    print("## Memory per replica (GB): table, optimizer slots\n")
    header("items", "D", "fp32 table", "bf16 table", "row-wise Adagrad slot", "Adam slots",
           "bf16 + row-wise", "fp32 + Adam")  # fmt: skip
    for V in SIZES:
        for d in (64, 128):
            f32, b16, rw, adam = V * d * 4 / GB, V * d * 2 / GB, V * 4 / GB, 8 * V * d / GB
            row(exp10(V), d, f"{f32:,.2f}", f"{b16:,.2f}", f"{rw:,.3f}", f"{adam:,.1f}",
                f"{b16 + rw:,.2f}", f"{f32 + adam:,.1f}")  # fmt: skip


def calibration():
    print("\n## Calibration of the id model against the benchmarks' unique counts\n")
    for V, n, measured in ((10**6, 26_829, 10_394), (10**6, 5_120, 2_536), (10**7, 5_120, 2_811)):
        p, pt, _ = zipf_head(V)
        model = (1 - miss(p, n)).sum() + n * pt
        print(f"- V={V:.0e}, {n:,} draws: model {model:,.0f}, measured {measured:,}")


def replicated(cache):
    print("\n## Replicated tables today: bytes per worker per step (D=64, fp32 rows, int64 ids)\n")
    header("B", "items", "U_h", "U_c", "payload MB", "all-gather in, W=8", "W=16",
           "dense ring all-reduce, W=8", "W=16")  # fmt: skip
    for B in (1024, 4096):
        for V in SIZES:
            u_h, u_c, _, _ = cache[B, V]
            pay = (u_h + u_c) * (D * 4 + 8)
            ring8, ring16 = (2 * (W - 1) / W * V * D * 4 / GB for W in (8, 16))
            row(B, exp10(V), f"{u_h:,.0f}", f"{u_c:,.0f}", f"{pay / MB:.1f}",
                f"{7 * pay / MB:,.0f} MB", f"{15 * pay / MB:,.0f} MB",
                f"{ring8:,.1f} GB", f"{ring16:,.1f} GB")  # fmt: skip


def sharded(cache, B):
    print(f"\n## Row-sharded tables: bytes each way and memory per worker (B={B}, D=64)\n")
    header("items", "W", "U_all", "ids to owners", "sent per step, fp32", "bf16",
           "all-gather fallback, fp32", "memory bf16 + row-wise", "fp32 + row-wise",
           "fp32 + Adam")  # fmt: skip
    for V in (10**8, 10**9):
        u_all = cache[B, V][2]
        for W in (2, 4, 8, 16):
            remote = u_all * (W - 1) / W * pad(u_all, W)
            f32, b16 = (remote * (8 + 2 * D * e) / MB for e in (4, 2))
            fallback = (W - 1) * u_all * (8 + 2 * D * 4)  # every list and row to every worker
            rows = V / W
            row(exp10(V), W, f"{u_all:,.0f}", f"{remote:,.0f}", f"{f32:.1f} MB",
                f"{b16:.1f} MB", f"{fallback / MB:,.0f} MB",
                f"{rows * (D * 2 + 4) / GB:,.1f} GB", f"{rows * (D * 4 + 4) / GB:,.1f} GB",
                f"{rows * D * 12 / GB:,.1f} GB")  # fmt: skip


def times(cache, B):
    print(f"\n## Time per step, ms (B={B} per worker, D=64, S=8192, fp32 table; "
          "measured 2-core kernel costs, assumed network)\n")  # fmt: skip
    header("items", "W", "replicated: network", "rows applied", "apply", "step",
           "ex/s, all workers", "sharded: network", "rows applied", "owner work", "step",
           "ex/s, all workers")  # fmt: skip
    for V in (10**8, 10**9):
        u_h, u_c, u_all, _ = cache[B, V]
        compute = B * SOFTMAX_FB + B * H * POOL_FB
        for W in (1, 2, 4, 8, 16):
            latency = LATENCY if W > 1 else 0.0
            r_net = (W - 1) * (u_h + u_c) * (D * 4 + 8) / NET + 3 * latency
            r_apply = W * (u_h + u_c) * APPLY
            r_step = compute + r_net + r_apply
            remote = u_all * (W - 1) / W * pad(u_all, W)
            s_net = remote * (8 + 2 * D * 4) / NET + 4 * latency
            owned = u_all * pad(u_all, W)  # rows an owner serves and applies, its own included
            s_owner = owned * (GATHER + APPLY) + (B * (H + 1) + S) * UNIQUE
            s_step = compute + s_net + s_owner
            if V * (D * 4 + 4) <= 0.8 * HOST:  # fp32 table + row-wise slot on every replica
                rep = [f"{r_net * MS:.1f}", f"{W * (u_h + u_c):,.0f}", f"{r_apply * MS:.0f}",
                       f"{r_step * MS:.0f}", f"{W * B / r_step:,.0f}"]  # fmt: skip
            else:
                rep = ["beyond one host", "", "", "", ""]
            row(exp10(V), W, *rep, f"{s_net * MS:.1f}", f"{owned:,.0f}", f"{s_owner * MS:.1f}",
                f"{s_step * MS:.0f}", f"{W * B / s_step:,.0f}")  # fmt: skip
        print(f"\ncompute shared by both layouts at {exp10(V)}: softmax "
              f"{B * SOFTMAX_FB * MS:.1f} ms, pool {B * H * POOL_FB * MS:.1f} ms\n")  # fmt: skip


def placement(cache, B, W=16):
    print(f"## Placement: share of one step's touched ids on the busiest owner (B={B}, W={W})\n")
    for V in (10**8, 10**9):
        u_all, p_all = cache[B, V][2], cache[B, V][3]
        tail = (u_all - p_all.sum()) / W
        by_mod = max(p_all[r::W].sum() for r in range(W)) + tail  # ids k = r + 1 + W j
        _, _, pmass = zipf_head(V)
        _, _, qmass = logu_head(V)
        block = V // W
        first = p_all[:block].sum()
        if block > HEAD:
            first += B * (H + 1) * pmass(HEAD, block) + tries(V) * qmass(HEAD, block)
        draws0 = math.log(block + 1) / math.log(V + 1)
        print(f"- {exp10(V)}: id mod W: busiest owner {by_mod / (u_all / W):.3f}x the mean; "
              f"contiguous ranges: owner 0 holds {first / u_all:.0%} of the touched ids "
              f"({first / (u_all / W):.1f}x the mean) "
              f"and {draws0:.0%} of the sampler's draws")  # fmt: skip


def main():
    memory()
    calibration()
    cache = {(B, V): touched(V, B) for B in (1024, 4096) for V in SIZES}
    replicated(cache)
    sharded(cache, 4096)
    times(cache, 4096)
    placement(cache, 4096)


if __name__ == "__main__":
    main()
