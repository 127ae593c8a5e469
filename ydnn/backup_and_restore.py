"""`BackupAndRestore`: Keras's preemption callback, safe on several workers and mid-epoch."""

import glob
import json
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from ydnn._workers import worker_count
from ydnn.atomic_dir import write_directory
from ydnn.data.training_feed import JOB_END, RESUMED_JOB_END

# One backup: the weights (model, optimizer slots and step, sampler position)
# and where training was, written together as one directory.
STATE_DIR = "state"
WEIGHTS_FILE = "backup.weights.h5"
METADATA_FILE = "training_metadata.json"


class BackupAndRestore(keras.callbacks.Callback):
    """Backs training up every epoch or `save_freq` steps; a rerun restores it.

    What `keras.callbacks.BackupAndRestore` does, for jobs that lose
    workers:

    * **Whole or not at all.** A backup is one directory (`state/`: the
      weights file, with the optimizer's slots and step and the negative
      sampler's position, and the epoch) renamed into place, so a kill
      during a write leaves the previous backup, never weights of one step
      with the epoch of another. Where the file system cannot swap
      directories atomically, a backup moved aside by a killed save is
      restored from; copies a killed save left are removed.
    * **One writer.** Under `MultiWorkerMirroredStrategy` only the chief
      (worker 0) writes; every worker restores from the same `backup_dir`,
      which must therefore be storage all workers see (a shared file
      system, as for the model directory). Keras's callback has every worker
      write the same file. After a restore the workers check, with one
      collective, that they restored the same step.
    * **Mid-epoch.** With `save_freq` steps, a restored job restarts in the
      epoch it was in; a `ydnn.data.TrainingFeed` in the callbacks then goes
      on from the step after the backup and ends the job at the unbroken
      job's last step, after any number of breaks (the backup keeps that
      step). Any other dataset starts that epoch's data anew.

    When `fit` ends normally the backup is deleted (`delete_checkpoint`),
    so the next `fit` starts afresh, as with Keras's.

    Args:
        backup_dir: where the backup lives (created if missing).
        save_freq: `"epoch"`, or a step count (an integer >= 1).
        delete_checkpoint: delete the backup when training ends normally.

    Raises:
        ValueError: an empty `backup_dir` or a URL, or a bad `save_freq`; when
            training starts, a backup whose weights and metadata disagree, or
            workers that restored different steps.

    Example:
    ```python
    backup = ydnn.BackupAndRestore("/shared/job-17/backup", save_freq=500)
    feed = ydnn.data.TrainingFeed(data.train, global_batch_size=1024, seed=0)
    model.fit(feed.dataset(strategy), epochs=10, steps_per_epoch=feed.steps_per_epoch,
              callbacks=[backup, feed])   # rerun the same line after a preemption
    ```
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: str | int = "epoch",
        delete_checkpoint: bool = True,
    ):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ValueError(f"backup_dir must be a non-empty path, got {backup_dir!r}")
        if "://" in os.fspath(backup_dir):
            raise ValueError(
                f"backup_dir must be a path of a file system (a shared one on several "
                f"machines), not a URL: got {os.fspath(backup_dir)!r}"
            )
        if save_freq != "epoch" and (
            isinstance(save_freq, bool)
            or not isinstance(save_freq, (int, np.integer))
            or save_freq < 1
        ):
            raise ValueError(f"save_freq must be 'epoch' or an integer >= 1, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._state = os.path.join(self.backup_dir, STATE_DIR)
        self._epoch = 0
        self._saved_step = self._at = 0  # the model's step at the last save; counted
        self._per_call = 1

    # -- who writes ---------------------------------------------------------------
    def _is_writer(self):
        return self.model.distribute_strategy.extended.should_checkpoint

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    # -- restore --------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        # Keras keeps a restored epoch on the model for every later fit.
        self.model._initial_epoch = None
        if self._is_writer():
            _remove_leftovers(self.backup_dir)
        self._restore()
        self._saved_step = self._at = self._step()
        self._per_call = int(getattr(self.model, "steps_per_execution", 1) or 1)
        _check_same_step(self.model, self._saved_step, self.backup_dir)

    def _restore(self):
        state = self._state if os.path.isdir(self._state) else _moved_aside(self.backup_dir)
        if state is None:
            return
        with open(os.path.join(state, METADATA_FILE)) as f:
            meta = json.load(f)
        self.model.load_weights(os.path.join(state, WEIGHTS_FILE))
        got = self._step()
        if got != meta["step"]:
            raise ValueError(
                f"backup in {self.backup_dir!r} is inconsistent: its weights are at step {got}, "
                f"its metadata at step {meta['step']}"
            )
        self.model._initial_epoch = meta["epoch"]  # read by fit after on_train_begin
        setattr(self.model, RESUMED_JOB_END, meta.get("job_end"))

    # -- back up -----------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # Steps counted here (this runs once per call of steps_per_execution
        # steps), not read from the model: a read would wait for the step
        # to finish before Keras dispatches the next one.
        self._at += self._per_call
        if self._at - self._saved_step >= self.save_freq:
            self._save(self._epoch)  # mid-epoch: a restore restarts this epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1)

    def _save(self, epoch):
        step = self._saved_step = self._at = self._step()
        if not self._is_writer():
            return
        # A TrainingFeed's end of the job, so a restored one ends there too.
        meta = {"epoch": int(epoch), "step": step, "job_end": getattr(self.model, JOB_END, None)}

        def write(tmp):
            self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
            with open(os.path.join(tmp, METADATA_FILE), "w") as f:
                json.dump(meta, f)

        write_directory(
            self._state, write, True, {WEIGHTS_FILE, METADATA_FILE}, "a training backup"
        )

    def on_train_end(self, logs=None):
        # fit calls this only when training ended normally, not on an error.
        if self.delete_checkpoint and self._is_writer():
            self.delete()

    def delete(self):
        """Removes the backup (what a finished job does; `ydnn train` calls it
        once the model directory is written)."""
        shutil.rmtree(self._state, ignore_errors=True)
        _remove_leftovers(self.backup_dir, moved_aside_too=True)


def _moved_aside(backup_dir):
    """The newest `.state.old-*`: where a save without an atomic exchange (some
    network file systems) moved the backup before a kill stopped it."""
    old = glob.glob(os.path.join(glob.escape(backup_dir), f".{STATE_DIR}.old-*"))
    return max(old, key=os.path.getmtime) if old else None


def _remove_leftovers(backup_dir, moved_aside_too=False):
    """Temporary copies a killed save left (each as large as a backup); a
    copy moved aside only once `state/` is whole again (or the job is done)."""
    patterns = [f".{STATE_DIR}.tmp-*"]
    if moved_aside_too or os.path.isdir(os.path.join(backup_dir, STATE_DIR)):
        patterns.append(f".{STATE_DIR}.old-*")
    for pattern in patterns:
        for path in glob.glob(os.path.join(glob.escape(backup_dir), pattern)):
            shutil.rmtree(path, ignore_errors=True)


def _check_same_step(model, step, backup_dir):
    """Under several workers, every worker must have restored the same step
    (a backup directory some worker does not share would split them)."""
    strategy = model.distribute_strategy
    if worker_count(strategy) == 1:
        return
    steps = strategy.gather(strategy.run(lambda: tf.constant([step], tf.int64)), axis=0)
    steps = sorted({int(v) for v in steps.numpy()})
    if len(steps) > 1:
        raise ValueError(
            f"the workers restored different steps from {backup_dir!r} ({steps}; this "
            f"worker: {step}): backup_dir must be storage every worker sees"
        )
