"""The one table `run.sh` ends with: every timed GPU row of this run placed
on the card's measured ceilings, and every row that failed its correctness
gate or raised.

    python3 bench/gpu/roofline.py     # after the benchmarks, same $OUT

Reads gpu_common's ceilings.json and rows.jsonl. For each row: its median
time; its logical GB/s as % of the device-to-device copy (memory-bound
kernels); its useful TFLOP/s as % of the fp32 matmul (the sampled softmax);
for the samplers, draws per second. The table is also appended to
gpu_bench.md. Exit status 1 if any row is not ok.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gpu_common import OUT_DIR, card, ceilings  # noqa: E402


def cells(r, ceil):
    if r.get("status", "ok") != "ok":
        return ["", "", "", "", "", r["status"]]
    gbs = f"{r['gbs']:.0f}" if "gbs" in r else ""
    pct_copy = f"{100 * r['gbs'] / ceil['copy_gbs']:.0f}%" if "gbs" in r else ""
    if "tflops" in r:
        rate = f"{r['tflops']:.1f} TFLOP/s ({100 * r['tflops'] / ceil['matmul_tflops']:.0f}%)"
    elif "gdraws" in r:
        rate = f"{r['gdraws']:.2f} G draws/s"
    else:
        rate = ""
    return [f"{r['ms']:.4f}", gbs, pct_copy, rate, r.get("bound", ""), "ok"]


def main():
    path = os.path.join(OUT_DIR, "rows.jsonl")
    if not os.path.exists(path):
        print(f"no benchmark rows in {path}")
        return 1
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    ceil, c = ceilings(), card()
    lines = [
        f"## Roofline: every CUDA kernel on {c['name']}",
        "",
        f"Device-to-device copy {ceil['copy_gbs']:.0f} GB/s (read + write), fp32 matmul "
        f"8192^3 {ceil['matmul_tflops']:.1f} TFLOP/s, measured in this run. Times: median "
        "ms of the whole call (see each table above for what it includes).",
        "",
        "| kernel | shape | ms | GB/s | % copy | compute rate (% fp32 matmul) | bound | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| " + " | ".join([r["kernel"], r["shape"]] + cells(r, ceil)) + " |")
    bad = [r for r in rows if r.get("status", "ok") != "ok"]
    lines += ["", f"{len(rows)} rows, {len(bad)} not ok."]
    md = "\n".join(lines)
    print(md, flush=True)
    with open(os.path.join(OUT_DIR, "gpu_bench.md"), "a") as f:
        f.write(md + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
