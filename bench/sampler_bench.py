"""log_uniform_sample vs tf.random.log_uniform_candidate_sampler, in one
process, unique and not, at S = 100, 1000, 8192, 65536 over 1,000,000 ids.

Both run inside tf.function with 1024 true labels whose expected counts are
also computed (as sampled softmax asks). Gate before timing: our ids are in
range (and distinct when unique) and our expected counts follow TF's
formula for the num_tries we report.

Run: python -m bench.sampler_bench [--quick] [--results bench/RESULTS.md]
"""

import argparse

import numpy as np
import tensorflow as tf

from bench.harness import fmt_ms, publish, time_interleaved
from ydnn_kernels.sampler_op import _ops

RANGE = 1_000_000
SIZES = (100, 1000, 8192, 65536)


def gate(S, unique):
    true = tf.constant(np.arange(1024), tf.int64)
    ids, _, ec, tries = _ops.ydnn_log_uniform_sample(true, num_sampled=S, min_id=0,
                                                     max_id=RANGE - 1, unique=unique, seed=1)
    ids, ec, t = ids.numpy(), ec.numpy().astype(np.float64), int(tries)
    p = np.log1p(1.0 / (ids + 1.0)) / np.log1p(RANGE)
    want = p * S if t == S else -np.expm1(t * np.log1p(-p))
    ok = ids.min() >= 0 and ids.max() < RANGE and np.allclose(ec, want, rtol=1e-5)
    return ok and (not unique or len(np.unique(ids)) == S)


def bench(S, unique, rounds, repeats):
    labels = tf.constant(np.arange(1024).reshape(-1, 1), tf.int64)
    fused = tf.function(lambda: _ops.ydnn_log_uniform_sample(
        tf.reshape(labels, [-1]), num_sampled=S, min_id=0, max_id=RANGE - 1, unique=unique,
        seed=1, seed2=2)[:3])
    stock = tf.function(lambda: tf.random.log_uniform_candidate_sampler(
        labels, 1, S, unique=unique, range_max=RANGE, seed=1))
    return time_interleaved({"fused": fused, "stock": stock}, rounds=rounds, repeats=repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--results", help="rewrite this benchmark's section of this file")
    args = parser.parse_args()
    rounds, repeats = (3, 5) if args.quick else (10, 10)
    rows = []
    for unique in (True, False):
        for S in SIZES:
            if not gate(S, unique):
                rows.append([S, unique, "FAILED", "", "", "", ""])
                continue
            t = bench(S, unique, rounds, repeats)
            (fm, flo, fhi), (sm, slo, shi) = t.stats("fused"), t.stats("stock")
            rows.append([S, unique, fmt_ms(fm), f"{fmt_ms(flo)} / {fmt_ms(fhi)}", fmt_ms(sm),
                         f"{fmt_ms(slo)} / {fmt_ms(shi)}", f"{t.ratio('stock', 'fused'):.2f}x"])
    header = ["S", "unique", "ydnn median ms", "ydnn min / max", "TF median ms", "TF min / max",
              "speedup (median of per-round ratios)"]
    notes = [f"Range {RANGE:,} ids, 1024 true labels, both in tf.function on the CPU."]
    publish("log_uniform_sample vs tf.random.log_uniform_candidate_sampler", notes, header, rows,
            "sampler", "bench.sampler_bench", args.results)

if __name__ == "__main__":
    main()
