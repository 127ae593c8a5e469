"""topk_scores' CUDA kernel timed on CuPy arrays, without TensorFlow.

    python3 bench/gpu/topk_scores_gpu_bench.py           # from the repo root
    python3 bench/gpu/topk_scores_gpu_bench.py --short   # what run.sh runs

Exact top-k over a whole table: V = 10^6 and 10^7 rows of D = 64, B = 1
(one query: bound by reading the table) and B = 256 (bound by the 2 B V D
flops), k = 10 and 100, float32 and a 2-byte table (bfloat16 where CuPy can
hold it, else float16: the same bytes and the same fp32 arithmetic). Each
shape is placed on the card's two ceilings (gpu_common.ceilings): % of the
8192^3 fp32 matmul rate (useful flops 2 B V D) and % of the device copy
(bytes V D s + B D 4 + B k 12: the table once). Anchor, when torch imports:
torch.topk(q @ C^T) over chunks of 2^20 rows in fp32 (a 2-byte table
widened chunk by chunk), then one topk over the chunks' winners: what a
user writes without a fused kernel. Timed: arrays.topk_scores whole (its
workspace from CuPy's pool and its one error-check sync included).

Correctness gate, before timing: for the first 8 query rows, float64
scores on the device; every returned id must be a real candidate, its
score within fp32 error of the float64 one, in order, and no better
candidate left out (beyond fp32 error). A failing shape is marked FAILED,
untimed. --short: k = 100 only, no torch anchor for 2-byte tables, fewer
repeats; about 20 s on an H100.
"""

import argparse
import os
import sys

import cupy as cp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
from gpu_common import REPEAT, WARMUP, Log, ceilings, fmt_t, guarded, header, save, time_ms  # noqa: E402

from ydnn_kernels import arrays  # noqa: E402

try:
    import torch

    HAVE_TORCH = torch.cuda.is_available()
except ImportError:  # the anchor is optional
    torch = None
    HAVE_TORCH = False

D = 64
GATE_ROWS = 8
TORCH_CHUNK = 1 << 20
log = Log()


def two_byte_dtype():
    """bfloat16 when CuPy can hold it and the kernel takes it, else float16."""
    try:
        import ml_dtypes

        t = cp.asarray(np.zeros((2, 2), ml_dtypes.bfloat16))
        arrays.topk_scores(cp.zeros((1, 2), cp.float32), t, 1)
        return "bfloat16"
    except (ImportError, TypeError, ValueError):
        return "float16"


def make_table(V, dtype):
    """[V, D] N(0, 0.3^2) on the device, generated in pieces (a whole 10^7 x 64
    float32 draw would double the peak); bfloat16 rounded from float32 bits."""
    bf16 = dtype == "bfloat16"
    store = cp.uint16 if bf16 else cp.float32 if dtype == "float32" else cp.float16
    table = cp.empty((V, D), dtype=store)
    step = 1 << 22
    for v0 in range(0, V, step):
        piece = cp.random.standard_normal((min(step, V - v0), D), dtype=cp.float32) * 0.3
        if bf16:  # round to nearest even, as ml_dtypes does
            bits = piece.view(cp.uint32)
            piece = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(cp.uint16)
        table[v0 : v0 + step] = piece.astype(store)
    if bf16:
        import ml_dtypes

        table = table.view(ml_dtypes.bfloat16)
    return table


def gate(queries, table, k, scores, ids):
    """None when the first GATE_ROWS rows are a correct top k, else why not."""
    n = min(GATE_ROWS, queries.shape[0])
    q = queries[:n].astype(cp.float64)
    s, i = scores[:n].get().astype(np.float64), ids[:n].get()
    V = table.shape[0]
    if i.min() < 0 or i.max() >= V:
        return "ids out of range (the table has enough candidates)"
    if any(len(set(r.tolist())) != k for r in i):
        return "an id repeats within a row"
    if np.any(np.diff(s, axis=1) > 0):
        return "scores not in descending order"
    best = np.full((n, k + 1), -np.inf)
    absq = cp.abs(q)
    bound = np.zeros(n)  # float32 accumulation error bound: 1e-5 (1 + max_v sum_d |q_d t_d|)
    for v0 in range(0, V, TORCH_CHUNK):
        c = table[v0 : v0 + TORCH_CHUNK].astype(cp.float64)
        z = q @ c.T
        bound = np.maximum(bound, (absq @ cp.abs(c).T).max(axis=1).get())
        top = cp.sort(z, axis=1)[:, -(k + 1) :].get()
        best = np.sort(np.concatenate([best, top], axis=1), axis=1)[:, -(k + 1) :]
    tol = 1e-5 * (1 + bound)[:, None]
    exact = np.stack(
        [(q[r] @ table[cp.asarray(i[r])].astype(cp.float64).T).get() for r in range(n)]
    )
    if np.any(np.abs(exact - s) > tol):
        return f"scores off the float64 ones by {np.abs(exact - s).max():.3g}"
    ref = best[:, ::-1][:, :k]  # the k best float64 scores, descending
    if np.any(np.abs(s - ref) > tol):
        return "a better candidate was left out"
    return None


