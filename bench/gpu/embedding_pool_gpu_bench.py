"""embedding_pool's CUDA kernels timed on CuPy arrays, without TensorFlow.

    python3 bench/gpu/embedding_pool_gpu_bench.py     # from the repo root

Places each shape on the card's measured copy bandwidth (gpu_common.ceilings).
Times the forward and the backward (plan + fill through
arrays.embedding_pool_grad, allocations and the plan's one sync included) on
padded ids with lengths uniform in 1..L, mean combiner, unweighted. Each row
first checks the GPU against the CPU kernels on the same inputs and is marked
FAILED, untimed, if they differ. Times are CUDA-event medians (min, max) over
REPEAT calls after WARMUP; inputs rotate over enough id sets that uniform rows
do not come from L2. The markdown table is printed last and appended to the
report (gpu_common.save)."""

import functools
import math
import os
import sys

import cupy as cp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
from gpu_common import REPEAT, WARMUP, Log, ceilings, fmt_t, guarded, header, save, time_ms  # noqa: E402

from ydnn_kernels import _device, arrays  # noqa: E402

ROUNDING = {"float32": 1e-5, "float16": 2.0**-11}  # as tests/tolerance.py
log = Log()


@functools.lru_cache(maxsize=None)
def zipf_cdf(V, alpha):
    cdf = np.cumsum(1.0 / np.arange(1, V + 1, dtype=np.float64) ** alpha)
    return cdf / cdf[-1]


def zipf_ranks(rng, V, alpha, size):
    """Ranks 0..V-1 with P(k) ~ 1/(k+1)^alpha (bounded Zipf, inverse CDF)."""
    return np.minimum(np.searchsorted(zipf_cdf(V, alpha), rng.random(size)), V - 1)


def make_set(rng, B, L, V, D, dtype, dist, hot):
    lengths = rng.integers(1, L + 1, size=B).astype(np.int64)
    if dist == "zipf":  # popular rows scattered over the table, as hashing does
        ids = hot[zipf_ranks(rng, V, 1.05, (B, L))]
    else:
        ids = rng.integers(0, V, size=(B, L))
    ids[np.arange(L)[None, :] >= lengths[:, None]] = -1  # padding is never read
    grad = rng.standard_normal((B, D)).astype(dtype)
    return dict(ids=ids, lengths=lengths, grad=grad)


# Bytes each call must move, counted once per access the algorithm makes
# (so Zipf rows that hit L2 still count: the GB/s is of logical traffic).
# s = element size, nnz = sum(lengths), n = B*L slots, U = unique ids.
def forward_bytes(nnz, B, D, s, id_size):
    # each occurrence's row, each output row written, ids read, lengths read
    return nnz * D * s + B * D * s + nnz * id_size + B * 8


def backward_bytes(nnz, n, B, U, D, s, id_size, V):
    # plan: lengths + the offsets scan (~3 B*8), ids read and (key, bag, coef)
    # written per occurrence, sort values (and padding keys) over all n slots;
    # sort: cub onesweep reads the 4-byte keys once for its histogram, then
    # each 8-bit digit pass reads and writes (key, value) = 8 bytes each way;
    # runs: head flags read keys, write a byte; select reads flags, writes U;
    # fill: unique ids, and per occurrence its (index, bag, coef) and g row,
    # then U rows written.
    passes = math.ceil(V.bit_length() / 8)
    plan = 3 * B * 8 + nnz * (id_size + 12) + n * 8
    sort = n * 4 + passes * n * 16
    runs = n * 5 + n + (U + 1) * 4
    fill = U * (8 + id_size) + nnz * (12 + D * s) + U * D * s
    return plan + sort + runs + fill


def close(gpu, cpu, dtype):
    gpu, cpu = np.asarray(gpu, np.float64), np.asarray(cpu, np.float64)
    bound = 2 * ROUNDING[dtype] * np.abs(cpu) + 1e-4 * max(1.0, float(np.abs(cpu).max()))
    return gpu.shape == cpu.shape and bool(np.all(np.abs(gpu - cpu) <= bound))


def gate(table_cpu, table, s0, dtype):
    """GPU forward and backward against the CPU kernels on one id set."""
    out_cpu = arrays.embedding_pool(table_cpu, s0["ids"], lengths=s0["lengths"])
    out = arrays.embedding_pool(table, s0["d_ids"], lengths=s0["d_lengths"])
    if not close(out.get(), out_cpu, dtype):
        return "forward differs from CPU"
    u_cpu, rows_cpu, _ = arrays.embedding_pool_grad(
        table_cpu, s0["ids"], out_cpu, s0["grad"], lengths=s0["lengths"]
    )
    u, rows, _ = arrays.embedding_pool_grad(
        table, s0["d_ids"], out, s0["d_grad"], lengths=s0["d_lengths"]
    )
    if not np.array_equal(u.get(), u_cpu):
        return "unique ids differ from CPU"
    if not close(rows.get(), rows_cpu, dtype):
        return "gradient rows differ from CPU"
    return None


