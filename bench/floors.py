"""The machine's physical floors: memory bandwidth and a matmul rate.

Bandwidth: the median of repeated copies of a 256 MB float32 array (numpy,
one thread: what one core streams; reads and writes counted). The op tables
state the bytes each op must move; dividing by this figure gives how close
an op runs to the memory floor.

Matmul: float32 [1024, 1024] x [1024, 1024] in TensorFlow (all threads),
GFLOP/s, the compute floor for the sampled softmax's q.c work.

Run: python -m bench.floors [--results bench/RESULTS.md]
"""

import argparse
import time

import numpy as np
import tensorflow as tf

from bench.harness import publish


def copy_bandwidth_gbs(mb=256, repeats=7):
    src = np.ones(mb * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return 2 * src.nbytes / np.median(times) / 1e9


def matmul_gflops(n=1024, repeats=10):
    a = tf.random.normal([n, n])
    f = tf.function(lambda: tf.matmul(a, a))
    f().numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f().numpy()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / np.median(times) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", help="rewrite this section of this file")
    args = parser.parse_args()
    bw, mm = copy_bandwidth_gbs(), matmul_gflops()
    rows = [["memory copy (1 thread, read + write)", f"{bw:.1f} GB/s"],
            ["float32 matmul 1024^3 (TF, all threads)", f"{mm:.1f} GFLOP/s"]]
    notes = ["Op tables state the bytes each op must move; divide by the bandwidth here for "
             "the memory floor, and flops by the matmul rate for the compute floor."]
    publish("Machine floors", notes, ["measure", "value"], rows, "floors", "bench.floors",
            args.results)


if __name__ == "__main__":
    main()
