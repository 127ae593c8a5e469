"""One training job of tests/test_model_multiworker.py, run as its own process.

    python -m tests.multiworker_job MODE REPLICAS OPTIMIZER
        [--backup DIR --save-freq N --die-at S] [--loader]

DIR may hold `{task}`, the worker's index: a backup directory per worker.

MODE:
* `worker`: one worker of a `MultiWorkerMirroredStrategy` job (`TF_CONFIG`).
* `reference`: one process, one replica, on the concatenated global batch;
  each replica's share of it draws that replica's negatives (its sampler
  stream), and the step's loss is the mean of the shares' mean losses.

`--loader` fits a `ydnn.Loader` over the training rows written as Parquet
instead of the `TrainingFeed`. Prints one JSON line: the losses, the step,
and every weight as a list.
"""

import argparse
import json
import os
import signal
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

GLOBAL_BATCH, EPOCHS, SEED = 96, 2, 5


def _args():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["worker", "reference"])
    p.add_argument("replicas", type=int)
    p.add_argument("optimizer", choices=["sgd", "adam"])
    p.add_argument("--backup")
    p.add_argument("--save-freq", type=int, default=16)
    p.add_argument("--die-at", type=int, default=0)
    p.add_argument("--loader", action="store_true", help="fit a ydnn.Loader over Parquet")
    return p.parse_args()


def _strategy(args):
    if args.mode == "worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _model(args):
    import ydnn
    from tests.model_cases import small_data

    keras.utils.set_random_seed(0)
    data = small_data(users=300, items=200, interactions=6000)
    model = ydnn.YoutubeDNNRetrievalModelV2(
        data.schema(embedding_dim=16),
        top_block=ydnn.MLPBlock([32, 16]),
        num_sampled=20,
        min_sampled_id=1,
        sampler_seed=3,
    )
    optimizer = keras.optimizers.SGD(0.5) if args.optimizer == "sgd" else "adam"
    model.compile(optimizer=optimizer)
    return model, data


def _loader(data, directory):
    """`data.train` as Parquet (row groups of 500 rows), read by a Loader of
    48 rows per replica."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import ydnn

    ex = data.train
    items = [row[:n].tolist() for row, n in zip(ex.history, ex.lengths)]
    table = pa.table(
        {"item_id": pa.array(items, pa.list_(pa.int32())), "target": pa.array(ex.target)}
    )
    pq.write_table(table, os.path.join(directory, "part.parquet"), row_group_size=500)
    dataset = ydnn.Dataset(directory, schema=data.schema(embedding_dim=16))
    return ydnn.Loader(dataset, batch_size=48, seed=SEED, lists="padded")


class Preempted(keras.callbacks.Callback):
    """SIGKILLs this worker once the model reaches step `at`: a lost machine."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def _reference_fit(model, feed, replicas):
    """One replica on each concatenated batch, each share with its replica's negatives."""
    from ydnn.model.sampler_stream import _REPLICA_STRIDE, DRAW_WINDOW

    base, share = model.sampler_seed, GLOBAL_BATCH // replicas

    @tf.function
    def step(x, y, t):
        losses = []
        with tf.GradientTape() as tape:
            for r in range(replicas):
                rows = slice(r * share, (r + 1) * share)
                model.sampler_seed = base + _REPLICA_STRIDE * r
                samples = model.sample_negatives(y[rows], first_draw=t * DRAW_WINDOW)
                query = model({k: v[rows] for k, v in x.items()}, training=True)
                per_example = model.sampled_loss(query, y[rows], samples)
                losses.append(tf.reduce_mean(per_example))
            loss = tf.add_n(losses) / replicas
        model.sampler_seed = base
        variables = model.trainable_variables
        model.optimizer.apply(tape.gradient(loss, variables), variables)
        model.sampler_calls.assign_add(1)
        return loss

    losses = []
    steps = feed.steps_per_epoch
    for t, (x, y) in enumerate(feed.dataset().take(EPOCHS * steps)):
        losses.append(float(step(x, y, tf.constant(t, tf.int64))))
    return [float(np.mean(losses[e * steps : (e + 1) * steps])) for e in range(EPOCHS)]


def _fit_feed(model, data, strategy, args):
    """The job on a TrainingFeed, with the backup and the preemption asked for."""
    import ydnn

    feed = ydnn.data.TrainingFeed(data.train, GLOBAL_BATCH, seed=SEED)
    if args.mode == "reference":
        return _reference_fit(model, feed, args.replicas)
    callbacks = [feed]
    if args.backup:
        backup = args.backup.format(task=strategy.cluster_resolver.task_id)
        callbacks.insert(0, ydnn.BackupAndRestore(backup, save_freq=args.save_freq))
    if args.die_at and strategy.cluster_resolver.task_id == 1:
        callbacks.append(Preempted(args.die_at))
    history = model.fit(
        feed.dataset(strategy),
        epochs=EPOCHS,
        steps_per_epoch=feed.steps_per_epoch,
        callbacks=callbacks,
        verbose=0,
    )
    return history.history["loss"]


def main():
    args = _args()
    strategy = _strategy(args)
    with strategy.scope():
        model, data = _model(args)
    if args.loader:
        with tempfile.TemporaryDirectory() as directory:
            losses = model.fit(_loader(data, directory), epochs=EPOCHS, verbose=0).history["loss"]
    else:
        losses = _fit_feed(model, data, strategy, args)
    weights = {w.path: np.asarray(w.numpy(), np.float64).ravel().tolist() for w in model.weights}
    out = {
        "loss": [float(v) for v in losses],
        "step": int(model.optimizer.iterations.numpy()),
        "replicas": strategy.num_replicas_in_sync,
        "weights": weights,
    }
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
