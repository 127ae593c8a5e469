"""The MovieLens benchmark through the `ydnn` command line: Recall@10 and speed.

Runs `python -m ydnn train` on ml-latest-small with the benchmark's
settings (SETTINGS: 10 epochs, --top-block 128,64 --no-activation-last-layer,
--embedding-dim 64, --num-sampled 100, --min-sampled-id 1, --learning-rate 1e-3,
--batch-size 256, --max-history 20) for each seed and backend, interleaved
(seed 0 fused, seed 0 stock, seed 1 fused, ...) so that a change in the
machine's load hits both backends alike, and reports Recall@10 (all items:
the headline; and with seen items excluded) next to most-popular, and the
training throughput (examples/s over epochs 2-10; epoch 1 holds the
tracing), per run and averaged over seeds.

With `--table-dtypes float32 bfloat16 float16` each seed and backend also
runs with 16-bit tables (`--table-dtype`), side by side.

Run: python -m bench.movielens_cli --data ratings.csv [--seeds 0 1 2]
         [--ops fused stock] [--temperature 1.0] [--combiner mean] [--separate-output-table]
         [--table-dtypes float32] [--validation] [--results bench/RESULTS.md]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from bench.harness import publish

SETTINGS = [
    "--user-col",
    "userId",
    "--item-col",
    "movieId",
    "--time-col",
    "timestamp",
    "--max-history",
    "20",
    "--epochs",
    "10",
    "--batch-size",
    "256",
    "--embedding-dim",
    "64",
    "--top-block",
    "128,64",
    "--no-activation-last-layer",
    "--num-sampled",
    "100",
    "--min-sampled-id",
    "1",
    "--learning-rate",
    "1e-3",
    "--lr-schedule",
    "constant",
    "--mlp-initializer",
    "he_uniform",
    "--k",
    "10",
]


def train_default(name):
    """The `ydnn train` default of an option SETTINGS leave open."""
    from ydnn.cli_args import build_parser

    return build_parser().parse_args(["train", "--synthetic", "--out", "x"]).__dict__[name]


def train(data, seed, ops, temperature, variant, validation, out, table_dtype="float32"):
    argv = [
        sys.executable,
        "-m",
        "ydnn",
        "train",
        "--interactions",
        data,
        *SETTINGS,
        "--seed",
        str(seed),
        "--ops",
        ops,
        "--logits-temperature",
        str(temperature),
        "--table-dtype",
        table_dtype,
        *([] if "--combiner" in variant else ["--combiner", "mean"]),
        *variant,
        "--out",
        out,
        "--json",
        "--verbose",
        "0",
    ]
    if validation:
        argv.append("--validation")
    load = os.getloadavg()[0]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ydnn train failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load_before"] = load
    result["load_after"] = os.getloadavg()[0]
    return result


def popularity_all_counts(data_path, validation):
    """Most-popular ranked by counts over the whole log, held-out items included."""
    import ydnn
    from ydnn.cli_protocol import prepare

    cols = {"user_col": "userId", "item_col": "movieId", "time_col": "timestamp", "sep": ","}
    log = ydnn.data.read_interactions(data_path, "userId", "movieId", "timestamp")
    data = prepare(log, cols, 20, 3, validation)
    return ydnn.metrics.evaluate_most_popular(data, k=10, exclude_seen=False, counts="all")[
        "recall_at_10"
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ml-latest-small ratings.csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ops", nargs="+", choices=("fused", "stock"), default=["fused", "stock"])
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument(
        "--combiner",
        choices=("mean", "sqrtn", "sum"),
        default="mean",
        help="history pooling (default mean, as `ydnn train`)",
    )
    parser.add_argument(
        "--separate-output-table",
        action="store_true",
        help="candidates scored against their own table (default tied)",
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="evaluate on the second-to-last items (tuning), not the test items",
    )
    parser.add_argument(
        "--table-dtypes",
        nargs="+",
        choices=("float32", "bfloat16", "float16"),
        default=["float32"],
        help="table storage of each run (--table-dtype), side by side",
    )
    parser.add_argument("--results", default=None)
    args = parser.parse_args()

    # Flags beyond SETTINGS, in the title and the section name; --combiner
    # is always given, since the command's default (sqrtn) is not the
    # benchmark's (mean).
    variant = [] if args.combiner == "mean" else ["--combiner", args.combiner]
    if args.separate_output_table:
        variant.append("--separate-output-table")
    # Each backend: (ops, table dtype); the label names the dtype only when
    # more than float32 runs.
    backends = [(ops, dtype) for ops in args.ops for dtype in args.table_dtypes]

    def label(ops, dtype):
        return ops if args.table_dtypes == ["float32"] else f"{ops} {dtype}"

    def backend(r):
        return r["train"]["ops"], r["train"].get("table_dtype", "float32")

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for ops, dtype in backends:
                r = train(
                    args.data,
                    seed,
                    ops,
                    args.temperature,
                    variant,
                    args.validation,
                    os.path.join(tmp, f"{ops}_{dtype}_{seed}"),
                    dtype,
                )
                runs.append(r)
                print(
                    f"seed {seed} {label(ops, dtype)}: recall@10 {r['headline_recall']:.4f}, "
                    f"{r['throughput']['examples_per_second']:,.0f} ex/s",
                    flush=True,
                )
    pop_all = popularity_all_counts(args.data, args.validation)

    rows = []
    for r in runs:
        m, t = r["metrics"], r["throughput"]
        rows.append(
            [
                r["train"]["seed"],
                label(*backend(r)),
                f"{m['all_items']['recall_at_10']:.4f}",
                f"{m['exclude_seen']['recall_at_10']:.4f}",
                f"{m['all_items']['ndcg_at_10']:.4f}",
                f"{r['loss'][-1]:.3f}",
                f"{t['examples_per_second']:,.0f}",
                f"{t['examples_per_second_all_epochs']:,.0f}",
                f"{r['load_before']:.1f} / {r['load_after']:.1f}",
            ]
        )
    for ops, dtype in backends:
        mine = [r for r in runs if backend(r) == (ops, dtype)]

        def mean(f, mine=mine):
            return float(np.mean([f(r) for r in mine]))

        eps = mean(lambda r: r["throughput"]["examples_per_second"])
        recalls = [r["metrics"]["all_items"]["recall_at_10"] for r in mine]
        # Standard error of the mean over seeds: how far the mean itself moves.
        sem = float(np.std(recalls, ddof=1) / np.sqrt(len(recalls))) if len(recalls) > 1 else 0.0
        rows.append(
            [
                f"**mean of {len(mine)}**",
                f"**{label(ops, dtype)}**",
                f"**{np.mean(recalls):.4f}** (± {sem:.4f} s.e.)",
                f"**{mean(lambda r: r['metrics']['exclude_seen']['recall_at_10']):.4f}**",
                f"{mean(lambda r: r['metrics']['all_items']['ndcg_at_10']):.4f}",
                f"{mean(lambda r: r['loss'][-1]):.3f}",
                f"**{eps:,.0f}**",
                f"{mean(lambda r: r['throughput']['examples_per_second_all_epochs']):,.0f}",
                "",
            ]
        )
    base = runs[0]["baseline_most_popular"]
    d = runs[0]["data"]
    split = "validation (second-to-last items)" if args.validation else "test (last items)"
    notes = [
        (
            f"- data: {args.data}: {d['interactions']:,} interactions, {d['users']} users, "
            f"{d['items']:,} items, {d['train_examples']:,} training examples; split: {split}"
        ),
        (
            f"- settings: {' '.join(SETTINGS)}, logits temperature "
            f"{args.temperature}, --combiner {args.combiner}, "
            f"{'separate' if args.separate_output_table else 'tied'} candidate table, "
            f"--steps-per-execution "
            f"{train_default('steps_per_execution')} (the CLI's default)"
        ),
        (
            f"- most-popular (training counts, same rows): Recall@10 "
            f"{base['all_items']['recall_at_10']:.4f} over all items, "
            f"{base['exclude_seen']['recall_at_10']:.4f} with seen items excluded; ranked by "
            f"counts over the whole log (which counts the held-out items too): "
            f"{pop_all:.4f}"
        ),
        (
            "- throughput: training examples per second over epochs 2-10 (Keras fit, "
            "measured by a callback at epoch ends; epoch 1 holds graph tracing); all-epochs "
            "figure beside it. Load average (1 min) before / after each run: other processes "
            "on the machine slow a run down, so compare runs under similar load."
        ),
        (
            "- the benchmark keeps the settings it had before the validation study (mean "
            "pooling, 10 epochs at a constant 1e-3, He-uniform MLP, 1/sqrt(width) tables), so "
            "its figures compare across versions; `ydnn train`'s own defaults are measured in "
            "the `defaults_movielens` section."
        ),
    ]
    header = [
        "seed",
        "ops",
        "Recall@10 all items",
        "Recall@10 seen excluded",
        "NDCG@10 all",
        "final loss",
        "examples/s (epochs 2-10)",
        "examples/s (all)",
        "load avg",
    ]
    title = "MovieLens ml-latest-small through `ydnn train`: Recall@10 and examples/s"
    if variant:
        title = f"MovieLens ml-latest-small through `ydnn train {' '.join(variant)}`"
    if args.table_dtypes != ["float32"]:
        title += f", tables in {' / '.join(args.table_dtypes)}"
    seeds = sorted(args.seeds)
    if seeds != [0, 1, 2]:  # the default seeds; more seeds estimate the noise
        title += f", seeds {', '.join(map(str, seeds))}"
    publish(
        title,
        notes,
        header,
        rows,
        "movielens_cli"
        + ("_validation" if args.validation else "")
        + ("" if args.temperature == 1.0 else f"_t{args.temperature:g}")
        + ("" if args.combiner == "mean" else f"_{args.combiner}")
        + ("_separate" if args.separate_output_table else "")
        + ("" if args.table_dtypes == ["float32"] else "_table_dtypes")
        + ("" if seeds == [0, 1, 2] else f"_{len(seeds)}seeds"),
        "bench.movielens_cli",
        args.results,
    )


if __name__ == "__main__":
    main()