def torch_topk(q, table, k):
    """The unfused anchor: fp32 logits per chunk of rows, topk, then topk of the winners."""
    tq = torch.from_dlpack(q)
    two_byte = table.dtype != cp.float32
    tt = torch.from_dlpack(table.view(cp.int16) if two_byte else table)
    if two_byte:
        tt = tt.view(torch.bfloat16 if table.dtype.name == "bfloat16" else torch.float16)
    vals, idx = [], []
    for v0 in range(0, tt.shape[0], TORCH_CHUNK):
        c = tt[v0 : v0 + TORCH_CHUNK]
        z = tq @ (c.float() if two_byte else c).T
        s, i = torch.topk(z, min(k, c.shape[0]), dim=1)
        vals.append(s)
        idx.append(i + v0)
    s, j = torch.topk(torch.cat(vals, 1), k, dim=1)
    return s, torch.gather(torch.cat(idx, 1), 1, j)


def bench_row(rng, table, V, B, k, dtype, ceil, short):
    s_bytes = 4 if dtype == "float32" else 2
    name = f"B={B} V={V:.0e} D={D} k={k}"
    row = dict(kernel="topk_scores", shape=f"{name} {dtype}", dtype=dtype, B=B, V=V, k=k)
    q = cp.asarray((rng.standard_normal((B, D)) * 0.3).astype(np.float32))
    scores, ids = arrays.topk_scores(q, table, k)
    failure = gate(q, table, k, scores, ids)
    if failure:
        log(f"FAILED {name} {dtype}: {failure}")
        return dict(row, status="FAILED: " + failure)
    repeat = 10 if short else REPEAT
    row["t"] = time_ms(lambda _: arrays.topk_scores(q, table, k), repeat=repeat)
    ms = row["t"][0]
    flops, nbytes = 2 * B * V * D, V * D * s_bytes + B * D * 4 + B * k * 12
    row["tflops"], row["gbs"] = flops / ms / 1e9, nbytes / ms / 1e6
    row["pct_mm"] = 100 * row["tflops"] / ceil["matmul_tflops"]
    row["pct_copy"] = 100 * row["gbs"] / ceil["copy_gbs"]
    if HAVE_TORCH and not (short and dtype != "float32"):
        row["torch"] = time_ms(lambda _: torch_topk(q, table, k), repeat=repeat)
    row["ms"] = ms
    row["bound"] = "memory" if B < 32 else "compute"
    row["status"] = "ok"
    anchor = f", torch chunked {row['torch'][0]:.3f} ms" if "torch" in row else ""
    log(
        f"{name} {dtype}: {ms:.3f} ms, {row['tflops']:.1f} TFLOP/s ({row['pct_mm']:.0f}% matmul), "
        f"{row['gbs']:.0f} GB/s ({row['pct_copy']:.0f}% copy){anchor}"
    )
    return row


def table_md(rows, ceil, short):
    out = header("topk_scores", ceil) + [
        f"D = {D}, queries and table N(0, 0.3^2), no exclusions, min_id 0"
        + (" (short run)." if short else "."),
        f"Times: ms, median (min-max) of {10 if short else REPEAT} after {WARMUP} warm-up, CUDA "
        "events, the whole arrays.topk_scores call (its one sync included). TFLOP/s counts "
        "2 B V D; % matmul is of the 8192^3 fp32 rate. GB/s counts the table once + queries + "
        "outputs; % copy is of the device copy. torch: topk(q @ C^T) in fp32 over chunks of "
        "2^20 rows, then topk of the winners (empty: torch missing or skipped).",
        "",
        "| shape | dtype | ms | TFLOP/s | % matmul | GB/s | % copy | torch ms | speedup | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"B={r.get('B', '')} V={r.get('V', 0):.0e} k={r.get('k', '')}", r.get("dtype", "")]
        if r["status"] == "ok":
            t = r.get("torch")
            cells += [
                fmt_t(r["t"]),
                f"{r['tflops']:.2f}",
                f"{r['pct_mm']:.0f}%",
                f"{r['gbs']:.0f}",
                f"{r['pct_copy']:.0f}%",
                f"{t[0]:.3f}" if t else "",
                f"{t[0] / r['ms']:.1f}x" if t else "",
            ]
        else:
            cells += [""] * 7
        out.append("| " + " | ".join(cells + [r["status"]]) + " |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="k = 100 only, fewer repeats")
    short = parser.parse_args().short
    rng = np.random.default_rng(0)
    ceil = ceilings()
    rows = []
    ks = (100,) if short else (10, 100)
    for dtype in ("float32", two_byte_dtype()):
        for V in (10**6, 10**7):
            table = make_table(V, dtype)
            for B in (1, 256):
                for k in ks:
                    guarded(
                        log,
                        rows,
                        "topk_scores",
                        f"B={B} V={V:.0e} k={k} {dtype}",
                        lambda t=table, V=V, B=B, k=k: bench_row(
                            rng, t, V, B, k, dtype, ceil, short
                        ),
                    )
            del table
            cp.get_default_memory_pool().free_all_blocks()
            if HAVE_TORCH:
                torch.cuda.empty_cache()
    return save(log, table_md(rows, ceil, short), rows)


if __name__ == "__main__":
    sys.exit(main())
