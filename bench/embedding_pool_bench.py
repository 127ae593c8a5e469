"""embedding_pool: fused op vs the best stock TF paths, forward and
forward+backward, in one process.

Stock paths: masked `tf.gather` + reduce (padded ids), and
`tf.nn.embedding_lookup_sparse` (ragged ids as a SparseTensor), also with
`allow_fast_lookup=True` (no unique + gather: SparseSegmentMean straight on
the table), each inside tf.function on a tf.Variable table, as a model would
run them. A correctness
gate compares every path's output and table gradient with the fused op's
before anything is timed; a path that differs is reported FAILED.

"Forward+backward" produces the output and the table gradient as the
optimizer receives it (IndexedSlices): [U, D] unique rows for the fused op,
[B*L, D] rows for tf.gather, unique rows for embedding_lookup_sparse.

Bytes (the floor, for GB/s): forward reads N*D*s of rows (N = number of
ids), writes B*D*s and reads the ids; the backward adds B*D*s of upstream
gradient read and U*D*s of gradient rows written.

Run: python -m bench.embedding_pool_bench [--quick] [--results bench/RESULTS.md]
"""

import argparse

import numpy as np
import tensorflow as tf

from bench.harness import floors, fmt_ms, percent_of_floor, publish, time_interleaved
from ydnn_kernels import embedding_pool, stock

SHAPES = {
    "large": dict(B=1024, L=50, D=64, V=1_000_000),
    "medium": dict(B=512, L=30, D=64, V=100_000),
    "small": dict(B=256, L=20, D=32, V=10_000),
}


def zipf_ids(rng, size, V, alpha=1.05):
    """Ids in [0, V) with P(k) proportional to 1/(k+1)^alpha (exact, by CDF)."""
    cdf = np.cumsum(1.0 / np.arange(1, V + 1) ** alpha)
    return np.searchsorted(cdf / cdf[-1], rng.random(size)).astype(np.int64)


def make_inputs(rng, B, L, D, V):
    lengths = rng.integers(1, L + 1, size=B)
    ids = zipf_ids(rng, (B, L), V)
    mask = np.arange(L)[None, :] < lengths[:, None]
    ids = np.where(mask, ids, 0)
    table = tf.Variable(rng.standard_normal((V, D)).astype(np.float32) * 0.1)
    ragged = tf.RaggedTensor.from_tensor(tf.constant(ids), lengths=tf.constant(lengths))
    upstream = tf.constant(rng.standard_normal((B, D)).astype(np.float32))
    return table, tf.constant(ids), tf.constant(lengths), ragged, upstream


def paths(table, ids, lengths, ragged, upstream):
    """name -> (forward fn, forward+backward fn), all tf.functions."""
    sparse = ragged.to_sparse()

    def fwd_bwd(pool):
        def run():
            with tf.GradientTape() as tape:
                out = pool()
                loss = tf.reduce_sum(out * upstream)
            g = tape.gradient(loss, table)
            return out, g.indices, g.values

        return tf.function(run)

    pools = {
        "fused (padded)": lambda: embedding_pool(table, ids, lengths),
        "fused (ragged)": lambda: embedding_pool(table, ragged),
        "stock masked gather": lambda: stock.embedding_pool_gather(table, ids, lengths),
        "stock embedding_lookup_sparse": lambda: tf.nn.embedding_lookup_sparse(
            table, sparse, None, combiner="mean"
        ),
        "stock embedding_lookup_sparse fast": lambda: tf.nn.embedding_lookup_sparse(
            table, sparse, None, combiner="mean", allow_fast_lookup=True
        ),
    }
    return {name: (tf.function(p), fwd_bwd(p)) for name, p in pools.items()}


def unique_rows(indices, values):
    """(sorted unique ids, summed rows) of an IndexedSlices' parts."""
    uniq, idx = tf.unique(tf.cast(indices, tf.int64))
    rows = tf.math.unsorted_segment_sum(values, idx, tf.size(uniq))
    order = tf.argsort(uniq)
    return tf.gather(uniq, order).numpy(), tf.gather(rows, order).numpy()


def gate(fns, reference="fused (padded)"):
    """Names of paths whose output or gradient differs from the reference."""
    ref_out, ref_idx, ref_vals = fns[reference][1]()
    ref_ids, ref_rows = unique_rows(ref_idx, ref_vals)
    failed = []
    for name, (_, fb) in fns.items():
        out, idx, vals = fb()
        ids, rows = unique_rows(idx, vals)
        ok = (
            np.allclose(out.numpy(), ref_out.numpy(), rtol=1e-5, atol=1e-5)
            and np.array_equal(ids, ref_ids)
            and np.allclose(rows, ref_rows, rtol=1e-5, atol=1e-5)
        )
        if not ok:
            failed.append(name)
    return failed


def bench_shape(name, B, L, D, V, quick):
    rng = np.random.default_rng(0)
    table, ids, lengths, ragged, upstream = make_inputs(rng, B, L, D, V)
    fns = paths(table, ids, lengths, ragged, upstream)
    failed = gate(fns)
    n = int(lengths.numpy().sum())
    u = len(np.unique(ragged.values.numpy()))
    fwd_bytes = n * D * 4 + B * D * 4 + B * L * 8
    bwd_bytes = fwd_bytes + B * D * 4 + u * D * 4 + u * 8
    rounds, repeats = (3, 5) if quick else (20, 10)
    rows = []
    for kind, pick, nbytes in (("forward", 0, fwd_bytes), ("forward+backward", 1, bwd_bytes)):
        live = {k: v[pick] for k, v in fns.items() if k not in failed}
        times = time_interleaved(live, rounds=rounds, repeats=repeats)
        stock_paths = [k for k in live if k.startswith("stock")]
        best_stock = min(stock_paths, key=lambda k: times.stats(k)[0])
        for path in fns:
            if path in failed:
                rows.append([name, kind, path, "FAILED", "", "", "", "", ""])
                continue
            med, lo, hi = times.stats(path)
            rows.append(
                [
                    name,
                    kind,
                    path,
                    fmt_ms(med),
                    f"{fmt_ms(lo)} / {fmt_ms(hi)}",
                    f"{nbytes / med / 1e9:.2f}",
                    percent_of_floor(med, nbytes),
                    f"{times.ratio(best_stock, path):.2f}x",
                    "yes" if path.startswith("fused") else "",
                ]
            )
    shape = f"B={B}, L<={L} (mean {n / B:.1f}), D={D}, V={V:,}, Zipf ids, {u:,} unique"
    return shape, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--results",
        help="rewrite this benchmark's section of this markdown file (e.g. bench/RESULTS.md)",
    )
    args = parser.parse_args()
    header = [
        "shape",
        "pass",
        "path",
        "median ms",
        "min / max ms",
        "GB/s (floor bytes)",
        "% of floor (floor bytes / copy bandwidth)",
        "speedup vs best stock (median of per-round ratios)",
        "fused",
    ]
    gbs, _ = floors()
    notes, all_rows = (
        [
            f"- memory floor: {gbs:.1f} GB/s one-thread copy bandwidth, measured in "
            "this run (random row reads cannot stream, so 100% is out of reach)"
        ],
        [],
    )
    for name, shape in SHAPES.items():
        desc, rows = bench_shape(name, **shape, quick=args.quick)
        notes.append(f"- {name}: {desc}")
        all_rows += rows
    publish(
        "embedding_pool: fused vs stock TF",
        notes,
        header,
        all_rows,
        "embedding_pool",
        "bench.embedding_pool_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
