"""End-to-end training of YoutubeDNNRetrievalModelV2: fused vs stock backend.

Synthetic next-item data over catalogs of 10^4 .. 10^7 items: Zipf(1.1)
item ids, histories of 1..20 items, batch 256, MLP [128, 64] on a 64-wide
item table, 100 log-uniform negatives, Adam. The same model with
`ops="fused"` (ydnn's kernels and sparse optimizer updates) and
`ops="stock"` (plain TF ops and Keras's optimizer), built in one process per
catalog size and timed in interleaved rounds after a warm-up (from 10^7
items, where both do not fit in memory at once, each side alone in its own
process).

Reports training examples per second (median over rounds), the speedup
(median of per-round ratios) and each side's peak memory, measured alone in
a fresh subprocess: peak resident set while the model is built (tables,
optimizer slots) and trained for the warm-up and the rounds, minus the
resident set before (bench.harness.peak_rss_growth).

Recall@10 beside the speed, on MovieLens: bench.movielens_cli.

With `--half` (section `model_train_half`): the fused model with float32 vs
bfloat16 tables (`table_dtype`), row-wise Adagrad (one float32 slot per row,
so the optimizer state stays small), up to 10^8 items, each side alone in
its own process: examples/s and peak memory, and the step time against the
smallest catalog's.

Run: python -m bench.model_bench [--quick] [--sizes 10000,100000] [--results bench/RESULTS.md]
     python -m bench.model_bench --half [--sizes 10000,...,100000000] [--results ...]
"""

import argparse
import gc
import json
import subprocess
import sys
import time

import keras
import numpy as np

import ydnn
from bench.harness import peak_rss_growth, publish
from ydnn.data import Examples, to_dataset
from ydnn.schema import ColumnSchema, Schema, Tags

BATCH, HISTORY, DIM, SAMPLED = 256, 20, 64, 100
SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
SEPARATE_FROM = 10_000_000  # catalog size from which the sides run in separate processes


def synthetic(num_items, rows, seed=0):
    """Zipf-distributed histories and targets over ids 1..num_items-1."""
    rng = np.random.default_rng(seed)
    draw = lambda shape: (rng.zipf(1.1, shape) % (num_items - 1) + 1).astype(np.int32)  # noqa: E731
    lengths = rng.integers(1, HISTORY + 1, rows).astype(np.int32)
    history = draw((rows, HISTORY))
    history[np.arange(HISTORY)[None, :] >= lengths[:, None]] = 0
    examples = Examples(history, lengths, draw(rows), np.zeros(rows, np.int32))
    schema = Schema(
        [
            ColumnSchema(
                "item_id",
                "int32",
                [Tags.ITEM_ID, Tags.CATEGORICAL, Tags.LIST],
                is_list=True,
                int_domain=(0, num_items - 1),
            )
        ]
    )
    return examples, schema


HALF_SIZES = (10_000, 1_000_000, 10_000_000, 100_000_000)
FIT_BYTES = 20e9  # tables above this (of 24 GB) are not tried


def build(schema, ops, steps_per_execution, table_dtype=None):
    model = ydnn.YoutubeDNNRetrievalModelV2(
        schema,
        top_block=ydnn.MLPBlock([128, DIM], no_activation_last_layer=True),
        num_sampled=SAMPLED,
        min_sampled_id=1,
        ops=ops,
        table_dtype=table_dtype or "float32",
    )
    # The stock/fused comparison trains with Adam; the half-table runs with
    # row-wise Adagrad, whose [V] slot keeps 10^8 items within memory.
    optimizer = (
        keras.optimizers.Adam(1e-3)
        if table_dtype is None
        else ydnn.optimizers.RowWiseAdagrad(0.05, table_pattern="embeddings")
    )
    model.compile(optimizer=optimizer, steps_per_execution=steps_per_execution)
    return model


def run_rounds(models, ds, steps, rounds):
    """Examples/s of each model per round, in rotating order; `steps[name]`
    steps a round (one fit call, one execution)."""
    per = {k: [] for k in models}
    names = list(models)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            models[name].fit(ds, epochs=1, steps_per_epoch=steps[name], verbose=0)
            per[name].append(steps[name] * BATCH / (time.perf_counter() - t0))
    return per


def _child(what, ops, num_items, steps, rounds, table_dtype=None):
    """One side alone, in a fresh process (see `alone`): prints its per-round
    examples/s after a warm-up round ("speed"), or the working-set growth in
    MB over building it and `rounds + 1` rounds ("peak"). The two are
    separate runs: the resident-set poller would slow the timed rounds."""
    examples, schema = synthetic(num_items, BATCH * steps * 2)
    ds = to_dataset(examples, BATCH, seed=0, repeat=True, drop_remainder=True)
    make = lambda: build(schema, ops, steps, table_dtype)  # noqa: E731
    if what == "peak":
        with peak_rss_growth({}) as out:
            run_rounds({ops: make()}, ds, {ops: steps}, rounds + 1)
        print(json.dumps(out["mb"]))
        return
    model = make()
    run_rounds({ops: model}, ds, {ops: steps}, 1)  # warm-up
    print(json.dumps(run_rounds({ops: model}, ds, {ops: steps}, rounds)[ops]))


