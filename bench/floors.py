"""The machine's physical floors: memory bandwidth and a matmul rate.

Bandwidth: the fastest of repeated copies of a 128 MB float32 array (numpy,
one thread: what one core streams; reads and writes counted). The op tables
state the bytes each op must move; dividing by this figure gives how close
an op runs to the memory floor.

Matmul: float32 [1024, 1024] x [1024, 1024] in TensorFlow (all threads),
GFLOP/s, the compute floor for the sampled softmax's q.c work.

Run: python -m bench.floors [--results bench/RESULTS.md]
"""

import argparse

from bench.harness import floors, publish


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", help="rewrite this section of this file")
    args = parser.parse_args()
    bw, mm = floors()
    rows = [
        ["memory copy (1 thread, read + write)", f"{bw:.1f} GB/s"],
        ["float32 matmul 1024^3 (TF, all threads)", f"{mm:.1f} GFLOP/s"],
    ]
    notes = [
        "Op tables state the bytes (and flops) each op must move, and how close each "
        "run comes to them: floor time = max(bytes / copy bandwidth, flops / matmul "
        "rate), shown as a percentage of the measured time. Each benchmark measures "
        "these two figures again in its own process (bench.harness.floors)."
    ]
    publish(
        "Machine floors", notes, ["measure", "value"], rows, "floors", "bench.floors", args.results
    )


if __name__ == "__main__":
    main()
