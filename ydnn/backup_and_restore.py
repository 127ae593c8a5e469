"""`BackupAndRestore`: Keras's preemption callback, safe on several workers and mid-epoch."""

import json
import os
import shutil

import keras

from ydnn.atomic_dir import write_directory

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
      with the epoch of another.
    * **One writer.** Under `MultiWorkerMirroredStrategy` only the chief
      (worker 0) writes; every worker restores from the same `backup_dir`,
      which must therefore be storage all workers see (a shared file
      system, as for the model directory). Keras's callback has every worker
      write the same file.
    * **Mid-epoch.** With `save_freq` steps, a restored job restarts in the
      epoch it was in; a `ydnn.data.TrainingFeed` in the callbacks then goes
      on from the step after the backup, not from the epoch's start (the
      steps in between are replayed from the same batches either way).

    When `fit` ends normally the backup is deleted (`delete_checkpoint`),
    so the next `fit` starts afresh, as with Keras's.

    Args:
        backup_dir: where the backup lives (created if missing).
        save_freq: `"epoch"`, or a step count (an integer >= 1).
        delete_checkpoint: delete the backup when training ends normally.

    Raises:
        ValueError: empty `backup_dir`, or a bad `save_freq`.

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
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(f"save_freq must be 'epoch' or an integer >= 1, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self._state = os.path.join(self.backup_dir, STATE_DIR)
        self._epoch = 0
        self._saved_step = 0

    # -- who writes ---------------------------------------------------------------
    def _is_writer(self):
        return self.model.distribute_strategy.extended.should_checkpoint

    # -- restore --------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._restore()
        self._saved_step = self._step()

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def _restore(self):
        if not os.path.isdir(self._state):
            return
        with open(os.path.join(self._state, METADATA_FILE)) as f:
            meta = json.load(f)
        self.model.load_weights(os.path.join(self._state, WEIGHTS_FILE))
        got = self._step()
        if got != meta["step"]:
            raise ValueError(
                f"backup in {self.backup_dir!r} is inconsistent: its weights are at step {got}, "
                f"its metadata at step {meta['step']}"
            )
        self.model._initial_epoch = meta["epoch"]  # read by fit after on_train_begin

    # -- back up -----------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # Counted in the model's steps: with steps_per_execution > 1 this
        # runs once per execution.
        if self._step() - self._saved_step >= self.save_freq:
            self._save(self._epoch)  # mid-epoch: a restore restarts this epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1)

    def _save(self, epoch):
        step = self._saved_step = self._step()
        if not self._is_writer():
            return

        def write(tmp):
            self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
            with open(os.path.join(tmp, METADATA_FILE), "w") as f:
                json.dump({"epoch": int(epoch), "step": step}, f)

        write_directory(
            self._state, write, True, {WEIGHTS_FILE, METADATA_FILE}, "a training backup"
        )

    def on_train_end(self, logs=None):
        # fit calls this only when training ended normally, not on an error.
        if self.delete_checkpoint and self._is_writer():
            shutil.rmtree(self._state, ignore_errors=True)
