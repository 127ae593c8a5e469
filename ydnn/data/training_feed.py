"""`TrainingFeed`: a training job's batches keyed by global step, for any number of replicas."""

import keras
import numpy as np
import tensorflow as tf

from ydnn.data.examples import Examples
from ydnn.data.sequence_data import ITEM_COLUMN

# Epochs the stream can run past its start: endless in practice.
_EPOCHS_AHEAD = 1 << 40
# The step the job ends at, on the model while a fit runs (the feed sets it;
# `ydnn.BackupAndRestore` saves it), and as restored from a backup (read once
# by the feed): after a break Keras's epochs no longer end where the job's do.
JOB_END = "_ydnn_job_end"
RESUMED_JOB_END = "_ydnn_resumed_job_end"


class TrainingFeed(keras.callbacks.Callback):
    """The batches of a training job as one stream by global step.

    Batch `s` of the job is rows `perm_e[b G : (b + 1) G]` of epoch
    `e = s // steps_per_epoch`, `b = s % steps_per_epoch`, where `G` is the
    global batch size and `perm_e` a stateless permutation keyed by
    `(seed, e)`. Batch `s` is therefore the same rows on any process layout
    and after any restart:

    * Under a strategy of `R` replicas (`MirroredStrategy`,
      `MultiWorkerMirroredStrategy`), each input pipeline reads only its
      contiguous share of every global batch, and replica `r` trains on
      rows `[r G / R, (r + 1) G / R)` of it: a job on 2 workers sees the
      same rows per step as one process with 2 replicas, or one replica on
      the concatenated batch.
    * Passed to `fit` as a callback too, the feed starts where the model is
      (`optimizer.iterations`): after `BackupAndRestore` (Keras's or
      `ydnn.BackupAndRestore`) restored a backup made in the middle of an
      epoch, training goes on from the next batch, not from the epoch's
      start, and stops once the job's `epochs x steps_per_epoch` steps are
      done. A resumed job thus ends where the unbroken one does; its
      epochs' log lines are offset by the steps done before the break.

    Each epoch takes `steps_per_epoch = N // G` full batches (the last
    `N mod G` rows of a permutation wait for another epoch's), so every
    replica has the same rows in every step. The model's
    `steps_per_execution` must divide `steps_per_epoch`.

    Args:
        examples: `Examples` (e.g. `SequenceData.train`).
        global_batch_size: `G`, rows per step over all replicas; a multiple
            of the replica count. With `R` replicas each trains on `G / R`.
        seed: int seed of the permutations.
        item_column: feature name of the history (the schema's column name).
        include_lengths: add `f"{item_column}_length"` `[B]` int32.

    Raises:
        TypeError: `examples` is not `Examples`.
        ValueError: `global_batch_size` is not an integer in
            `1..len(examples)`, or `seed` is not an integer.

    Example:
    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()   # reads TF_CONFIG
    feed = ydnn.data.TrainingFeed(data.train, global_batch_size=1024, seed=0)
    with strategy.scope():
        model = ydnn.YoutubeDNNRetrievalModelV2(data.schema(), min_sampled_id=1)
        model.compile(optimizer="adam")
    model.fit(feed.dataset(strategy), epochs=5, steps_per_epoch=feed.steps_per_epoch,
              callbacks=[ydnn.BackupAndRestore("/shared/job-17/backup", save_freq=500), feed])
    ```
    """

    def __init__(
        self,
        examples: Examples,
        global_batch_size: int,
        seed: int = 0,
        item_column: str = ITEM_COLUMN,
        include_lengths: bool = False,
    ):
        super().__init__()
        if not isinstance(examples, Examples):
            raise TypeError(
                f"TrainingFeed takes ydnn.data.Examples (e.g. data.train), "
                f"got {type(examples).__name__}"
            )
        n = len(examples)
        if (
            isinstance(global_batch_size, bool)
            or not isinstance(global_batch_size, (int, np.integer))
            or not 1 <= global_batch_size <= n
        ):
            raise ValueError(
                f"global_batch_size must be an integer in 1..{n} (the examples' rows), "
                f"got {global_batch_size!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.examples = examples
        self.global_batch_size = int(global_batch_size)
        self.seed = int(seed) % (1 << 63)
        self.steps_per_epoch = n // self.global_batch_size
        self.item_column = item_column
        self.include_lengths = bool(include_lengths)
        self._start = 0  # the step the next iterator starts at (set by the callback)
        self._stop_at = None
        self._at, self._per_call = 0, 1  # the model's step, counted; steps per call
        self._replicas = None  # those of the strategy the last dataset was made for

    # -- the data --------------------------------------------------------------
    def dataset(self, strategy: tf.distribute.Strategy | None = None):
        """The batches from the feed's start step on, for `strategy`'s replicas.

        Args:
            strategy: the model's strategy; default the one in scope (or none).

        Returns:
            A `tf.data.Dataset` of `(features, target)` batches of `G` rows
            without a strategy of several replicas, else a
            `tf.distribute.DistributedDataset` whose replicas get `G / R`
            rows each (one input pipeline per worker).

        Raises:
            ValueError: `G` is not a multiple of the replica count.
        """
        strategy = strategy or tf.distribute.get_strategy()
        replicas = self._replicas = strategy.num_replicas_in_sync
        if self.global_batch_size % replicas:
            raise ValueError(
                f"global_batch_size {self.global_batch_size} must be a multiple of the "
                f"{replicas} replicas in sync (each replica trains on an equal share)"
            )
        if replicas == 1:
            return self._pipeline(0, 1, 1)

        def per_worker(context):
            local = replicas // context.num_input_pipelines
            return self._pipeline(context.input_pipeline_id, context.num_input_pipelines, local)

        return strategy.distribute_datasets_from_function(per_worker)

    def _pipeline(self, index, pipelines, local_replicas):
        """Pipeline `index` of `pipelines`: its share of each step, one batch per local replica."""
        n_rows, g = len(self.examples), self.global_batch_size
        steps, share = self.steps_per_epoch, g // pipelines
        piece = share // local_replicas
        columns = {self.item_column: self.examples.history}
        if self.include_lengths:
            columns[f"{self.item_column}_length"] = self.examples.lengths
        tensors = (
            {k: tf.constant(v) for k, v in columns.items()},
            tf.constant(self.examples.target),
        )

        def epoch_rows(epoch):
            perm = tf.random.experimental.stateless_shuffle(
                tf.range(n_rows, dtype=tf.int64), seed=tf.stack([self.seed, epoch])
            )
            rows = tf.reshape(perm[: steps * g], [steps, g])[:, index * share : (index + 1) * share]
            return tf.data.Dataset.from_tensor_slices(tf.reshape(rows, [-1, piece]))

        def from_start(_):
            # Read when an iterator starts, so a restored model's step counts.
            start = tf.numpy_function(lambda: np.int64(self._start), [], tf.int64, stateful=True)
            start = tf.reshape(start, [])
            first = start // steps
            epochs = tf.data.Dataset.range(first, first + _EPOCHS_AHEAD)
            return epochs.flat_map(epoch_rows).skip((start - first * steps) * local_replicas)

        ds = tf.data.Dataset.range(1).flat_map(from_start)
        ds = ds.map(
            lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        return ds.prefetch(tf.data.AUTOTUNE)

    # -- the callback -----------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._stop_at = None
        steps = self.params.get("steps")
        if steps != self.steps_per_epoch:
            raise ValueError(
                f"fit's steps_per_epoch ({steps}) must be the feed's "
                f"({self.steps_per_epoch}): pass steps_per_epoch=feed.steps_per_epoch"
            )
        replicas = self.model.distribute_strategy.num_replicas_in_sync
        if self._replicas is not None and self._replicas != replicas:
            raise ValueError(
                f"the feed's dataset was made for {self._replicas} replicas but the model "
                f"trains on {replicas}: make it with feed.dataset(strategy), strategy "
                f"being the model's"
            )
        per_call = self._per_call = int(getattr(self.model, "steps_per_execution", 1) or 1)
        if self.steps_per_epoch % per_call:
            # A call of several steps would run across an epoch's end, and
            # the job would stop past its last step.
            raise ValueError(
                f"the model's steps_per_execution ({per_call}) must divide the feed's "
                f"steps_per_epoch ({self.steps_per_epoch}): compile with a divisor of it"
            )

    def on_epoch_begin(self, epoch, logs=None):
        if self._stop_at is not None:
            return
        # The first epoch of this fit, after any restore (on_train_begin):
        # start at the model's step, and end at the job's last step.
        self._start = self._at = int(self.model.optimizer.iterations.numpy())
        epochs = self.params.get("epochs", epoch + 1)
        resumed = getattr(self.model, RESUMED_JOB_END, None)
        if resumed is not None:
            self._stop_at = resumed
            setattr(self.model, RESUMED_JOB_END, None)
        elif getattr(self.model, "_initial_epoch", None) is not None:
            # Keras's own callback restores the epoch, not the job's end:
            # epochs aligned with the feed's, as before a first break.
            done = self._start % self.steps_per_epoch
            self._stop_at = self._start - done + (epochs - epoch) * self.steps_per_epoch
        else:
            self._stop_at = self._start + (epochs - epoch) * self.steps_per_epoch
        setattr(self.model, JOB_END, self._stop_at)

    def on_train_batch_end(self, batch, logs=None):
        # Counted here, not read from the model: a read would wait for the
        # step to finish before Keras dispatches the next one.
        self._at += self._per_call
        if self._at >= self._stop_at:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._stop_at = None
        setattr(self.model, JOB_END, None)
