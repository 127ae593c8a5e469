"""Approximate top-k (ydnn.ann_index.AnnIndex) against the exact paths, over
catalogs of 10^5, 10^6 and 10^7 items.

Catalog: `N` x 64 float32 rows of bench.ann_data's clustered mixture (see
there); 1000 test queries from the same mixture (seed 202; the index's
defaults were chosen on the validation seed 101 by bench.ann_libraries,
never on these). Exact truth: the stock-TF path `top_k_items` itself,
gated against NumPy on the first 50 queries.

Three implementations, each at B=1 (one query per call) and B=256:

* ann: `AnnIndex.build(table)` with its defaults (faiss HNSW, inner
  product), `search(q, 10)`;
* exact TF: `top_k_items(fused=False)` (chunked matmul + top-k, stock TF) in a
  `tf.function`, the table a `tf.Variable`;
* exact fused: `ydnn_kernels.topk_scores` when the build has it, else
  marked absent.

Reported: build time and memory of the index, recall@10 against exact
top-10 (mean over the 1000 queries of |ANN ∩ exact| / 10), queries/s and
per-call latency p50 / p99 (calls until a time budget or a call count is
reached, whichever first, after a warm-up). The goal the project set:
recall@10 >= 0.95 at >= 10x the exact kernel's queries/s at 10^7 items.
Before timing, every path's scores must be the inner products of the ids it
returns (and the exact paths must return NumPy's top-10).

Run: python -m bench.ann_bench [--sizes 1e5,1e6,1e7] [--ef-search 32,128]
         [--results bench/RESULTS.md]
"""

import argparse
import os
import statistics
import time

import numpy as np
import tensorflow as tf

from bench.ann_data import describe, exact_top_k, mixture, recall_at_k
from bench.harness import no_gc, peak_rss_growth, publish

K, D, QUERIES, BATCH = 10, 64, 1000, 256
SIZES = (100_000, 1_000_000, 10_000_000)
GOAL_RECALL, GOAL_SPEEDUP = 0.95, 10.0
# Per (implementation, batch): at most this many calls or seconds of calls.
MAX_CALLS, BUDGET_S, MIN_CALLS = 300, 15.0, 3


def _fused():
    """`ydnn_kernels.topk_scores`, or None when this build has no such op."""
    try:
        import ydnn_kernels

        return getattr(ydnn_kernels, "topk_scores", None)
    except Exception:  # noqa: BLE001 - a broken or partial build is "absent" here
        return None


def _time_calls(fn, batches):
    """Per-call seconds of `fn(batch)` over `batches` in turn, after 2 warm-up calls."""
    for b in batches[:2]:
        fn(b)
    times, start = [], time.perf_counter()
    with no_gc():
        for i in range(MAX_CALLS):
            if i >= MIN_CALLS and time.perf_counter() - start > BUDGET_S:
                break
            b = batches[i % len(batches)]
            t0 = time.perf_counter()
            fn(b)
            times.append(time.perf_counter() - t0)
    return times


def _speed(times, batch):
    """(q/s, p50 ms, p99 ms) of per-call `times` at `batch` queries per call."""
    p50 = statistics.median(times)
    p99 = float(np.percentile(times, 99))
    return batch * len(times) / sum(times), 1e3 * p50, 1e3 * p99


def _gate(name, scores, ids, queries, table, truth=None):
    """Scores must be the inner products of the ids; exact paths must be NumPy's top-k."""
    scores, ids = np.asarray(scores), np.asarray(ids)
    want = np.einsum("bd,bkd->bk", queries, table[ids])
    ok = np.allclose(scores, want, rtol=1e-4, atol=1e-4)
    if truth is not None:
        ok = ok and np.allclose(scores, truth, rtol=1e-4, atol=1e-4)
    if not ok:
        print(f"gate FAILED for {name}: scores disagree with the table")
    return ok


