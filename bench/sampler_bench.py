"""Candidate samplers vs stock TF in one process, unique and not, at
S = 100, 1000, 8192, 65536 over 1,000,000 ids:

* log_uniform_sample vs tf.random.log_uniform_candidate_sampler;
* unigram_sample (UnigramTable built once) vs
  tf.random.fixed_unigram_candidate_sampler, same Zipf counts, distortion 0.75.

Each pair is timed inside tf.function (and, for log-uniform, eagerly), with
1024 true labels whose expected counts are also computed (as sampled
softmax asks). Gate
before timing: our ids are in range (and distinct when unique) and our
expected counts follow TF's formula for the num_tries we report.

Run: python -m bench.sampler_bench [--quick] [--results bench/RESULTS.md]
"""

import argparse
import os

import numpy as np
import tensorflow as tf

from bench.harness import fmt_ms, publish, time_interleaved
from ydnn_kernels.unigram_op import UnigramTable, _ops

RANGE = 1_000_000
SIZES = (100, 1000, 8192, 65536)
DISTORTION = 0.75
LABELS = np.arange(1024).reshape(-1, 1)


def zipf_counts():
    """Item counts of a Zipf(1.1)-like log, with 5% of the ids never seen."""
    rng = np.random.default_rng(0)
    counts = np.floor(1e7 / np.arange(1, RANGE + 1) ** 1.1)
    counts[rng.random(RANGE) < 0.05] = 0
    return counts.astype(np.float32)


class Sampler:
    """Our op and stock TF's for one sampler, plus its exact P(id)."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "unigram":
            counts = zipf_counts()
            self.table = UnigramTable(counts, DISTORTION, device="/CPU:0")
            self.unigrams = counts.tolist()
            self.prob = self.table.prob.numpy()

    def probability(self, ids):
        if self.kind == "unigram":
            return self.prob[ids]
        return np.log1p(1.0 / (ids + 1.0)) / np.log1p(RANGE)

    def ours(self, S, unique, true_ids):
        if self.kind == "unigram":
            t = self.table
            return _ops.ydnn_unigram_sample(
                t.table,
                t.prob,
                t.num_positive_tensor,
                true_ids,
                num_sampled=S,
                unique=unique,
                seed=1,
                seed2=2,
            )
        return _ops.ydnn_log_uniform_sample(
            true_ids, num_sampled=S, min_id=0, max_id=RANGE - 1, unique=unique, seed=1, seed2=2
        )

    def stock(self, S, unique, labels):
        if self.kind == "unigram":
            return tf.random.fixed_unigram_candidate_sampler(
                labels,
                1,
                S,
                unique=unique,
                range_max=RANGE,
                distortion=DISTORTION,
                unigrams=self.unigrams,
                seed=1,
            )
        return tf.random.log_uniform_candidate_sampler(
            labels, 1, S, unique=unique, range_max=RANGE, seed=1
        )


def gate(sampler, S, unique):
    ids, _, ec, tries = sampler.ours(S, unique, tf.constant(LABELS.ravel(), tf.int64))
    ids, ec, t = ids.numpy(), ec.numpy().astype(np.float64), int(tries)
    p = sampler.probability(ids)
    want = p * S if t == S else -np.expm1(t * np.log1p(-p))
    ok = ids.min() >= 0 and ids.max() < RANGE and np.allclose(ec, want, rtol=1e-5)
    return ok and (not unique or len(np.unique(ids)) == S)


def bench(sampler, S, unique, mode, rounds, repeats):
    labels = tf.constant(LABELS, tf.int64)
    flat = tf.reshape(labels, [-1])
    fused = lambda: sampler.ours(S, unique, flat)[:3]  # noqa: E731
    stock = lambda: sampler.stock(S, unique, labels)  # noqa: E731
    # The mode's own cost per call, which no sampler can go below: one
    # tf.identity of the labels, traced or eager.
    floor = lambda: tf.identity(flat)  # noqa: E731
    if mode == "tf.function":
        fused, stock, floor = tf.function(fused), tf.function(stock), tf.function(floor)
    return time_interleaved(
        {"fused": fused, "stock": stock, "floor": floor}, rounds=rounds, repeats=repeats
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="S = 8192 and 65536 only (the target's sizes), fewer repeats",
    )
    parser.add_argument("--results", help="rewrite this benchmark's section of this file")
    args = parser.parse_args()
    rounds, repeats = (3, 4) if args.quick else (10, 10)
    sizes = SIZES[2:] if args.quick else SIZES
    rows = []
    for kind in ("log_uniform", "unigram"):
        sampler = Sampler(kind)
        # Eagerly, stock fixed_unigram_candidate_sampler re-reads its 1e6-float
        # `unigrams` attribute on every call, which would dominate: unigram is
        # compared inside tf.function only.
        for mode in ("tf.function", "eager") if kind == "log_uniform" else ("tf.function",):
            for unique in (True, False):
                for S in sizes:
                    row = [kind, mode, S, unique]
                    if not gate(sampler, S, unique):
                        rows.append(row + ["FAILED", "", "", "", "", "", ""])
                        continue
                    t = bench(sampler, S, unique, mode, rounds, repeats)
                    (fm, flo, fhi), (sm, slo, shi) = t.stats("fused"), t.stats("stock")
                    rows.append(
                        row
                        + [
                            fmt_ms(fm),
                            f"{fmt_ms(flo)} / {fmt_ms(fhi)}",
                            fmt_ms(sm),
                            f"{fmt_ms(slo)} / {fmt_ms(shi)}",
                            f"{t.ratio('stock', 'fused'):.2f}x",
                            fmt_ms(t.stats("floor")[0]),
                            f"{t.ratio('stock', 'floor'):.1f}x",
                        ]
                    )
    header = [
        "sampler",
        "mode",
        "S",
        "unique",
        "ydnn median ms",
        "ydnn min / max",
        "TF median ms",
        "TF min / max",
        "speedup (median of per-round ratios)",
        "call floor median ms",
        "ceiling: TF / floor",
    ]
    notes = [
        f"Range {RANGE:,} ids, 1024 true labels, on the CPU. log_uniform: vs "
        "tf.random.log_uniform_candidate_sampler. unigram: vs "
        "tf.random.fixed_unigram_candidate_sampler with the same counts (Zipf 1.1, 5% "
        f"zeros) and distortion {DISTORTION}; our UnigramTable is built once, outside the "
        "timing (TF builds its table once per kernel too). tf.function: one call of a "
        "traced function per sample; eager: one eager op call per sample (log_uniform "
        "only: stock fixed_unigram_candidate_sampler re-reads its 1e6-float unigrams "
        "attribute on every eager call).",
        "Call floor: the same mode's cost of one tf.identity of the labels, timed in the "
        "same rounds; no op can beat TF by more than the ceiling TF / floor in that mode "
        "(in tf.function the per-call cost of the function itself dominates small S).",
    ]
    notes.append(
        f"Load average (1 min) at the end of the run: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores shared with other jobs: ratios (interleaved, "
        "per round) are meaningful, absolute times are inflated and noisy."
    )
    publish(
        "Candidate samplers vs stock TF",
        notes,
        header,
        rows,
        "sampler",
        "bench.sampler_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
