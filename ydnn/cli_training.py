"""What `ydnn train` trains with besides the model: its callbacks (divergence,
the clock, early stopping), the learning rate and the steps per call."""

import time

import keras
import numpy as np

from ydnn.cli import UsageError


class Diverged(UsageError):
    """Training produced a non-finite loss: the settings' to change, as it says."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` with `Diverged` once the reported loss is NaN or infinite.

    The fused loss op refuses a non-finite row itself; this catches the
    stock ops, which would otherwise train on to a NaN model.
    """

    def __init__(self, message):
        super().__init__()
        self.message = message
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise Diverged(self.message(self.epoch, str(float(loss))))


def diverged_message(args):
    def message(epoch, loss):
        return (
            f"training diverged: the loss became {loss} in epoch {epoch} at "
            f"--learning-rate {args.learning_rate:g}; lower --learning-rate (e.g. "
            f"{args.learning_rate / 10:g}) or raise --logits-temperature; nothing was "
            f"written to {args.out!r}"
        )

    return message


class EpochClock(keras.callbacks.Callback):
    """Wall time and the model's step at each epoch end: the throughput, over
    the epochs after the first too (the steps count: after a restored backup
    an epoch may hold fewer)."""

    def on_train_begin(self, logs=None):
        self.start, self.first_step = time.perf_counter(), self._step()
        self.ends, self.steps = [], []

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())
        self.steps.append(self._step())

    def throughput(self, setup, validation):
        """The `throughput` of `ydnn train`'s report (`setup`: a `TrainingSetup`)."""
        epochs = len(self.ends)
        out = {"replicas": setup.replicas, "epochs": epochs}
        if not epochs:  # a restored backup had every epoch done
            return dict(
                out,
                examples_per_second=0.0,
                examples_per_second_all_epochs=0.0,
                train_seconds=0.0,
                measured_over="no epoch left to train",
            )
        rows = setup.rows_per_step
        # The validation after epoch e runs inside the interval to epoch e + 1.
        checks = validation.seconds[:-1] if validation else []
        total_s = self.ends[-1] - self.start - sum(checks)
        out["train_seconds"] = total_s
        out["examples_per_second_all_epochs"] = (self.steps[-1] - self.first_step) * rows / total_s
        if epochs > 1:
            # Epoch 1 includes tracing and the first pass of the input pipeline.
            steady = self.ends[-1] - self.ends[0] - sum(checks)
            out["examples_per_second"] = (self.steps[-1] - self.steps[0]) * rows / steady
            out["measured_over"] = f"epochs 2-{epochs} (epoch 1 has the tracing)"
        else:
            out["examples_per_second"] = out["examples_per_second_all_epochs"]
            out["measured_over"] = "epoch 1 (includes tracing)"
        return out


def learning_rate(args, rows, global_batch):
    """Adam's learning rate: constant, or a cosine decay to 0 over all `--epochs`.

    The rate is the one given whatever the replica count: Adam's step does
    not grow with the batch as SGD's does (no linear scaling rule).

    With early stopping the decay still spans `--epochs` (the most the run
    may train), so stopping early leaves the rate where it was.
    """
    if args.lr_schedule == "constant":
        return args.learning_rate
    steps = args.epochs * -(-rows // global_batch)
    return keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=steps)


def execution_steps(requested, fit_kwargs, replicas):
    """Training steps per tf.function call, said when it is not `requested`.

    Args:
        requested: `--steps-per-execution`.
        fit_kwargs: `fit`'s extra arguments (`steps_per_epoch` under a feed).
        replicas: replicas in sync.

    Returns:
        `requested`; 1 under several replicas (Keras's loop of several steps
        fails there); under a `TrainingFeed` the largest divisor of its
        `steps_per_epoch` not above `requested` (a call must not run across
        an epoch's end).
    """
    steps = fit_kwargs.get("steps_per_epoch")
    if replicas > 1:
        chosen, why = 1, f"{replicas} replicas"
    elif steps is None:
        return requested
    else:
        chosen = max(d for d in range(1, min(requested, steps) + 1) if steps % d == 0)
        why = f"the largest divisor of the {steps} steps an epoch"
    if chosen != requested:
        print(f"steps per execution: {chosen}, not {requested} ({why})", flush=True)
    return chosen


class ValidationStopping(keras.callbacks.Callback):
    """Early stopping on the held-out validation items' Recall@k (all items).

    After each epoch the model ranks the full catalog for the validation
    rows; the best epoch's weights are kept (a copy in host memory) and put
    back by `restore`; training stops once `patience` epochs have passed
    without a better Recall@k. `seconds` holds each check's time, so the
    reported throughput leaves it out.
    """

    def __init__(self, rows, k, patience, verbose):
        super().__init__()
        self.rows, self.k, self.patience, self.verbose = rows, k, patience, verbose
        self.best, self.best_epoch, self.best_weights = -1.0, 0, None
        self.seconds = []

    def on_epoch_end(self, epoch, logs=None):
        from ydnn.cli_protocol import validation_recall

        start = time.perf_counter()
        recall = validation_recall(self.model, self.rows, self.k)
        if recall > self.best:
            self.best, self.best_epoch = recall, epoch + 1
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
        elif epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True
        if logs is not None:
            logs[f"val_recall_at_{self.k}"] = recall
        if self.verbose:
            print(
                f"epoch {epoch + 1}: validation recall_at_{self.k} {recall:.4f} (best "
                f"{self.best:.4f}, epoch {self.best_epoch})",
                flush=True,
            )
        self.seconds.append(time.perf_counter() - start)

    def restore(self):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
