"""Writes a `bench/gpu/run.sh` run into bench/RESULTS.md (section "gpu").

    python bench/gpu/paste_results.py DIR [--results bench/RESULTS.md]

DIR holds what run.sh left in $OUT on the GPU machine (run.log and
gpu_bench.md), fetched here by the device tool. The section keeps the card,
the toolchain, each stage's time, the per-file test results and every
markdown table (the benchmarks' own tables and the roofline), and drops the
benchmarks' progress lines. Nothing in it is typed by hand: rerun run.sh on
a GPU and paste again to refresh it.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from bench.harness import markdown_table, write_section  # noqa: E402


def run_summary(log):
    """(machine lines, [(stage, seconds)], [(test file, exit, summary)], total line)."""
    lines = log.splitlines()
    end = next((i for i, x in enumerate(lines) if x.startswith("-- ")), 1)
    machine = [
        f"{x} CPU cores" if x.isdigit() else x
        for x in lines[1:end]
        if not x.startswith("name, driver_version")
    ]  # nvidia-smi's CSV header
    stages, tests, stage = [], [], None
    for line in lines:
        if line.startswith("== "):
            stage = line[3:]
        elif line.startswith("-- ") and line.endswith(" s") and stage:
            stages.append((stage, line[3:-2]))
            stage = None
        m = re.match(r"^(tests/\S+\.py)\s+exit\s+(\d+)\s*(.*)$", line)
        if m:
            tests.append(m.groups())
    total = next((x for x in reversed(lines) if x.startswith("total ")), "total: not reached")
    return machine, stages, tests, total


def tables(md):
    """The markdown blocks of gpu_bench.md: from each '## ' heading through
    its table, without the progress lines that precede each block."""
    keep, inside = [], False
    for para in md.split("\n\n"):
        para = para.strip("\n")
        if para.startswith("## "):
            inside = True
            para = "#" + para  # one level below the section's own heading
        if inside:
            keep.append(para)
            if para.startswith("|"):
                inside = False
    return "\n\n".join(keep)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="the fetched $OUT folder of a run.sh call")
    parser.add_argument("--results", default="bench/RESULTS.md")
    args = parser.parse_args()
    with open(os.path.join(args.dir, "run.log")) as f:
        machine, stages, tests, total = run_summary(f.read())
    with open(os.path.join(args.dir, "gpu_bench.md")) as f:
        body = tables(f.read())
    text = "\n".join(
        [
            "### CUDA kernels on a GPU (bench/gpu/run.sh)",
            "",
            "Machine, as run.sh printed it: " + "; ".join(x.strip() for x in machine),
            "",
            f"Stages: {', '.join(f'{s} {t} s' for s, t in stages)}; {total}.",
            "",
            "Tests (one pytest process per file; the CuPy files check every CUDA kernel against "
            "the float64 NumPy references and the CPU kernels):",
            "",
            markdown_table(["file", "exit", "result"], tests),
            "",
            body,
            "",
        ]
    )
    write_section(
        args.results,
        "gpu",
        text,
        "bash bench/gpu/run.sh (one device call), then "
        f"python bench/gpu/paste_results.py <its $OUT> --results {args.results}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