def bench_size(n, ef_extra, rows):
    print(f"== {n:,} items: data", flush=True)
    table = mixture(n, D, seed=0)
    queries = mixture(QUERIES, D, seed=202)
    variable = tf.Variable(table, trainable=False)
    from ydnn.ann_index import AnnIndex
    from ydnn.model.top_k import top_k_items

    exact_tf = tf.function(lambda q: top_k_items(q, variable, K, fused=False))
    truth = np.concatenate(
        [exact_tf(tf.constant(queries[i : i + BATCH]))[1].numpy() for i in range(0, QUERIES, 256)]
    )
    ref_s, _ = exact_top_k(queries[:50], table, K)
    print(f"== {n:,} items: building the index", flush=True)
    mem = {}
    with peak_rss_growth(mem):
        t0 = time.perf_counter()
        index = AnnIndex.build(table)
        build_s = time.perf_counter() - t0
    singles = [queries[i : i + 1] for i in range(QUERIES)]
    batches = [queries[i : i + BATCH] for i in range(0, QUERIES - BATCH + 1, BATCH)]
    impls = {}
    for ef in [None, *ef_extra]:
        label = "ann" if ef is None else f"ann ef_search={ef}"
        impls[label] = (lambda q, ef=ef: index.search(q, K, ef_search=ef), None)
    impls["exact TF (top_k_items)"] = (lambda q: exact_tf(tf.constant(q)), ref_s)
    fused = _fused()
    if fused is not None:
        fused_fn = tf.function(lambda q: fused(q, variable, K))
        impls["exact fused (topk_scores)"] = (lambda q: fused_fn(tf.constant(q)), ref_s)
    speeds, results = {}, []
    for name, (fn, ref) in impls.items():
        s, i = fn(queries[:50])
        if not _gate(name, s, i, queries[:50], table, ref):
            results.append((name, "", "", "gate FAILED", "", ""))
            continue
        recall = ""
        if name.startswith("ann"):
            found = np.concatenate([np.asarray(fn(b)[1]) for b in np.array_split(queries, 4)])
            recall = f"{recall_at_k(found, truth):.4f}"
        for b, calls in ((1, singles), (BATCH, batches)):
            print(f"== {n:,} items: timing {name}, B={b}", flush=True)
            qps, p50, p99 = _speed(_time_calls(fn, calls), b)
            speeds[name, b] = qps
            results.append((name, recall, b, f"{qps:,.0f}", f"{p50:.3f}", f"{p99:.3f}"))
    if fused is None:
        results.append(("exact fused (topk_scores)", "", "", "absent", "", ""))
    baseline = "exact fused (topk_scores)" if fused is not None else "exact TF (top_k_items)"
    for name, recall, b, qps, p50, p99 in results:
        ann = name.startswith("ann")
        ratio = speeds[name, b] / speeds[baseline, b] if (baseline, b) in speeds else None
        rows.append(
            [
                f"{n:,}",
                name,
                f"{build_s:.1f}" if ann else "",
                f"{index.nbytes / 2**20:.0f} ({mem['mb']:.0f})" if ann else "",
                recall,
                b,
                qps,
                p50,
                p99,
                "" if ratio is None else f"{ratio:.1f}x",
            ]
        )
    verdict = [
        f"B={b}: {speeds['ann', b] / speeds[baseline, b]:.1f}x {baseline}"
        for b in (1, BATCH)
        if ("ann", b) in speeds and (baseline, b) in speeds
    ]
    return build_s, verdict


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SIZES),
        help="catalog sizes, comma-separated (1e5,1e6 accepted; default 1e5,1e6,1e7)",
    )
    parser.add_argument(
        "--ef-search",
        default="",
        help="extra ef_search values to time beside the default (e.g. 32,128)",
    )
    parser.add_argument("--results", help="rewrite this benchmark's section of this file")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    ef_extra = [int(e) for e in args.ef_search.split(",") if e.strip()]
    rows, notes = [], []
    for n in sizes:
        _, verdict = bench_size(n, ef_extra, rows)
        notes.append(f"- {n:,} items: ann q/s = " + "; ".join(verdict))
    from ydnn.ann_index import DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH, DEFAULT_M

    header = [
        "catalog",
        "implementation",
        "index build s",
        "index MiB (build peak RSS growth MiB)",
        "recall@10 vs exact",
        "B",
        "queries/s",
        "latency p50 ms",
        "latency p99 ms",
        "q/s vs exact kernel",
    ]
    notes = [
        f"D={D} float32, {describe()}. {QUERIES} test queries; recall@10 is the mean over "
        f"them of |ANN top-10 ∩ exact top-10| / 10, exact = top_k_items. ann: faiss "
        f"IndexHNSWFlat, inner product, m={DEFAULT_M}, ef_construction="
        f"{DEFAULT_EF_CONSTRUCTION}, ef_search={DEFAULT_EF_SEARCH} (defaults chosen on "
        f"validation queries, section ann_libraries). Index MiB: vectors + graph + id map "
        f"(AnnIndex.nbytes). B=1: one query per call, latency per query; B={BATCH}: one "
        f"batch per call, latency per batch; q/s = queries / total time of the calls. "
        f"Calls until {BUDGET_S:.0f} s or {MAX_CALLS} calls (at least {MIN_CALLS}). "
        f'"q/s vs exact kernel": against the fused kernel where the build has it, else '
        f"against top_k_items.",
        f"Goal: recall@10 >= {GOAL_RECALL} at >= {GOAL_SPEEDUP:.0f}x the exact kernel's q/s "
        f"at 10^7 items.",
        *notes,
        f"Load average (1 min) at the end of the run: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores shared with other jobs.",
    ]
    publish(
        "Approximate top-k (AnnIndex) vs exact",
        notes,
        header,
        rows,
        "ann",
        "bench.ann_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