def alone(what, ops, num_items, steps, rounds, table_dtype=None):
    """`_child`'s result for one side, run in a fresh process."""
    code = (
        "from bench.model_bench import _child; "
        f"_child({what!r}, {ops!r}, {num_items}, {steps}, {rounds}, {table_dtype!r})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(num_items, steps, rounds, memory):
    """`steps`: {ops: steps a round}; examples/s are compared round by round,
    except from 10^7 items, where the two models do not fit in memory
    together (~7 GB fused, ~15 GB stock): each side then trains alone in its
    own process, one after the other, and the ratio is of their medians."""
    if num_items >= SEPARATE_FROM:
        per = {k: alone("speed", k, num_items, steps[k], rounds) for k in ("fused", "stock")}
        ratio = float(np.median(per["fused"]) / np.median(per["stock"]))
    else:
        examples, schema = synthetic(num_items, BATCH * max(steps.values()) * 2)
        ds = to_dataset(examples, BATCH, seed=0, repeat=True, drop_remainder=True)
        models = {ops: build(schema, ops, steps[ops]) for ops in ("fused", "stock")}
        run_rounds(models, ds, steps, 1)  # warm-up: tracing, first allocations
        per = run_rounds(models, ds, steps, rounds)
        ratio = float(np.median(np.array(per["fused"]) / np.array(per["stock"])))
        del models, ds  # free the tables before the memory runs
        gc.collect()
    mem = {k: alone("peak", k, num_items, steps[k], rounds) for k in steps} if memory else None
    return {k: float(np.median(v)) for k, v in per.items()}, ratio, mem


def half_tables(sizes, results, memory=True):
    """The `--half` table: float32 vs bfloat16 tables, fused, each run alone."""
    rows, base = [], {}
    steps, rounds = 32, 5
    for n in sizes:
        row = [f"{n:,}"]
        for dtype in ("float32", "bfloat16"):
            table_gb = n * DIM * (4 if dtype == "float32" else 2) / 1e9
            if table_gb * 1e9 > FIT_BYTES:
                row += [f"table alone {table_gb:.1f} GB: does not fit", "", ""]
                continue
            # The better of two processes: on this 2-core machine a process
            # now and then runs all its rounds at about half speed.
            speed = max(
                float(np.median(alone("speed", "fused", n, steps, rounds, dtype))) for _ in range(2)
            )
            base.setdefault(dtype, speed)
            mem = alone("peak", "fused", n, steps, rounds, dtype) if memory else None
            row += [
                f"{speed:,.0f}",
                f"{base[dtype] / speed:.2f}x",
                "" if mem is None else f"{mem:,.0f}",
            ]
        rows.append(row)
        print(rows[-1], flush=True)
    cells = ("ex/s", "step time / smallest", "peak MB")
    header = ["items"] + [f"{d} {c}" for d in ("float32", "bfloat16") for c in cells]
    notes = [
        f"Fused model: batch {BATCH}, history <= {HISTORY}, MLP [128, {DIM}], {SAMPLED} "
        "negatives, ydnn.optimizers.RowWiseAdagrad(0.05) (one float32 accumulator per table "
        "row; a bfloat16 table's rows are stored with stochastic rounding); 32-step rounds "
        "(one fit call each), median of 5 after a warm-up round; each cell trains alone in a "
        "fresh process, twice, and shows the better median (a process now and then runs all "
        "its rounds at about half speed on this 2-core machine); peak MB = resident-set "
        "growth over building (tables initialised a slice of rows at a time) and training, "
        "measured in another fresh process; step time / smallest = the smallest catalog's "
        "examples/s over this one's."
    ]
    publish(
        "End-to-end training with float32 and bfloat16 tables, up to 10^8 items",
        notes,
        header,
        rows,
        "model_train_half",
        "bench.model_bench --half",
        results,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 items, short rounds")
    parser.add_argument("--sizes", help="comma-separated catalog sizes")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--results", help="rewrite this benchmark's section of this file")
    parser.add_argument("--half", action="store_true", help="float32 vs bfloat16 tables")
    args = parser.parse_args()
    if args.half:
        sizes = [int(float(s)) for s in args.sizes.split(",")] if args.sizes else HALF_SIZES
        half_tables(sizes, args.results, not args.no_memory)
        return
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else (SIZES[:2] if args.quick else SIZES)
    )
    rows = []
    for n in sizes:
        # Stock Adam updates every row of every table each step (seconds at
        # 10^6 rows), so its rounds are short there; fused keeps 16-step
        # rounds, since a 2-step fit call is mostly the call's own overhead.
        per_round = 8 if args.quick else 16
        big = n >= 1_000_000 and not args.quick
        steps = {"fused": per_round, "stock": 2 if big else per_round}
        rounds = 2 if args.quick or big else 3
        speed, ratio, mem = compare(n, steps, rounds, not (args.quick or args.no_memory))
        rows.append(
            [
                f"{n:,}",
                f"{speed['fused']:,.0f}",
                f"{speed['stock']:,.0f}",
                f"{ratio:.2f}x",
                "" if mem is None else f"{mem['fused']:,.0f}",
                "" if mem is None else f"{mem['stock']:,.0f}",
            ]
        )
        print(rows[-1], flush=True)
    header = ["items", "fused ex/s", "stock ex/s", "speedup", "peak MB fused", "peak MB stock"]
    notes = [
        f"Batch {BATCH}, history <= {HISTORY}, MLP [128, {DIM}], {SAMPLED} negatives, Adam "
        "1e-3 (fused: ydnn.optimizers.LazyAdam, sparse table updates; stock: Keras Adam); "
        "steps_per_execution = steps per round (one fit call); fused: 16-step rounds; "
        "stock: 16-step rounds below 10^6 items, 2-step from 10^6 (its dense table update "
        "takes seconds there); 3 rounds each below 10^6, 2 from 10^6, after a warm-up "
        "round; median examples/s, speedup = median of per-round ratios of examples/s; "
        f"from {SEPARATE_FROM:,} items the two models do not fit in memory together, so "
        "each trains alone in its own process, one after the other, and the speedup is "
        "the ratio of their medians."
    ]
    publish(
        "End-to-end training: fused vs stock backend",
        notes,
        header,
        rows,
        "model_train",
        "bench.model_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
