"""Model choices on MovieLens, made on a validation split (never the test items).

The MovieLens benchmark's settings (bench.movielens_cli: 10 epochs at lr
1e-3, batch 256, MLP 128,64 with a linear last layer, 100 log-uniform
negatives, min id 1, history 20) leave the model under-trained; this sweep
is the evidence behind three defaults: the table initializer (truncated
normal, stddev 1/sqrt(width)), the MLP's kernel initializer (He uniform, not
Merlin's Glorot uniform), and, left as options because the benchmark fixes
them (as Merlin does), mean pooling (`--combiner sqrtn`) and
the tied candidate table (`separate_output_table=True`). Each configuration
trains the fused model on the validation split (each user's last
interaction dropped, the second-to-last held out: `ydnn train --validation`)
for each seed and reports Recall@10 over all items and with seen items
excluded, and the final loss.

Run: python -m bench.movielens_sweep --data ratings.csv [--seeds 0 1 ... 9]
         [--results bench/RESULTS.md]
"""

import argparse
import warnings

import keras
import numpy as np

from bench.harness import publish

# (table init stddev, pooling, MLP kernel initializer, candidate table);
# 0.05 is Merlin's table stddev, 0.125 = 1/sqrt(64); the last column of the
# first five rows is Merlin's MLP initializer.
CONFIGS = [
    (0.01, "mean", "glorot_uniform", "tied"),
    (0.05, "mean", "glorot_uniform", "tied"),
    (0.125, "mean", "glorot_uniform", "tied"),
    (0.35, "mean", "glorot_uniform", "tied"),
    (0.125, "sqrtn", "glorot_uniform", "tied"),
    (0.125, "mean", "he_uniform", "tied"),
    (0.125, "mean", "he_normal", "tied"),
    (0.35, "mean", "he_uniform", "tied"),
    (0.125, "sqrtn", "he_uniform", "tied"),
    (0.125, "mean", "he_uniform", "separate"),
]


def train_once(data, seed, stddev, combiner, mlp_init, table):
    """Recall@10 (all items, seen excluded) and final loss of one fused run."""
    import ydnn
    from ydnn.cli_protocol import full_catalog_metrics

    keras.utils.set_random_seed(seed)
    schema = data.schema(embedding_dim=64)
    inputs = ydnn.InputBlock(
        schema,
        combiner=combiner,
        embeddings_initializer=(keras.initializers.TruncatedNormal(stddev=stddev)),
    )
    model = ydnn.YoutubeDNNRetrievalModelV2(
        schema,
        inputs=inputs,
        top_block=ydnn.MLPBlock(
            [128, 64], no_activation_last_layer=True, kernel_initializer=mlp_init
        ),
        num_sampled=100,
        min_sampled_id=1,
        separate_output_table=table == "separate",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), top_k=10, steps_per_execution=32)
    history = model.fit(ydnn.data.to_dataset(data.train, 256, seed=seed), epochs=10, verbose=0)
    metrics = full_catalog_metrics(model, data.test, data, 10)
    return (
        metrics["all_items"]["recall_at_10"],
        metrics["exclude_seen"]["recall_at_10"],
        history.history["loss"][-1],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ml-latest-small ratings.csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--results", default=None)
    args = parser.parse_args()
    import ydnn
    from ydnn.cli_protocol import prepare

    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    cols = {"user_col": "userId", "item_col": "movieId", "time_col": "timestamp"}
    log = ydnn.data.read_interactions(args.data, "userId", "movieId", "timestamp")
    data = prepare(log, cols, 20, 3, validation=True)
    rows = []
    for config in CONFIGS:
        runs = np.array([train_once(data, seed, *config) for seed in args.seeds])
        spread = runs[:, 0].std(ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else float("nan")
        rows.append(
            [
                f"{config[0]:g}",
                *config[1:],
                f"**{runs[:, 0].mean():.4f}** ± {spread:.4f}",
                f"{runs[:, 1].mean():.4f}",
                f"{runs[:, 2].mean():.3f}",
            ]
        )
        print(rows[-1], flush=True)
    notes = [
        f"- data: {args.data}, validation split: {len(data.train):,} training examples, "
        f"{len(data.test)} held-out second-to-last items; fused backend; seeds "
        f"{', '.join(map(str, args.seeds))} (mean ± standard error over seeds; one run "
        f"is noisy by about 0.007)",
        "- settings: the MovieLens benchmark's (10 epochs, Adam lr 1e-3 -> LazyAdam on the "
        "table, batch 256, embedding 64, MLP 128,64 linear last layer, 100 negatives, "
        "min id 1, history 20, temperature 1); the table and MLP initializers, the history "
        "pooling and the candidate table vary",
        "- chosen as defaults: table stddev 1/sqrt(width) (0.125 here) and He uniform MLP "
        "kernels (Merlin: Glorot uniform). With Glorot kernels a 0.35 table reaches the "
        "recall He kernels do, at a higher loss; with He kernels 0.35 and 0.125 are within "
        "one standard error, and 0.125 keeps the lower loss. Mean pooling and the tied "
        "table stay the defaults because the benchmark fixes them (and Merlin has them); "
        "sqrtn is `--combiner sqrtn`, the separate table `separate_output_table=True`",
    ]
    header = [
        "table init stddev",
        "pooling",
        "MLP init",
        "candidate table",
        "Recall@10 all items, mean",
        "Recall@10 seen excluded, mean",
        "final loss, mean",
    ]
    publish(
        "MovieLens validation sweep: initializers, pooling, candidate table",
        notes,
        header,
        rows,
        "movielens_sweep",
        "bench.movielens_sweep",
        args.results,
    )


if __name__ == "__main__":
    main()
