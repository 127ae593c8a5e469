"""The candidate samplers' CUDA kernels timed on CuPy, against their CPU
kernels in the same process, without TensorFlow.

    python3 bench/gpu/sampler_gpu_bench.py     # from the repo root

Rows: log-uniform and unigram (alias table of Zipf counts), unique and with
replacement, S = 100 / 1000 / 8192 / 65536 over 1,000,000 ids, plus one
large draw (S = 2^22, with replacement) that shows the kernels' draw rate.
Each row first checks that the GPU's ids and num_tries equal the CPU's for
the same seed and counter (they are one Philox stream) and is marked FAILED,
untimed, if not. Every timed call starts at a fresh counter.

A call is the whole `arrays.*_sample`: the draws, the unique path's chunk
syncs (one 16-byte read back per chunk), both expected-count kernels and
the allocations. Small samples are latency-bound: the "sync floor" column is
one tiny kernel plus one read back to the host, the least any unique call
costs. The draws themselves are arithmetic (ten Philox rounds, then a double
log1p/exp for log-uniform, or one 16-byte alias-table read for unigram), so
the table reports draws per second, not GB/s. CPU: ydnn's thread pool over
all cores (`YDNN_NUM_THREADS` unset), median of wall-clock times.
"""

import os
import sys
import time

import cupy as cp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
from gpu_common import REPEAT, WARMUP, Log, ceilings, fmt_t, guarded, header, save, time_ms  # noqa: E402

from ydnn_kernels import arrays  # noqa: E402

R = 1_000_000
log = Log()


def cpu_ms(fn, warmup=WARMUP, repeat=REPEAT):
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times)), min(times), max(times)


def sync_floor_ms():
    """One tiny kernel and one 8-byte read back to the host."""
    x = cp.zeros(1, cp.int64)
    return time_ms(lambda _: (x + 1).item())


def zipf_counts(V, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.floor(1e6 / np.arange(1, V + 1) ** 1.1) + 1
    return counts[rng.permutation(V)]  # popularity not sorted by id


def samplers():
    """name -> (call(S, unique, counter, device) -> (ids, tries))."""
    counts = zipf_counts(R)
    host = arrays.unigram_table(counts, 0.75)
    dev = arrays.unigram_table(counts, 0.75, device="cuda")

    def log_uniform(S, unique, counter, device):
        out = arrays.log_uniform_sample(
            S, R - 1, 0, unique, seed=7, seed2=8, counter=counter, device=device
        )
        return out[0], out[3]

    def unigram(S, unique, counter, device):
        out = arrays.unigram_sample(
            host if device == "cpu" else dev, S, unique, seed=7, seed2=8, counter=counter
        )
        return out[0], out[3]

    return {"log_uniform": log_uniform, "unigram": unigram}


def bench_row(name, call, S, unique, floor):
    shape = f"S={S} R={R:.0e} " + ("unique" if unique else "with replacement")
    row = dict(kernel=name, shape=shape)
    ids_c, tries_c = call(S, unique, 12345, "cpu")
    ids_g, tries_g = call(S, unique, 12345, "cuda")
    if tries_g != tries_c or not np.array_equal(ids_g.get(), ids_c):
        log(
            f"FAILED {name} {shape}: GPU ids/num_tries differ from CPU "
            f"(tries {tries_g} vs {tries_c})"
        )
        return dict(row, status="FAILED: ids differ from CPU")
    stride = 8 * S + 4096  # fresh draws for every call
    row["gpu"] = time_ms(lambda i: call(S, unique, (i + 1) * stride, "cuda"))
    row["cpu"] = cpu_ms(lambda i: call(S, unique, (i + 1) * stride, "cpu"), repeat=9)
    row["tries"] = tries_c
    row["ms"] = row["gpu"][0]
    row["gdraws"] = tries_c / row["ms"] / 1e6
    row["cpu_ratio"] = row["cpu"][0] / row["ms"]
    row["floor_ratio"] = row["ms"] / floor
    row["bound"] = "latency" if row["ms"] < 4 * floor else "compute"
    row["status"] = "ok"
    log(
        f"{name} {shape}: GPU {row['ms']:.4f} ms ({row['gdraws']:.2f} G draws/s, "
        f"{tries_c} draws), CPU {row['cpu'][0]:.4f} ms, CPU/GPU {row['cpu_ratio']:.1f}x"
    )
    return row


def table_md(rows, ceil, floor):
    out = header("Candidate samplers", ceil) + [
        f"Ids in [0, {R:,}); unigram: alias table of Zipf(1.1) counts, distortion 0.75. "
        f"GPU: ms, median (min-max) of {REPEAT} after {WARMUP} warm-up, CUDA events around "
        "the whole call (draws, unique-path syncs, expected counts, allocations). CPU: ydnn's "
        f"kernels on all {os.cpu_count()} cores, wall clock, median of 9. Sync floor (one tiny "
        f"kernel + one read back): {floor:.4f} ms. draws: num_tries of the call.",
        "",
        "| sampler | shape | GPU ms | draws | G draws/s | x sync floor | CPU ms | CPU / GPU "
        "| status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["kernel"], r["shape"]]
        if r["status"] == "ok":
            cells += [
                fmt_t(r["gpu"]),
                str(r["tries"]),
                f"{r['gdraws']:.2f}",
                f"{r['floor_ratio']:.1f}",
                fmt_t(r["cpu"]),
                f"{r['cpu_ratio']:.1f}x",
            ]
        else:
            cells += [""] * 6
        out.append("| " + " | ".join(cells + [r["status"]]) + " |")
    return "\n".join(out)


def main():
    ceil = ceilings()
    floor = sync_floor_ms()[0]
    rows = []
    for name, call in samplers().items():
        for unique in (True, False):
            for S in (100, 1000, 8192, 65536):
                guarded(
                    log,
                    rows,
                    name,
                    f"S={S} unique={unique}",
                    lambda: bench_row(name, call, S, unique, floor),
                )
        guarded(log, rows, name, "S=2^22", lambda: bench_row(name, call, 1 << 22, False, floor))
    return save(log, table_md(rows, ceil, floor), rows)


if __name__ == "__main__":
    sys.exit(main())
