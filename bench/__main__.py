"""The benchmark suite: every fused path against stock TF, one process per comparison.

Runs the machine floors, each op family's benchmark (embedding_pool,
samplers, sampled softmax in float32 and bfloat16, sparse optimizers), end-to-end training over
catalog sizes, and the MovieLens runs (Recall@10 beside the speed, the
sqrtn-pooling variant, the validation sweep behind the model's defaults and
the defaults against the settings before them, the Parquet loader against
the training step) when ml-latest-small's
ratings.csv is present, each in its own subprocess so both sides of a
comparison share that process's state and nothing leaks between comparisons;
rewrites their sections of bench/RESULTS.md and draws bench/speedup.png and
bench/step_time.png.

The ratings file is --movielens, else $YDNN_MOVIELENS, else
../shared/data/ml-latest-small/ratings.csv from the repository root (where
CI lays the data, beside the checkout).

Run: python -m bench [--quick] [--results bench/RESULTS.md] [--only NAME ...]
         [--movielens ratings.csv]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MOVIELENS = os.path.join(ROOT, "..", "shared", "data", "ml-latest-small", "ratings.csv")
DATA = "{movielens}"  # stands for the ratings file in BENCHES
# (name, module, arguments, extra arguments in --quick mode)
BENCHES = [
    ("floors", "bench.floors", [], []),
    ("embedding_pool", "bench.embedding_pool_bench", [], ["--quick"]),
    ("sampler", "bench.sampler_bench", [], ["--quick"]),
    ("sampled_softmax", "bench.sampled_softmax_bench", [], ["--quick"]),
    ("sampled_softmax_bf16", "bench.sampled_softmax_bf16_bench", [], ["--quick"]),
    ("sparse_optim", "bench.sparse_optim_bench", [], ["--quick"]),
    ("model", "bench.model_bench", [], ["--quick"]),
    ("movielens", "bench.movielens_cli", ["--data", DATA], None),  # None: not in --quick
    (
        "movielens_sqrtn",
        "bench.movielens_cli",
        ["--data", DATA, "--combiner", "sqrtn", "--ops", "fused"],
        None,
    ),
    ("movielens_sweep", "bench.movielens_sweep", ["--data", DATA], None),
    ("defaults_movielens", "bench.defaults_bench", ["--data", DATA], None),
    ("loader", "bench.loader_bench", ["--data", DATA], None),
]


def movielens_path(given):
    """The ratings file as given, or the default relative to the working
    directory the benchmarks share: the commands RESULTS.md records then
    name no machine's directories."""
    return given or os.environ.get("YDNN_MOVIELENS") or os.path.relpath(DEFAULT_MOVIELENS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs of every benchmark (about two minutes on 2 cores)",
    )
    parser.add_argument(
        "--results",
        default=None,
        help="report to rewrite (default bench/RESULTS.md, and "
        "build/RESULTS-quick.md with --quick, so short runs never replace "
        "the full figures); '' for none",
    )
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--movielens",
        metavar="FILE",
        help="ml-latest-small ratings.csv (default $YDNN_MOVIELENS, else "
        "../shared/data/ml-latest-small/ratings.csv from the repository "
        "root)",
    )
    args = parser.parse_args()
    movielens = movielens_path(args.movielens)
    if args.results is None:
        args.results = "build/RESULTS-quick.md" if args.quick else "bench/RESULTS.md"
        os.makedirs(os.path.dirname(args.results), exist_ok=True)
    record = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False).name
    env = dict(os.environ, YDNN_BENCH_JSON=record)
    failed = []
    for name, module, base_args, quick_args in BENCHES:
        if args.only and name not in args.only:
            continue
        if args.quick and quick_args is None:
            print(f"== {name}: skipped in --quick mode")
            continue
        if DATA in base_args and not os.path.exists(movielens):
            print(f"== {name}: {movielens} not found (the data is not shipped), skipped")
            continue
        cmd = [sys.executable, "-m", module] + [movielens if a == DATA else a for a in base_args]
        cmd += quick_args if args.quick else []
        if args.results:
            cmd += ["--results", args.results]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.time()
        if subprocess.run(cmd, env=env).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.time() - t0:.0f} s", flush=True)
    if not args.no_plots:
        from bench.plots import draw

        for path in draw(record, os.path.dirname(args.results or "bench/RESULTS.md") or "."):
            print(f"== wrote {path}")
    os.unlink(record)
    if failed:
        sys.exit(f"benchmarks failed: {failed}")


if __name__ == "__main__":
    main()
