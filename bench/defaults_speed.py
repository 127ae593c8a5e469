"""Training speed of `ydnn train`'s defaults against the settings before them.

The same configurations as `bench.defaults_bench` (its `CONFIGS`), each
trained for a few epochs on ml-latest-small, seeds interleaved, one process
at a time: examples/s after the first epoch (the speed does not depend on
the number of epochs or the learning-rate schedule, so a short run measures
the defaults' step). Reports the mean per configuration and its ratio to
the settings before the study.

Run: python -m bench.defaults_speed --data ratings.csv [--epochs 6] [--seeds 0 1 2]
         [--results bench/RESULTS.md]
"""

import argparse
import os
import tempfile

import numpy as np

from bench.defaults_bench import BASELINE, CONFIGS, LABELS, MOVIELENS_COLUMNS, train
from bench.harness import publish


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ml-latest-small ratings.csv")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", default=None)
    args = parser.parse_args()
    source = ["--interactions", args.data, *MOVIELENS_COLUMNS]
    speeds = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for config, options in CONFIGS.items():
                out = os.path.join(tmp, f"{config}_{seed}")
                r = train(source, [*options, "--epochs", str(args.epochs)], seed, "test", out)
                speeds[config].append(r["throughput"]["examples_per_second"])
                print(f"seed {seed} {config}: {speeds[config][-1]:,.0f} ex/s", flush=True)
    base = np.mean(speeds[BASELINE])
    rows = [
        [
            LABELS[c],
            f"`{' '.join(CONFIGS[c]) or '(none)'}`",
            " / ".join(f"{v:,.0f}" for v in s),
            f"**{np.mean(s):,.0f}**",
            f"{np.mean(s) / base:.2f}x",
        ]
        for c, s in speeds.items()
    ]
    notes = [
        f"- data: {args.data}; {args.epochs} epochs per run (the speed is per step, "
        f"whatever the length or schedule), seeds {', '.join(map(str, args.seeds))} "
        "interleaved, one `ydnn train` at a time, nothing else running",
        "- examples/s over epochs 2 on (epoch 1 holds the tracing), as `ydnn train` reports it",
    ]
    publish(
        "`ydnn train` defaults: training speed against the settings before them",
        notes,
        ["configuration", "options", "examples/s per seed", "mean", "vs before"],
        rows,
        "defaults_speed",
        "bench.defaults_speed",
        args.results,
    )


if __name__ == "__main__":
    main()
