"""Training on several workers: examples/s and bytes exchanged per step.

The model of bench.model_bench (64-wide item table, MLP [128, 64], 100
log-uniform negatives, Adam on the fused path) on its synthetic Zipf data,
fed by `ydnn.data.TrainingFeed`, in three layouts on this machine:

* one process on one core (`sched_setaffinity`), batch B;
* one process on all cores, batch B;
* `MultiWorkerMirroredStrategy` with W workers on localhost, one core each,
  B rows per worker (global batch W x B), `TF_CONFIG` per process.

Examples/s are training rows per second over all workers, timed over the
epochs after the first (which holds the tracing), best of `--repeats`
runs (this machine now and then runs a process at half speed).

Bytes per step are measured, not modelled: the loopback interface's
received bytes (`/proc/net/dev`, `lo`) over the timed epochs, divided by
the steps: what the workers sent each other (gRPC framing included). Beside
them, what the gradients hold: the sparse gradients' rows and ids (what the
all-gather of `IndexedSlices` moves) and the dense weights' gradients, from
one batch, and the bytes a dense ring all-reduce of the item table would
move instead (2 (W - 1) / W x table bytes per worker).

Run: python -m bench.multiworker_bench [--items 100000] [--workers 2] [--results bench/RESULTS.md]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

BATCHES, EPOCHS, ROWS = (256, 2048), 3, 160_000


def _lo_rx_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                return int(rest.split()[0])
    return 0


def _child(mode, items, batch, core):
    """One process of one layout: prints {"examples_per_s", "lo_bytes", "steps"}."""
    if core is not None:
        os.sched_setaffinity(0, {core})
    import keras
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if mode == "worker" else None
    import ydnn
    from bench.model_bench import build, synthetic

    keras.utils.set_random_seed(0)
    examples, schema = synthetic(items, ROWS)
    replicas = strategy.num_replicas_in_sync if strategy else 1
    feed = ydnn.data.TrainingFeed(examples, batch * replicas, seed=0)
    scope = strategy.scope() if strategy else tf.device("/cpu:0")
    with scope:
        model = build(schema, "fused", 1)
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append((time.perf_counter(), _lo_rx_bytes()))

    model.fit(
        feed.dataset(strategy),
        epochs=EPOCHS,
        steps_per_epoch=feed.steps_per_epoch,
        callbacks=[feed, Clock()],
        verbose=0,
    )
    steps = (EPOCHS - 1) * feed.steps_per_epoch
    seconds = ends[-1][0] - ends[0][0]
    print(
        json.dumps(
            {
                "examples_per_s": steps * feed.global_batch_size / seconds,
                "lo_bytes_per_step": (ends[-1][1] - ends[0][1]) / steps,
                "steps": steps,
            }
        )
    )


def _gradient_bytes(items, batch):
    """Bytes of one batch's gradients: sparse (rows + ids) and dense, and the table's."""
    import keras
    import tensorflow as tf

    from bench.model_bench import build, synthetic

    keras.utils.set_random_seed(0)
    examples, schema = synthetic(items, batch)
    model = build(schema, "fused", 1)
    x, y = {"item_id": tf.constant(examples.history)}, tf.constant(examples.target)
    samples = model.sample_negatives(y)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.sampled_loss(model(x, training=True), y, samples))
    sparse = dense = 0
    for g in tape.gradient(loss, model.trainable_variables):
        if isinstance(g, tf.IndexedSlices):
            sparse += g.values.numpy().nbytes + g.indices.numpy().nbytes
        else:
            dense += g.numpy().nbytes
    table = model.item_table.numpy().nbytes
    return sparse, dense, table


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run(mode, items, batch, workers, cores):
    """The layout's processes; returns the chief's result."""
    argv = [sys.executable, "-m", "bench.multiworker_bench", "--child", mode]
    argv += ["--items", str(items), "--batch", str(batch)]
    hosts = [f"localhost:{p}" for p in _free_ports(workers)] if mode == "worker" else []
    procs = []
    for i in range(workers if mode == "worker" else 1):
        env = dict(os.environ)
        if hosts:
            task = {"type": "worker", "index": i}
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": hosts}, "task": task})
        core = [] if cores[i] is None else ["--core", str(cores[i])]
        procs.append(subprocess.Popen([*argv, *core], env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=3600)[0] for p in procs]
    for p in procs:
        if p.returncode:
            raise RuntimeError(f"{mode} process failed ({p.returncode})")
    return json.loads(outs[0].strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, help="(a child's batch per worker)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--results")
    p.add_argument("--child")
    p.add_argument("--core", type=int)
    args = p.parse_args()
    if args.child:
        _child(args.child, args.items, args.batch, args.core)
        return
    from bench.harness import publish

    cores = os.cpu_count()
    w = args.workers
    layouts = [
        ("1 process, 1 core", "single", 1, [0]),
        (f"1 process, {cores} cores", "single", 1, [None]),
        (f"{w} workers, 1 core each", "worker", w, [i % cores for i in range(w)]),
    ]
    ring = 2 * (w - 1) / w
    rows, notes, excess = [], [], []
    for batch in BATCHES:
        results = {}
        for name, mode, count, pin in layouts:
            runs = [_run(mode, args.items, batch, count, pin) for _ in range(args.repeats)]
            results[name] = max(runs, key=lambda r: r["examples_per_s"])
        base = results[layouts[0][0]]["examples_per_s"]
        for name, mode, count, _ in layouts:
            r = results[name]
            step_ms = 1e3 * batch * count / r["examples_per_s"]
            exchanged = f"{r['lo_bytes_per_step'] / 1e3:,.0f} kB" if mode == "worker" else "-"
            rows.append(
                [
                    batch,
                    name,
                    f"{r['examples_per_s']:,.0f}",
                    f"{r['examples_per_s'] / base:.2f}x",
                    f"{step_ms:.1f}",
                    exchanged,
                ]
            )
            if mode == "worker":  # the step's cost beyond one core's compute of its share
                excess.append((r["lo_bytes_per_step"] / 1e6, step_ms - 1e3 * batch / base))
        sparse, dense, table = _gradient_bytes(args.items, batch)
        notes.append(
            f"Batch {batch}: one worker's gradient of a step holds sparse rows + ids "
            f"{sparse / 1e3:,.0f} kB and dense weights {dense / 1e3:,.0f} kB; the all-gather "
            f"of the sparse part and a ring all-reduce of the dense part bring each worker "
            f"{((w - 1) * sparse + ring * dense) / 1e3:,.0f} kB a step, where a dense ring "
            f"all-reduce of the item table ({table / 1e6:,.1f} MB) would move "
            f"{ring * table / 1e6:,.1f} MB."
        )
    notes = [
        f"{args.items:,} items x 64, float32 table; {ROWS:,} rows, {EPOCHS} epochs (timed: "
        f"epochs 2-{EPOCHS}), best of {args.repeats} runs; fused ops, LazyAdam, "
        f"`TrainingFeed`, one step per call (Keras's several-steps loop fails under "
        f"several replicas). Batch: rows per worker per step.",
        *notes,
        "Exchanged: loopback bytes per step over the timed epochs (both directions of all "
        "workers, gRPC framing included).",
    ]
    if len(excess) >= 2:
        (mb0, ms0), (mb1, ms1) = excess[0], excess[-1]
        slope = (ms1 - ms0) / (mb1 - mb0)
        notes.append(
            f"A worker's step costs {ms0:.1f} ms ({mb0:.1f} MB exchanged) and {ms1:.1f} ms "
            f"({mb1:.1f} MB) more than one core's compute of its share: about "
            f"{ms0 - slope * mb0:.1f} ms a step plus {slope:.1f} ms per MB. The exchange is "
            f"synchronous, and the collectives' gRPC threads share each worker's one core."
        )
    publish(
        f"Training on {w} workers (MultiWorkerMirroredStrategy, localhost)",
        notes,
        ["batch", "layout", "examples/s", "vs 1 process on 1 core", "step ms", "exchanged"],
        rows,
        "multiworker",
        "bench.multiworker_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
