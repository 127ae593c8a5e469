"""`ydnn train` on several workers and with backups: its arguments and its training set-up.

`--strategy multiworker` trains under `tf.distribute.MultiWorkerMirroredStrategy`
(the cluster from `TF_CONFIG`): every worker runs the same command, prepares
the same log (deterministic), and trains on its share of each global batch
(`ydnn.data.TrainingFeed`); the chief (worker 0) alone evaluates and writes
`--out`. `--backup-dir` makes training resumable: rerunning the same command
after a kill or a lost worker goes on from the last backup.
"""

import contextlib
import json
import os

# What `--batch-size` means under a strategy: rows per replica per step.
BATCH_HELP = (
    "rows per replica per step (default 256); under --strategy multiworker the "
    "global batch is this x the replicas"
)


def add_arguments(train, positive):
    """`--strategy`, `--backup-dir`, `--backup-every` on the `train` parser."""
    train.add_argument(
        "--strategy",
        choices=("none", "multiworker"),
        default="none",
        help="multiworker: tf.distribute.MultiWorkerMirroredStrategy over the cluster in "
        "TF_CONFIG; run the same command on every worker (default none: this process)",
    )
    train.add_argument(
        "--backup-dir",
        default=None,
        metavar="DIR",
        help="back training up here (one directory, written whole; by the chief only) and "
        "restore from it when the same command runs again; on several machines it must "
        "be storage they all see",
    )
    train.add_argument(
        "--backup-every",
        type=positive(int),
        default=None,
        metavar="STEPS",
        help="back up every STEPS training steps (default: after each epoch)",
    )


def check_arguments(args, error):
    """Contradictions among the scaling arguments (argparse-style errors)."""
    if args.backup_every is not None and args.backup_dir is None:
        error("argument --backup-every: only applies with --backup-dir")
    if args.strategy == "multiworker" and args.early_stopping:
        error(
            "argument --early-stopping: not available with --strategy multiworker yet "
            "(train a fixed --epochs; the chief evaluates the model at the end)"
        )
    if args.backup_dir is not None and args.early_stopping:
        error(
            "argument --early-stopping: not available with --backup-dir yet (a backup "
            "does not keep the best epoch's weights or the patience count)"
        )
    if args.strategy == "multiworker" and args.table_dtype == "bfloat16":
        error(
            "argument --table-dtype: bfloat16 is not available with --strategy multiworker "
            "(TF's CPU collectives cannot broadcast it); use float16 or float32"
        )


class TrainingSetup:
    """The strategy, the feed and the callbacks `run_train` trains with.

    Without `--strategy` and `--backup-dir`, training runs as it always has
    (`ydnn.data.to_dataset`, every row every epoch). Otherwise the batches
    come from a `TrainingFeed` keyed by global step, so that workers share
    each batch and a restored job resumes at the step after its backup.
    """

    def __init__(self, args):
        import tensorflow as tf

        self.args = args
        self.strategy = None
        if args.strategy == "multiworker":
            if not os.environ.get("TF_CONFIG"):
                raise ValueError(
                    "--strategy multiworker reads the cluster from the TF_CONFIG environment "
                    'variable, which is not set (e.g. {"cluster": {"worker": ["host1:12345", '
                    '"host2:12345"]}, "task": {"type": "worker", "index": 0}})'
                )
            try:
                json.loads(os.environ["TF_CONFIG"])
            except json.JSONDecodeError as e:
                raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
            self.strategy = tf.distribute.MultiWorkerMirroredStrategy()
        self.replicas = self.strategy.num_replicas_in_sync if self.strategy else 1
        self.global_batch = args.batch_size * self.replicas
        self.backup = None
        self.rows_per_step = None  # training rows a step takes, on average (fit_inputs)

    @property
    def is_chief(self):
        """True where evaluation and writing happen: worker 0, or the only process."""
        return self.strategy is None or self.strategy.extended.should_checkpoint

    @property
    def worker(self):
        """`(index, count)` of this worker."""
        from ydnn._workers import worker_count, worker_index

        if self.strategy is None:
            return 0, 1
        return worker_index(self.strategy), worker_count(self.strategy)

    def scope(self):
        """Where the model and its optimizer are built."""
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def fit_inputs(self, rows, seed):
        """`(dataset, fit keyword arguments, callbacks, rows per epoch)` for `rows`."""
        import ydnn

        args = self.args
        if self.strategy is None and args.backup_dir is None:
            dataset = ydnn.data.to_dataset(rows, args.batch_size, seed=seed)
            self.rows_per_step = len(rows) / -(-len(rows) // args.batch_size)  # last one smaller
            return dataset, {}, [], len(rows)
        if len(rows) < self.global_batch:
            raise ValueError(
                f"--batch-size {args.batch_size} x {self.replicas} replicas = "
                f"{self.global_batch} rows per step, more than the {len(rows):,} training "
                f"examples: lower --batch-size"
            )
        feed = ydnn.data.TrainingFeed(rows, self.global_batch, seed=seed)
        callbacks = [feed]
        if args.backup_dir is not None:
            # Kept until the model directory is written (`finish`): a kill
            # during the evaluation must not cost the training.
            self.backup = ydnn.BackupAndRestore(
                args.backup_dir, save_freq=args.backup_every or "epoch", delete_checkpoint=False
            )
            callbacks.insert(0, self.backup)  # restores before the feed reads the model's step
        self.rows_per_step = self.global_batch
        kwargs = {"steps_per_epoch": feed.steps_per_epoch}
        rows_per_epoch = feed.steps_per_epoch * self.global_batch
        return feed.dataset(self.strategy), kwargs, callbacks, rows_per_epoch

    def finish(self):
        """After the model directory is written: the backup is no longer
        needed, and every worker waits here for the chief, so none leaves
        while the chief evaluates (its peers' heartbeats stopping made TF
        log the job as crashed)."""
        if self.backup is not None and self.is_chief:
            self.backup.delete()
        if self.strategy is not None:
            import tensorflow as tf

            one = self.strategy.run(lambda: tf.constant(1.0))
            self.strategy.reduce("SUM", one, axis=None)
