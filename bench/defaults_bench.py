"""`ydnn train` with its defaults against the settings before them and Merlin's preset.

Each configuration is a list of `ydnn train` options (`CONFIGS`); every
run is the command itself (`python -m ydnn train ... --json`, one process at
a time, so the throughput is what a user gets), on the test split (the last
items) and, with `--splits test validation`, on the validation split (the
second-to-last items, where the defaults were chosen). Reports per
configuration and split the mean over seeds of Recall / NDCG at 10, 20, 50
and 100 (all items), the standard error over seeds, seed 0's bootstrap
interval over users (the training speed is `bench.defaults_speed`'s).

Run: python -m bench.defaults_bench --data ratings.csv [--seeds 0 ... 9]
         [--splits test validation] [--configs defaults merlin ...] [--results bench/RESULTS.md]
     python -m bench.defaults_bench --synthetic 20000,50000,1000000 ...
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from bench.harness import publish

MOVIELENS_COLUMNS = ["--user-col", "userId", "--item-col", "movieId", "--time-col", "timestamp"]
# The options each configuration gives `ydnn train` (the data's aside).
CONFIGS = {
    "defaults": [],
    "merlin": ["--preset", "merlin"],
    # `ydnn train` with no options before the study: Merlin's architecture
    # (MLP 64 with ReLU, mean pooling, 10 epochs) with ydnn's initializers.
    "before_cli": [
        "--preset",
        "merlin",
        "--mlp-initializer",
        "he_uniform",
        "--table-init-stddev",
        "0.125",
    ],
    # The MovieLens benchmark's settings before the study (bench.movielens_cli).
    "before_bench": [
        "--preset",
        "merlin",
        "--mlp-initializer",
        "he_uniform",
        "--table-init-stddev",
        "0.125",
        "--top-block",
        "128,64",
        "--no-activation-last-layer",
    ],
}
LABELS = {
    "defaults": "ydnn defaults (no options)",
    "merlin": "`--preset merlin`",
    "before_cli": "`ydnn train` defaults before the study",
    "before_bench": "benchmark settings before the study",
}
BASELINE = "before_bench"  # the speed ratios of bench.defaults_speed


def train(source, options, seed, split, out):
    argv = [sys.executable, "-m", "ydnn", "train", *source, *options]
    argv += ["--seed", str(seed), "--out", out, "--json", "--verbose", "0"]
    if split == "validation":
        argv.append("--validation")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ydnn train failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def structure_oracle(users, items, rows, split):
    """Recall@10 of ranking the last history item's cluster by training popularity.

    The generator's own structure (`ydnn.data.synthetic`): what a model that
    recovered the clusters from the histories alone would reach, all items
    and with seen items excluded.
    """
    import ydnn
    from ydnn.cli_protocol import prepare

    log, truth = ydnn.data.generate_interactions(
        num_users=users, num_items=items, num_interactions=rows, seed=0, return_truth=True
    )
    cols = {"user_col": "user_id", "item_col": "item_id", "time_col": "timestamp"}
    data = prepare(log, cols, 20, 3, split == "validation")
    cluster = np.array([-1] + [truth["item_cluster"][x] for x in data.item_ids[1:]])
    order = np.lexsort((np.arange(data.num_items + 1), -data.train_item_counts))
    order = order[order >= 1]
    ranked = {c: order[cluster[order] == c] for c in np.unique(cluster[1:])}
    hits = np.zeros((2, data.num_users))
    for u in range(data.num_users):
        candidates = ranked[cluster[data.test.history[u, data.test.lengths[u] - 1]]]
        target = data.test.target[u]
        hits[0, u] = target in candidates[:10]
        seen = data.seen(u)
        head = candidates[: 10 + len(seen)]
        hits[1, u] = target in head[~np.isin(head, seen)][:10]
    return hits.mean(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="ml-latest-small ratings.csv")
    data.add_argument("--synthetic", metavar="USERS,ITEMS,INTERACTIONS")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--splits", nargs="+", choices=("test", "validation"), default=["test"])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--cache", default=None, help="JSONL of finished runs (resumes)")
    parser.add_argument("--results", default=None)
    args = parser.parse_args()
    if args.data:
        source, name = ["--interactions", args.data, *MOVIELENS_COLUMNS], args.data
    else:
        users, items, rows = args.synthetic.split(",")
        source = ["--synthetic", "--synthetic-users", users, "--synthetic-items", items]
        source += ["--synthetic-interactions", rows]
        name = f"synthetic ({users} users, {items} items, {rows} interactions, data seed 0)"
    done = {}
    if args.cache and os.path.exists(args.cache):
        with open(args.cache) as f:
            for line in f:
                r = json.loads(line)
                done[(r["source"], r["config"], r["split"], r["seed"])] = r["result"]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Seeds outermost, configurations interleaved: a change in the
        # machine's load hits every configuration alike.
        for seed in args.seeds:
            for split in args.splits:
                for config in args.configs:
                    key = (" ".join(source), config, split, seed)
                    if key not in done:
                        out = os.path.join(tmp, f"{config}_{split}_{seed}")
                        done[key] = train(source, CONFIGS[config], seed, split, out)
                        if args.cache:
                            with open(args.cache, "a") as f:
                                record = dict(zip(("source", "config", "split", "seed"), key))
                                f.write(json.dumps({**record, "result": done[key]}) + "\n")
                    r = done[key]
                    runs.setdefault((config, split), []).append(r)
                    print(
                        f"seed {seed} {split} {config}: recall@10 "
                        f"{r['metrics']['all_items']['recall_at_10']:.4f}, "
                        f"{r['throughput']['examples_per_second']:,.0f} ex/s",
                        flush=True,
                    )
    report(args, name, runs)


def report(args, name, runs):
    header = [
        "split",
        "configuration",
        "Recall@10, mean ± s.e. over seeds",
        "seed 0: 95% interval over users",
        "NDCG@10",
        "Recall@20",
        "Recall@50",
        "Recall@100",
        "Recall@10 seen excluded",
        "epochs",
    ]
    rows = []
    for split in args.splits:
        for config in args.configs:
            mine = runs[(config, split)]

            def mean(proto, metric, mine=mine):
                return float(np.mean([r["metrics"][proto][metric] for r in mine]))

            recalls = np.array([r["metrics"]["all_items"]["recall_at_10"] for r in mine])
            se = recalls.std(ddof=1) / np.sqrt(len(recalls)) if len(recalls) > 1 else float("nan")
            m0 = mine[0]["metrics"]["all_items"]
            low, high = m0["recall_at_10_ci_low"], m0["recall_at_10_ci_high"]
            rows.append(
                [
                    split,
                    LABELS[config],
                    f"**{recalls.mean():.4f}** ± {se:.4f}",
                    f"[{low:.4f}, {high:.4f}]",
                    f"{mean('all_items', 'ndcg_at_10'):.4f}",
                    f"{mean('all_items', 'recall_at_20'):.4f}",
                    f"{mean('all_items', 'recall_at_50'):.4f}",
                    f"{mean('all_items', 'recall_at_100'):.4f}",
                    f"{mean('exclude_seen', 'recall_at_10'):.4f}",
                    f"{np.mean([r['throughput']['epochs'] for r in mine]):g}",
                ]
            )
    first = next(iter(runs.values()))[0]
    d = first["data"]
    notes = [
        f"- data: {name}: {d['interactions']:,} interactions, {d['users']:,} users, "
        f"{d['items']:,} items; seeds {', '.join(map(str, args.seeds))}",
        "- options per configuration (beside the data's): "
        + "; ".join(f"{LABELS[c]}: `{' '.join(CONFIGS[c]) or '(none)'}`" for c in args.configs),
        "- test split: each user's last item held out; validation split: the last item "
        "dropped and the second-to-last held out (where the defaults were chosen)",
        "- quality only: the runs may share the machine, so their speed is measured "
        "apart, on a quiet machine (`bench.defaults_speed`, section `defaults_speed`)",
    ]
    if args.synthetic:
        sizes = [int(x) for x in args.synthetic.split(",")]
        for split in args.splits:
            every, unseen = structure_oracle(*sizes, split)
            notes.append(
                f"- {split} split, the generator's structure as a ranker (the last history "
                f"item's cluster by training popularity; it knows the clusters, the model "
                f"learns them): Recall@10 {every:.4f} all items, {unseen:.4f} seen excluded"
            )
    section = "defaults_movielens" if args.data else "defaults_synthetic"
    publish(
        f"`ydnn train` defaults against the settings before them: {name.split(' ')[0]}",
        notes,
        header,
        rows,
        section,
        "bench.defaults_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
