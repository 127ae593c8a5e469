"""The fused sampled softmax's CUDA kernels timed on CuPy arrays, without TensorFlow.

    python3 bench/gpu/sampled_softmax_gpu_bench.py     # from the repo root

Places each shape on the card's two ceilings (gpu_common.ceilings: the
device-to-device copy and the 8192^3 fp32 matmul), and next to cuBLAS doing only the logits GEMM
of the same shape (q [B, D] x gathered candidates [J, D]^T, fp32): the part
of the work a matmul library can do at all. Forward is
arrays.sampled_softmax_loss (its one sync included); backward is
arrays.sampled_softmax_loss_grad (plan, its sync, allocations, fill).

Useful work: 2 B J D flops forward, 6 B J D backward (the kernels execute
8 B J D: they recompute the logits for dq and for dC, once per 64-wide D
chunk). Bytes that must move: the J + B candidate and positive rows (s
bytes per element), q, the outputs (forward 8 B; backward dq 4 B D and the
U gradient rows). Each row is first checked against the CPU kernels and
marked FAILED, untimed, if they differ. The markdown table is printed last
and appended to the report (gpu_common.save).
"""

import os
import sys

import cupy as cp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
from gpu_common import REPEAT, WARMUP, Log, ceilings, fmt_t, guarded, header, save, time_ms  # noqa: E402

from ydnn_kernels import arrays  # noqa: E402

V = 1_000_000
log = Log()


def make_inputs(rng, table, B, S, in_batch):
    D = table.shape[1]
    pos = rng.integers(0, V, B)
    sampled = rng.choice(V, S, replace=False)
    host = dict(
        query=(rng.standard_normal((B, D)) * 0.3).astype(np.float32),
        positive_ids=pos,
        sampled_ids=sampled,
        true_expected_count=rng.uniform(1e-3, 1.0, B).astype(np.float32),
        sampled_expected_count=rng.uniform(1e-3, 1.0, S).astype(np.float32),
    )
    dev = {k: cp.asarray(v) for k, v in host.items()}
    kw = dict(temperature=0.1, in_batch_negatives=in_batch)
    return host, dev, kw


