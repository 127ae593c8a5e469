"""ydnn.Loader over a Parquet dataset: can it keep the fused training step busy?

ml-latest-small becomes a Parquet dataset the way a Merlin user holds it:
one row per training example, `user_id` and `item_id_seq` (the history then
the next item, a ragged list), in 4 files of row groups of 8,192 rows, with
the schema beside them. Then, per batch size, in one process:

* loader: one shuffled epoch of `ydnn.Loader(...)` with
  `pre=SequencePredictLast` applied (as `fit(loader, pre=)` does), drained
  inside TF (`Dataset.reduce`, as `fit` consumes it: no Python per batch), in
  batches/s; and without `pre`;
* in-memory: `ydnn.data.to_dataset` over the same examples in NumPy (the
  pipeline `ydnn train` uses), drained the same way;
* model step: the fused `YoutubeDNNRetrievalModelV2` (MLP [128, 64], 100
  negatives, LazyAdam) fed the loader's batches cached in memory, so only
  the step is timed (steps/s);
* fit from loader: the same model trained from the loader with `pre=`; fit
  from in-memory: trained from `ydnn.data.to_dataset` (steps/s).

Headroom = loader batches/s / model step/s: above 1, the loader alone makes
batches faster than the step uses them. On 2 cores the loader and the step
share the CPU, so training from any pipeline runs below the cached step rate;
the last two columns show how far, for the loader and for the in-memory
pipeline. Medians over 3 epochs after a warm-up epoch.

Run: python -m bench.loader_bench --data ../shared/data/ml-latest-small/ratings.csv
     [--batch-sizes 256,1024] [--results bench/RESULTS.md]
"""

import argparse
import os
import statistics
import tempfile
import time

import keras
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

import ydnn
from bench.harness import publish
from ydnn.data import prepare_sequences, to_dataset
from ydnn.schema import ColumnSchema, Schema, Tags

FILES, ROW_GROUP, EPOCHS = 4, 8192, 3


def write_parquet(data, directory):
    """The training examples as Merlin-style sequence rows (history + next item)."""
    ex = data.train
    rows = [np.append(h[:n], t) for h, n, t in zip(ex.history, ex.lengths, ex.target)]
    order = np.random.default_rng(0).permutation(len(rows))
    for i, part in enumerate(np.array_split(order, FILES)):
        table = pa.table(
            {
                "user_id": pa.array(ex.user[part].astype(np.int64)),
                "item_id_seq": pa.array(
                    [rows[j].astype(np.int64) for j in part], type=pa.list_(pa.int64())
                ),
            }
        )
        pq.write_table(
            table, os.path.join(directory, f"part_{i}.parquet"), row_group_size=ROW_GROUP
        )
    Schema(
        [
            ColumnSchema(
                "user_id",
                "int64",
                ["user", "id", "categorical"],
                int_domain=(0, data.num_users - 1),
            ),
            ColumnSchema(
                "item_id_seq",
                "int64",
                ["item", "id", "categorical", "sequence", "list"],
                is_list=True,
                is_ragged=True,
                int_domain=(0, data.num_items),
                properties={"value_count": {"min": 2, "max": ex.max_history + 1}},
            ),
        ]
    ).write(os.path.join(directory, "schema.json"))
    return len(rows)


def drain(ds):
    """Batches in `ds`, counted inside TF (no Python per batch)."""
    return int(ds.reduce(np.int64(0), lambda count, *batch: count + 1))


def timed(fn, epochs=EPOCHS):
    fn()  # warm-up: traces, first reads
    rates = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def build(schema):
    model = ydnn.YoutubeDNNRetrievalModelV2(
        schema,
        top_block=ydnn.MLPBlock([128, 64], no_activation_last_layer=True),
        num_sampled=100,
        min_sampled_id=1,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def measure(dataset, data, batch):
    pre = ydnn.SequencePredictLast(
        schema=dataset.schema.select_by_tag(Tags.SEQUENCE), target="item_id_seq"
    )
    loader = ydnn.Loader(dataset, batch, seed=0)
    with_pre = lambda: drain(loader.to_tf_dataset(pre))  # noqa: E731
    no_pre = lambda: drain(loader.to_tf_dataset())  # noqa: E731
    memory = lambda: drain(to_dataset(data.train, batch, seed=0))  # noqa: E731
    rates = {"loader": timed(with_pre), "loader_raw": timed(no_pre), "memory": timed(memory)}
    cached = loader.to_tf_dataset(pre).cache()
    steps = drain(cached)
    model = build(dataset.schema.select_by_name("item_id_seq"))

    def fit(source, n, **kwargs):
        model.fit(source, epochs=1, verbose=0, **kwargs)
        return n

    rates["step"] = timed(lambda: fit(cached, steps))
    rates["fit_loader"] = timed(lambda: fit(loader, len(loader), pre=pre))
    # The same architecture on ydnn.data's column names (item_id).
    model = build(data.schema())
    in_memory = to_dataset(data.train, batch, seed=0)
    rates["fit_memory"] = timed(lambda: fit(in_memory, steps))
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ml-latest-small ratings.csv")
    parser.add_argument("--batch-sizes", default="256,1024")
    parser.add_argument("--results", help="rewrite this benchmark's section of this file")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    data = prepare_sequences(
        args.data, user_col="userId", item_col="movieId", time_col="timestamp", max_history=20
    )
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        n = write_parquet(data, directory)
        dataset = ydnn.Dataset(directory)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            r = measure(dataset, data, batch)
            rows.append(
                [
                    batch,
                    f"{r['loader']:,.0f}",
                    f"{r['loader'] * batch:,.0f}",
                    f"{r['loader_raw']:,.0f}",
                    f"{r['memory']:,.0f}",
                    f"{r['step']:,.0f}",
                    f"{r['loader'] / r['step']:.1f}x",
                    f"{r['fit_loader']:,.0f}",
                    f"{r['fit_memory']:,.0f}",
                    f"{r['fit_loader'] / r['step']:.0%}",
                    f"{r['fit_memory'] / r['step']:.0%}",
                ]
            )
    notes = [
        f"ml-latest-small as Parquet: {n:,} training rows (user_id, item_id_seq = history "
        f"of <= 20 items + the next one), {FILES} files, row groups of {ROW_GROUP:,}; "
        f"{data.num_items:,} items. Loader: shuffled, ragged, pre=SequencePredictLast. "
        f"Model: fused, MLP [128, 64], 100 negatives, LazyAdam 1e-3. Rates are batches "
        f"(steps) per second, medians of {EPOCHS} epochs after a warm-up epoch, "
        f"pipelines drained inside TF; headroom = loader / model step; the last two "
        f"columns: training from each pipeline as a share of the cached step rate."
    ]
    header = [
        "batch",
        "loader batch/s",
        "loader rows/s",
        "loader no-pre batch/s",
        "in-memory batch/s",
        "model step/s",
        "headroom",
        "fit from loader step/s",
        "fit from in-memory step/s",
        "loader fit / step",
        "in-memory fit / step",
    ]
    publish(
        "ydnn.Loader over Parquet vs the fused training step (ml-latest-small)",
        notes,
        header,
        rows,
        "loader",
        "bench.loader_bench",
        args.results,
    )


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