def bench_row(rng, table, table_cpu, B, L, dist, hot, copy_gbs, l2_bytes):
    V, D = table.shape
    dtype, s = str(table.dtype), table.dtype.itemsize
    id_size = 8
    name = f"B={B} L={L} D={D} V={V:.0e}"
    # Enough id sets that the uniform rows gathered over a rotation are ~3x L2.
    sets_needed = math.ceil(3 * l2_bytes / (B * (L + 1) / 2 * D * s))
    sets = [make_set(rng, B, L, V, D, dtype, dist, hot) for _ in range(min(32, sets_needed))]
    for st in sets:
        st["d_ids"], st["d_lengths"] = cp.asarray(st["ids"]), cp.asarray(st["lengths"])
        st["d_grad"] = cp.asarray(st["grad"])
    row = dict(kernel="embedding_pool", shape=name, dtype=dtype, ids=dist, sets=len(sets))
    failure = gate(table_cpu, table, sets[0], dtype)
    if failure:
        log(f"FAILED {name} {dtype} {dist}: {failure}")
        return dict(row, status="FAILED: " + failure)
    for st in sets:
        st["pooled"] = arrays.embedding_pool(table, st["d_ids"], lengths=st["d_lengths"])
    k = len(sets)

    def fwd(i):
        st = sets[i % k]
        arrays.embedding_pool(table, st["d_ids"], lengths=st["d_lengths"])

    out = cp.empty((B, D), table.dtype)

    def fwd_nocheck(i):  # the kernel alone, no error word and no sync: the check's cost
        st = sets[i % k]
        _device._py.embedding_pool_forward_cuda(
            table, st["d_ids"], st["d_lengths"], None, "mean", False, out, None, _device._stream()
        )

    def bwd(i):
        st = sets[i % k]
        arrays.embedding_pool_grad(
            table, st["d_ids"], st["pooled"], st["d_grad"], lengths=st["d_lengths"]
        )

    row["fwd"] = time_ms(fwd)
    row["fwd_nocheck"] = time_ms(fwd_nocheck)
    row["bwd"] = time_ms(bwd)
    nnz = np.mean([st["lengths"].sum() for st in sets])
    U = np.mean([np.unique(st["ids"][st["ids"] >= 0]).size for st in sets])
    row["U"] = U
    fb = forward_bytes(nnz, B, D, s, id_size)
    bb = backward_bytes(nnz, B * L, B, U, D, s, id_size, V)
    row["fwd_gbs"] = fb / row["fwd"][0] / 1e6
    row["bwd_gbs"] = bb / row["bwd"][0] / 1e6
    row["fwd_pct"] = 100 * row["fwd_gbs"] / copy_gbs
    row["bwd_pct"] = 100 * row["bwd_gbs"] / copy_gbs
    row["status"] = "ok"
    row["roofline"] = [
        dict(
            kernel="embedding_pool fwd",
            shape=f"{name} {dtype} {dist}",
            ms=row["fwd"][0],
            gbs=row["fwd_gbs"],
            bound="memory",
        ),
        dict(
            kernel="embedding_pool bwd",
            shape=f"{name} {dtype} {dist}",
            ms=row["bwd"][0],
            gbs=row["bwd_gbs"],
            bound="memory",
        ),
    ]
    log(
        f"{name} {dtype} {dist}: fwd {row['fwd'][0]:.4f} ms ({row['fwd_gbs']:.0f} GB/s), "
        f"fwd no check {row['fwd_nocheck'][0]:.4f} ms, bwd {row['bwd'][0]:.4f} ms "
        f"({row['bwd_gbs']:.0f} GB/s), U={U:.0f}, {k} id sets"
    )
    return row


def table_md(rows, ceil):
    out = header("embedding_pool", ceil) + [
        f"Times: ms, median (min-max) of {REPEAT} after {WARMUP} warm-up. Padded ids, "
        "lengths uniform 1..L, mean combiner, no weights; fwd includes the id check's sync, "
        "bwd is plan + fill (allocations and one sync). GB/s counts logical bytes "
        "(see forward_bytes / backward_bytes); % is of the copy's GB/s.",
        "",
        "| shape | dtype | ids | fwd ms | fwd GB/s | fwd % copy | fwd no-check ms "
        "| bwd ms | bwd GB/s | bwd % copy | U | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["shape"], r.get("dtype", ""), r.get("ids", "")]
        if r["status"] == "ok":
            cells += [
                fmt_t(r["fwd"]),
                f"{r['fwd_gbs']:.0f}",
                f"{r['fwd_pct']:.0f}%",
                f"{r['fwd_nocheck'][0]:.4f}",
                fmt_t(r["bwd"]),
                f"{r['bwd_gbs']:.0f}",
                f"{r['bwd_pct']:.0f}%",
                f"{r['U']:.0f}",
            ]
        else:
            cells += [""] * 8
        out.append("| " + " | ".join(cells + [r["status"]]) + " |")
    return "\n".join(out)


def main():
    rng = np.random.default_rng(0)
    ceil = ceilings()
    l2 = cp.cuda.runtime.getDeviceProperties(0)["l2CacheSize"]
    V = 1_000_000
    hot = rng.permutation(V)  # rank -> id, shared by every Zipf row
    rows = []
    for B, L, D in [(1024, 50, 64), (16384, 50, 128)]:
        for dtype in ("float32", "float16"):
            table = cp.random.standard_normal((V, D), dtype=cp.float32).astype(dtype)
            table_cpu = table.get()
            for dist in ("zipf", "uniform"):
                name = f"B={B} L={L} D={D} V={V:.0e} {dtype} {dist}"
                guarded(
                    log,
                    rows,
                    "embedding_pool",
                    name,
                    lambda t=table, c=table_cpu: bench_row(
                        rng, t, c, B, L, dist, hot, ceil["copy_gbs"], l2
                    ),
                )
            del table, table_cpu
            cp.get_default_memory_pool().free_all_blocks()
    return save(log, table_md(rows, ceil), rows)


if __name__ == "__main__":
    sys.exit(main())