def gate(table_cpu, table, host, dev, kw):
    """GPU forward and backward against the CPU kernels; None when they agree."""
    loss_c, lse_c, _ = arrays.sampled_softmax_loss(table=table_cpu, **host, **kw)
    loss, lse, _ = arrays.sampled_softmax_loss(table=table, **dev, **kw)
    g = np.ones(len(loss_c), np.float32)
    gq_c, ids_c, rows_c = arrays.sampled_softmax_loss_grad(
        table=table_cpu, **host, lse=lse_c, grad_loss=g, **kw
    )
    gq, ids, rows = arrays.sampled_softmax_loss_grad(
        table=table, **dev, lse=lse, grad_loss=cp.asarray(g), **kw
    )

    def close(a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return a.shape == b.shape and bool(
            np.all(np.abs(a - b) <= 1e-3 * max(1.0, float(np.abs(b).max(initial=0.0))))
        )

    if not close(loss.get(), loss_c):
        return "loss differs from CPU"
    if not np.array_equal(ids.get(), ids_c):
        return "unique ids differ from CPU"
    if not close(gq.get(), gq_c) or not close(rows.get(), rows_c):
        return "gradients differ from CPU"
    return None


def bench_row(rng, table, table_cpu, B, S, in_batch, copy_gbs, tflops):
    D, s = table.shape[1], table.dtype.itemsize
    J = S + (B if in_batch else 0)
    name = f"B={B} D={D} S={S}" + (" +in-batch" if in_batch else "")
    row = dict(kernel="sampled_softmax", shape=name, dtype=str(table.dtype))
    host, dev, kw = make_inputs(rng, table, B, S, in_batch)
    failure = gate(table_cpu, table, host, dev, kw)
    if failure:
        log(f"FAILED {name} {table.dtype}: {failure}")
        return dict(row, status="FAILED: " + failure)
    _, lse, _ = arrays.sampled_softmax_loss(table=table, **dev, **kw)
    g = cp.ones(B, np.float32)
    row["fwd"] = time_ms(lambda _: arrays.sampled_softmax_loss(table=table, **dev, **kw))
    row["bwd"] = time_ms(
        lambda _: arrays.sampled_softmax_loss_grad(table=table, **dev, lse=lse, grad_loss=g, **kw)
    )
    cols = (
        cp.concatenate([dev["positive_ids"], dev["sampled_ids"]])
        if in_batch
        else dev["sampled_ids"]
    )
    gathered = table[cols].astype(cp.float32)
    out = cp.empty((B, J), cp.float32)
    row["gemm"] = time_ms(lambda _: cp.matmul(dev["query"], gathered.T, out=out))
    U = len(np.unique(np.concatenate([host["positive_ids"], host["sampled_ids"]])))
    rows_bytes = (J + B) * D * s
    fwd_bytes = rows_bytes + B * D * 4 + 8 * B
    bwd_bytes = rows_bytes + 2 * B * D * 4 + U * D * s + 8 * B
    for key, flops, nbytes in (
        ("fwd", 2 * B * J * D, fwd_bytes),
        ("bwd", 6 * B * J * D, bwd_bytes),
    ):
        ms = row[key][0]
        row[key + "_tflops"] = flops / ms / 1e9
        row[key + "_pct"] = 100 * row[key + "_tflops"] / tflops
        row[key + "_gbs"] = nbytes / ms / 1e6
        row[key + "_bw_pct"] = 100 * row[key + "_gbs"] / copy_gbs
    row["status"] = "ok"
    row["roofline"] = [
        dict(
            kernel=f"sampled_softmax {k}",
            shape=f"{name} {table.dtype}",
            ms=row[k][0],
            gbs=row[k + "_gbs"],
            tflops=row[k + "_tflops"],
            bound="compute",
        )
        for k in ("fwd", "bwd")
    ]
    log(
        f"{name} {table.dtype}: fwd {row['fwd'][0]:.4f} ms ({row['fwd_tflops']:.1f} TFLOP/s), "
        f"bwd {row['bwd'][0]:.4f} ms ({row['bwd_tflops']:.1f} TFLOP/s), "
        f"logits GEMM alone {row['gemm'][0]:.4f} ms, U={U}"
    )
    return row


def table_md(rows, ceil):
    out = header("sampled_softmax", ceil) + [
        f"V = {V:,}, temperature 0.1, unique sampled ids, remove_accidental_hits.",
        f"Times: ms, median (min-max) of {REPEAT} after {WARMUP} warm-up, CUDA events; fwd "
        "includes its sync, bwd the plan's sync and allocations. TFLOP/s counts useful flops "
        "(2 BJD fwd, 6 BJD bwd); % matmul is of the 8192^3 fp32 rate; GB/s counts the "
        "candidate + positive rows, q and the outputs once; % copy is of the copy's GB/s. "
        "GEMM: cuBLAS fp32 q x C_gathered^T alone (no gather, logQ, mask or softmax).",
        "",
        "| shape | dtype | fwd ms | fwd TFLOP/s | % matmul | fwd GB/s | % copy "
        "| bwd ms | bwd TFLOP/s | % matmul | bwd GB/s | % copy | GEMM ms | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["shape"], r.get("dtype", "")]
        if r["status"] == "ok":
            for k in ("fwd", "bwd"):
                cells += [
                    fmt_t(r[k]),
                    f"{r[k + '_tflops']:.1f}",
                    f"{r[k + '_pct']:.0f}%",
                    f"{r[k + '_gbs']:.0f}",
                    f"{r[k + '_bw_pct']:.0f}%",
                ]
            cells.append(f"{r['gemm'][0]:.4f}")
        else:
            cells += [""] * 11
        out.append("| " + " | ".join(cells + [r["status"]]) + " |")
    return "\n".join(out)


def main():
    rng = np.random.default_rng(0)
    ceil = ceilings()
    copy_gbs, tflops = ceil["copy_gbs"], ceil["matmul_tflops"]
    rows = []
    # The shapes (B = 1024, D = 64, S = 100 / 1000 / 8192), in-batch,
    # and a larger batch where the tiles, not the splits, fill the card.
    shapes = [
        (1024, 64, 100, False),
        (1024, 64, 1000, False),
        (1024, 64, 8192, False),
        (1024, 64, 8192, True),
        (8192, 128, 8192, False),
    ]
    for dtype in ("float32", "float16"):
        for D in sorted({d for _, d, _, _ in shapes}):
            table = (cp.random.standard_normal((V, D), dtype=cp.float32) * 0.3).astype(dtype)
            table_cpu = table.get()
            for B, d, S, in_batch in shapes:
                if d != D:
                    continue
                name = f"B={B} D={D} S={S}" + (" +in-batch" if in_batch else "") + f" {dtype}"
                guarded(
                    log,
                    rows,
                    "sampled_softmax",
                    name,
                    lambda t=table, c=table_cpu: bench_row(
                        rng, t, c, B, S, in_batch, copy_gbs, tflops
                    ),
                )
            del table, table_cpu
            cp.get_default_memory_pool().free_all_blocks()
    return save(log, table_md(rows, ceil), rows)


if __name__ == "__main__":
    sys.exit(main())
