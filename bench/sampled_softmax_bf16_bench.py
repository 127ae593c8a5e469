"""sampled_softmax_loss bfloat16 compute vs stock TF under mixed_bfloat16; float32 vs float32.

B=1024 queries, a 1,000,000-row float32 item table (a tf.Variable), S = 1000
and 8192 unique log-uniform negatives, D = 64 and 128; tf.function on the
CPU. Forward alone, and forward + backward (gradients for the query and the
table); the four sides (ydnn and stock, float32 and bfloat16) timed
interleaved in one process.

Stock bfloat16 is what a Keras model under the mixed_bfloat16 policy runs:
the candidate rows gathered from the float32 variable (a sparse gradient),
query and rows cast to bfloat16, the logits by bfloat16 matmuls (oneDNN:
float32 sums, a bfloat16 result, on AMX where the CPU has it), cast back to
float32 for the logQ correction, the hit mask and the cross-entropy
(ydnn_kernels.stock.sampled_softmax_loss with compute_dtype="bfloat16").
Stock float32 is tf.nn.sampled_softmax_loss, as in bench.sampled_softmax_bench.

Gates before timing: the fused float32 loss equals tf.nn's within 1e-4
relative; the fused bfloat16 loss equals the stock bfloat16 one within 1e-2
(the stock logits carry one more bfloat16 rounding, 2^-8 of q.c).

Floors: those of bench.sampled_softmax_bench (the larger of the bytes over
the copy bandwidth and the flops of the four products over a matmul rate),
with the bfloat16 rows' flops at TF's own bfloat16 matmul rate, measured
here on [2048, 2048] x [2048, 2048] (all threads), as bench.floors measures
the float32 one.

Run: python -m bench.sampled_softmax_bf16_bench [--quick] [--results bench/RESULTS.md]
"""

import argparse

import numpy as np
import tensorflow as tf

from bench.harness import floors, fmt_ms, matmul_gflops, percent_of_floor, publish, time_interleaved
from bench.sampled_softmax_bench import B, V, inputs, loss_fns, with_grads
from ydnn_kernels._device import _py

SIZES = [(64, 1000), (64, 8192), (128, 1000), (128, 8192)]  # (D, S)
SIDES = ("float32", "bfloat16")


def sides(table, query, labels, sv):
    """{"fused float32": fn, "stock float32": fn, "fused bfloat16": ..., ...}"""
    out = {}
    for dtype in SIDES:
        for who, fn in loss_fns(table, query, labels, sv, compute_dtype=dtype).items():
            out[f"{who} {dtype}"] = fn
    return out


def gate(fns):
    """None when the fused losses match stock's, else the failure's text."""
    for dtype, rtol, atol in (("float32", 1e-4, 1e-4), ("bfloat16", 1e-2, 1e-2)):
        f, s = fns[f"fused {dtype}"]().numpy(), fns[f"stock {dtype}"]().numpy()
        if not np.allclose(f, s, rtol=rtol, atol=atol):
            return f"FAILED: fused {dtype} loss != stock (max diff {np.abs(f - s).max():.3g})"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--results", help="rewrite this benchmark's section of this file")
    args = parser.parse_args()
    rounds, repeats = (3, 3) if args.quick else (6, 5)
    bf16_gflops = matmul_gflops(n=2048, dtype="bfloat16")
    rows = []
    for D, S in SIZES:
        table, query, labels, sv = inputs(S, dim=D)
        fns = sides(table, query, labels, sv)
        failed = gate(fns)
        if failed:
            rows.append([D, S, "", failed] + [""] * 8)
            continue
        timed = dict(warmup=3, rounds=rounds, repeats=repeats)
        fwd = time_interleaved({k: tf.function(v) for k, v in fns.items()}, **timed)
        both = time_interleaved(
            {k: tf.function(with_grads(v, table, query)) for k, v in fns.items()}, **timed
        )
        flops = 2 * B * (1 + S) * D
        fwd_bytes = 4 * D * (2 * B + S)
        both_bytes = 2 * fwd_bytes + 4 * D * (B + B + S)
        for dtype in SIDES:
            fused, stock = f"fused {dtype}", f"stock {dtype}"
            rate = bf16_gflops if dtype == "bfloat16" else None
            f_fwd, f_both = fwd.stats(fused)[0], both.stats(fused)[0]
            rows.append(
                [
                    D,
                    S,
                    dtype,
                    fmt_ms(f_fwd),
                    fmt_ms(fwd.stats(stock)[0]),
                    f"{fwd.ratio(stock, fused):.2f}x",
                    percent_of_floor(f_fwd, fwd_bytes, flops, rate),
                    fmt_ms(f_both),
                    fmt_ms(both.stats(stock)[0]),
                    f"{both.ratio(stock, fused):.2f}x",
                    percent_of_floor(f_both, both_bytes, 4 * flops, rate),
                    f"{both.ratio('fused float32', fused):.2f}x",
                ]
            )
        del table
    header = [
        "D",
        "S",
        "compute",
        "fwd ydnn ms",
        "fwd TF ms",
        "fwd speedup",
        "fwd ydnn % of floor",
        "fwd+bwd ydnn ms",
        "fwd+bwd TF ms",
        "fwd+bwd speedup",
        "fwd+bwd ydnn % of floor",
        "fwd+bwd vs ydnn float32",
    ]
    gbs, f32_gflops = floors()
    notes = [
        f"B={B}, V={V:,} float32 table (a tf.Variable), unique log-uniform negatives, "
        "tf.function on the CPU; medians, speedup = median of per-round ratios. TF for "
        "float32 is tf.nn.sampled_softmax_loss; TF for bfloat16 is the stock twin under "
        "Keras mixed_bfloat16 semantics (float32 gather, bfloat16 casts and matmuls). "
        f"ydnn's bfloat16 products ran on: {_py.cpu_bf16()} (vector path {_py.cpu_isa()}).",
        f"Floors of this run: {gbs:.1f} GB/s copy bandwidth, {f32_gflops:.1f} GFLOP/s float32 "
        f"matmul (1024^3), {bf16_gflops:.1f} GFLOP/s bfloat16 matmul (2048^3, TF/oneDNN); "
        "the bfloat16 rows' % of floor use the bfloat16 rate.",
    ]
    publish(
        'sampled_softmax_loss(compute_dtype="bfloat16") vs stock TF mixed_bfloat16',
        notes,
        header,
        rows,
        "sampled_softmax_bf16",
        "bench.sampled_softmax_bf16_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
