"""Which ANN library ydnn serves with: faiss-cpu, hnswlib, usearch and ScaNN
on one inner-product task.

A catalog of `--size` rows x 64 float32 from bench.ann_data's clustered
mixture, 1000 validation and 1000 test queries from the same mixture (other
seeds), exact top-10 by inner product from NumPy. Each library runs in its
own subprocess with its install directory first on `sys.path` (`--lib
NAME=DIR`, e.g. from `pip install --no-deps --target DIR`), so none of them
touches the project's environment and one that crashes fails only its rows.
TensorFlow is never imported: ScaNN's package loads a TF op library built
for another TF, which is part of what is compared (see the notes it prints).

Per configuration: build time (all cores), serialized index size and the
build's peak resident-set growth, then for each search parameter recall@10
on the validation and the test queries, queries/s of one batched call over
the 1000 test queries (median of 3) and of 200 single-query calls.

Run: python -m bench.ann_libraries --lib faiss=LIBS/faiss
         --lib hnswlib=LIBS/hnswlib --lib usearch=LIBS/usearch
         --lib scann=LIBS/scann [--size 1000000] [--results bench/RESULTS.md]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.ann_data import describe, exact_top_k, mixture, recall_at_k

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 10
# (library, index, build parameters, search parameter name, values swept)
CONFIGS = [
    ("faiss", "HNSWFlat IP", {"M": 16, "efConstruction": 100}, "efSearch", [16, 32, 64, 128, 256]),
    ("faiss", "HNSWFlat IP", {"M": 32, "efConstruction": 200}, "efSearch", [16, 32, 64, 128, 256]),
    ("faiss", "IVFFlat IP", {"nlist": 4096}, "nprobe", [8, 16, 32, 64, 128]),
    ("hnswlib", "HNSW ip", {"M": 16, "ef_construction": 100}, "ef", [16, 32, 64, 128, 256]),
    (
        "usearch",
        "HNSW ip f32",
        {"connectivity": 16, "expansion_add": 100},
        "expansion_search",
        [16, 32, 64, 128, 256],
    ),
    (
        "scann",
        "tree+AH+reorder dot_product",
        {"num_leaves": 2000, "dims_per_block": 2, "reorder": 100},
        "leaves_to_search",
        [10, 25, 50, 100, 200],
    ),
]


def _build(lib, params, table, threads):
    """The index and a `search(queries, param) -> ids [B, K]` for one library."""
    n, d = table.shape
    if lib == "faiss" and "M" in params:
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(d, params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["efConstruction"]
        index.add(table)

        def search(q, ef):
            index.hnsw.efSearch = ef
            return index.search(q, K)[1]

        return index, search, lambda path: faiss.write_index(index, path)
    if lib == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, 64 * params["nlist"]), replace=False)
        index.train(table[np.sort(sample)])
        index.add(table)

        def search(q, nprobe):
            index.nprobe = nprobe
            return index.search(q, K)[1]

        return index, search, lambda path: faiss.write_index(index, path)
    if lib == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=d)
        index.init_index(n, M=params["M"], ef_construction=params["ef_construction"])
        index.add_items(table, np.arange(n), num_threads=threads)

        def search(q, ef):
            index.set_ef(max(ef, K))
            return index.knn_query(q, K, num_threads=threads)[0].astype(np.int64)

        return index, search, index.save_index
    if lib == "usearch":
        from usearch.index import Index

        index = Index(
            ndim=d,
            metric="ip",
            dtype="f32",
            connectivity=params["connectivity"],
            expansion_add=params["expansion_add"],
        )
        index.add(np.arange(n), table, threads=threads)

        def search(q, ef):
            index.expansion_search = ef
            return np.asarray(index.search(q, K, threads=threads).keys, np.int64)

        return index, search, index.save
    if lib == "scann":
        sys.modules["tensorflow"] = None  # its package imports TF's op; see the notes
        import scann

        searcher = (
            scann.scann_ops_pybind.builder(table, K, "dot_product")
            .tree(
                num_leaves=params["num_leaves"],
                num_leaves_to_search=100,
                training_sample_size=min(n, 250_000),
            )
            .score_ah(params["dims_per_block"], anisotropic_quantization_threshold=0.2)
            .reorder(params["reorder"])
            .build()
        )

        def search(q, leaves):
            if len(q) == 1:
                return searcher.search(q[0], leaves_to_search=leaves)[0][None].astype(np.int64)
            return searcher.search_batched_parallel(q, leaves_to_search=leaves)[0].astype(np.int64)

        def save(path):
            os.makedirs(path)
            searcher.serialize(path)

        return searcher, search, save
    raise ValueError(f"unknown library {lib!r}")


def _install_facts(lib, directory):
    """(distribution wheel tags, installed MB) of a `pip install --target` directory."""
    tags, total = [], 0
    for folder, _dirs, files in os.walk(directory):
        for name in files:
            total += os.path.getsize(os.path.join(folder, name))
        if folder.endswith(".dist-info") and "WHEEL" in files:
            dist = os.path.basename(folder)[: -len(".dist-info")]
            with open(os.path.join(folder, "WHEEL")) as f:
                tag = [line.split(":", 1)[1].strip() for line in f if line.startswith("Tag:")]
            tags.append(f"{dist}: {tag[0] if tag else '?'}")
    return "; ".join(sorted(tags)), total / 2**20


def _size_mb(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 2**20
    return os.path.getsize(path) / 2**20


def worker(config_index, cache):
    from bench.harness import peak_rss_growth

    lib, kind, params, pname, values = CONFIGS[config_index]
    table = np.ascontiguousarray(np.load(os.path.join(cache, "table.npy")))
    data = {s: np.load(os.path.join(cache, f"{s}.npy")) for s in ("val", "val_truth")}
    data.update({s: np.load(os.path.join(cache, f"{s}.npy")) for s in ("test", "test_truth")})
    threads = os.cpu_count() or 1
    mem = {}
    with peak_rss_growth(mem):
        t0 = time.perf_counter()
        _index, search, save = _build(lib, params, table, threads)
        build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index")
        save(path)
        size = _size_mb(path)
    rows = []
    for value in values:
        search(data["test"][:10], value)  # warm-up
        val = recall_at_k(search(data["val"], value), data["val_truth"])
        test_ids, times = None, []
        for _ in range(3):
            t0 = time.perf_counter()
            test_ids = search(data["test"], value)
            times.append(time.perf_counter() - t0)
        single = []
        for q in data["test"][:200]:
            t0 = time.perf_counter()
            search(q[None], value)
            single.append(time.perf_counter() - t0)
        rows.append(
            {
                "value": value,
                "val_recall": val,
                "test_recall": recall_at_k(test_ids, data["test_truth"]),
                "batch_qps": len(data["test"]) / statistics.median(times),
                "single_ms": 1e3 * statistics.median(single),
            }
        )
    print(
        json.dumps({"build_s": build_s, "size_mb": size, "build_rss_mb": mem["mb"], "rows": rows})
    )


def _prepare(cache, size):
    os.makedirs(cache, exist_ok=True)
    if os.path.exists(os.path.join(cache, "test_truth.npy")):
        return
    table = mixture(size, seed=0)
    np.save(os.path.join(cache, "table.npy"), table)
    for name, seed in (("val", 101), ("test", 202)):
        q = mixture(1000, seed=seed)
        np.save(os.path.join(cache, f"{name}.npy"), q)
        np.save(os.path.join(cache, f"{name}_truth.npy"), exact_top_k(q, table, K)[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--size", type=float, default=1e6)
    parser.add_argument("--cache", default=None, help="data directory (default build/ann_cache_N)")
    parser.add_argument("--results", help="rewrite the ann_libraries section of this file")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = int(args.size)
    cache = args.cache or os.path.join(ROOT, "build", f"ann_cache_{size}")
    if args.worker is not None:
        return worker(args.worker, cache)
    dirs = dict(item.split("=", 1) for item in args.lib)
    _prepare(cache, size)
    rows, notes, installs = [], [], []
    for lib, directory in dirs.items():
        tags, mb = _install_facts(lib, directory)
        installs.append([lib, tags, f"{mb:.0f}"])
    for i, (lib, kind, params, pname, _values) in enumerate(CONFIGS):
        if lib not in dirs:
            continue
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([dirs[lib], ROOT]))
        cmd = [sys.executable, "-m", "bench.ann_libraries", "--worker", str(i), "--cache", cache]
        print(f"== {lib} {kind}", flush=True)
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            tail = (run.stderr.strip().splitlines() or ["no output"])[-1][:300]
            notes.append(f"- {lib} {kind}: FAILED ({tail})")
            print(run.stderr[-3000:], flush=True)
            continue
        out = json.loads(run.stdout.strip().splitlines()[-1])
        setting = ", ".join(f"{k}={v}" for k, v in params.items())
        for r in out["rows"]:
            rows.append(
                [
                    lib,
                    kind,
                    setting,
                    f"{out['build_s']:.1f}",
                    f"{out['size_mb']:.0f}",
                    f"{out['build_rss_mb']:.0f}",
                    f"{pname}={r['value']}",
                    f"{r['val_recall']:.3f}",
                    f"{r['test_recall']:.3f}",
                    f"{r['batch_qps']:,.0f}",
                    f"{r['single_ms']:.3f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    header = [
        "library",
        "index",
        "build parameters",
        "build s",
        "index file MB",
        "build peak RSS growth MB",
        "search parameter",
        "recall@10 validation",
        "recall@10 test",
        "q/s, one call of 1000 queries",
        "single query ms (median of 200)",
    ]
    notes = [
        f"Catalog {size:,} x 64 float32, {describe()}. Exact top-10 by inner product "
        f"(NumPy); recall@10 = |ANN top-10 ∩ exact top-10| / 10, mean over 1000 "
        f"queries. All {os.cpu_count()} cores; load average at the end "
        f"{os.getloadavg()[0]:.1f}.",
        *notes,
        "- scann runs with `tensorflow` blocked in its worker (`sys.modules`): its "
        "package `__init__` loads its TF op library, built for TF 2.20, which fails beside "
        "TF 2.21 (`undefined symbol ... absl ... raw_log_internal`), so `import scann` fails "
        "in any process that has imported TensorFlow, as every ydnn process has.",
        "- hnswlib 0.8.0 (2023-12) has no wheel: pip compiles the sdist (24.5 s here, a C++ "
        "compiler needed) with `-march=native`, so its binary is tuned to, and only runs "
        "on, CPUs like the build machine's. usearch 2.26 needs Python >= 3.11 (ydnn "
        "supports 3.10) and numkong (44 MB).",
    ]
    from bench.harness import _cpu_model, markdown_table, write_section

    report = "\n".join(
        [
            "### ANN libraries: inner-product top-10 on clustered embeddings",
            "",
            f"cpu: {_cpu_model()}, {os.cpu_count()} cores; python {sys.version.split()[0]}",
            "",
            *notes,
            "",
            "Installed (`pip install --no-deps --target DIR`, the library and its "
            "dependencies that the project does not already have; a `linux_x86_64` tag "
            "was compiled here from an sdist):",
            "",
            markdown_table(["library", "wheel tags", "installed MB"], installs),
            "",
            markdown_table(header, rows),
            "",
        ]
    )
    print(report)
    if args.results:
        command = "python -m bench.ann_libraries " + " ".join(sys.argv[1:])
        write_section(args.results, "ann_libraries", report, command)


if __name__ == "__main__":
    main()
