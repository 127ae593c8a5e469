"""`ydnn.data.TrainingFeed` and `ydnn.BackupAndRestore` in one process.

The feed's batch `s` is a pure function of `(seed, s)`; a job interrupted in
the middle of an epoch and rerun with its backup ends with the unbroken
job's state bit for bit (the same kernels on the same inputs in the same
order; tests/test_model_resume.py's RTOL = ATOL = 1e-6 would allow a
reordered float sum). Several workers: tests/test_model_multiworker.py.
"""

import json
import os
from collections import Counter

import keras
import numpy as np
import pytest
import tensorflow as tf

import ydnn
from tests.model_cases import small_data
from tests.test_model_resume import Interrupt, assert_same_state
from ydnn import atomic_dir
from ydnn.data import TrainingFeed

BATCH = 64


@pytest.fixture(scope="module")
def data():
    return small_data(users=120, items=160, interactions=1500)


def targets(feed, steps):
    return np.stack([y.numpy() for _, y in feed.dataset().take(steps)])


def test_each_epoch_is_a_permutation_keyed_by_seed_and_epoch(data):
    feed = TrainingFeed(data.train, BATCH, seed=3)
    n = feed.steps_per_epoch
    assert n == len(data.train) // BATCH
    rows = {0: [], 1: []}
    for step, (x, y) in enumerate(feed.dataset().take(2 * n)):
        history = x["item_id"].numpy()
        assert history.shape == (BATCH, data.train.max_history) and y.shape == (BATCH,)
        rows[step // n].append((history, y.numpy()))
    # Epoch 0 takes each training row at most once (a sub-multiset of the
    # rows), and epoch 1 takes them in another order.
    epoch0 = np.concatenate([np.column_stack([h, t]) for h, t in rows[0]])
    table = np.column_stack([data.train.history, data.train.target])
    assert not Counter(map(tuple, epoch0)) - Counter(map(tuple, table))
    assert not np.array_equal(targets(feed, n), np.stack([t for _, t in rows[1]]))
    again = TrainingFeed(data.train, BATCH, seed=3)
    np.testing.assert_array_equal(targets(again, 2 * n), targets(feed, 2 * n))
    other = TrainingFeed(data.train, BATCH, seed=4)
    assert not np.array_equal(targets(other, n), targets(feed, n))


def test_the_stream_starts_at_the_step_it_is_given(data):
    feed = TrainingFeed(data.train, BATCH, seed=3)
    n = feed.steps_per_epoch
    whole = targets(feed, 2 * n)
    feed._start = n + 2  # what the callback sets from the model's step
    np.testing.assert_array_equal(targets(feed, n - 2), whole[n + 2 :])


def make(seed=1):
    keras.utils.set_random_seed(seed)
    data = small_data(users=120, items=160, interactions=1500)
    model = ydnn.YoutubeDNNRetrievalModelV2(
        data.schema(embedding_dim=8),
        top_block=ydnn.MLPBlock([16, 8]),
        num_sampled=10,
        min_sampled_id=1,
    )
    model.compile(optimizer="adam")
    return model, TrainingFeed(data.train, BATCH, seed=2)


def fit(model, feed, epochs, callbacks=()):
    return model.fit(
        feed.dataset(),
        epochs=epochs,
        steps_per_epoch=feed.steps_per_epoch,
        callbacks=[*callbacks, feed],
        verbose=0,
    )


def test_a_job_interrupted_mid_epoch_resumes_at_the_next_step(tmp_path):
    straight, feed = make()
    fit(straight, feed, 3)
    n = feed.steps_per_epoch
    model, feed = make()
    backup = ydnn.BackupAndRestore(tmp_path / "b", save_freq=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, feed, 3, [backup, Interrupt(epoch=1, batch=4)])
    meta = json.loads((tmp_path / "b" / "state" / "training_metadata.json").read_text())
    assert meta == {"epoch": 1, "step": (n + 5) // 3 * 3, "job_end": 3 * n}
    resumed, feed = make()
    for w in resumed.trainable_weights:  # the backup, not the initialisation, counts
        w.assign(np.full(w.shape, 0.5, w.dtype))
    history = fit(resumed, feed, 3, [ydnn.BackupAndRestore(tmp_path / "b", save_freq=3)])
    assert len(history.history["loss"]) == 2  # epochs 1 and 2
    assert int(resumed.optimizer.iterations.numpy()) == 3 * n
    assert_same_state(resumed, straight)
    assert not (tmp_path / "b" / "state").exists()


class InterruptAtStep(keras.callbacks.Callback):
    """Raises once the model reaches step `at`, as a preempted job would stop."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.at:
            raise RuntimeError("interrupted")


def test_a_job_broken_twice_mid_epoch_ends_where_the_unbroken_one_does(tmp_path):
    # Backups every 5 steps. The first break (step 8) resumes at step 5, so
    # Keras's epochs then begin 5 steps after the feed's; the second break
    # comes after the backup at m, the first multiple of 5 from n on, which
    # is past the feed's epoch 0 but inside Keras's: restored, the job must
    # still end at step 3 n (the epochs Keras counts would end it at 4 n - 1).
    straight, feed = make()
    fit(straight, feed, 3)
    n = feed.steps_per_epoch
    m = -(-n // 5) * 5
    for stop in (8, m + 2, None):
        model, feed = make()
        backup = ydnn.BackupAndRestore(tmp_path / "b", save_freq=5)
        if stop is None:
            fit(model, feed, 3, [backup])
        else:
            with pytest.raises(RuntimeError, match="interrupted"):
                fit(model, feed, 3, [backup, InterruptAtStep(stop)])
    assert int(model.optimizer.iterations.numpy()) == 3 * n
    assert_same_state(model, straight)


def test_fit_after_a_resumed_fit_trains_its_own_epochs(tmp_path):
    model, feed = make()
    backup = ydnn.BackupAndRestore(tmp_path / "b", save_freq=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, feed, 2, [backup, InterruptAtStep(7)])
    model, feed = make()
    fit(model, feed, 2, [backup])
    n = feed.steps_per_epoch
    assert int(model.optimizer.iterations.numpy()) == 2 * n
    fit(model, feed, 1, [backup])  # no backup left: one epoch more, from epoch 0
    assert int(model.optimizer.iterations.numpy()) == 3 * n


def test_a_backup_moved_aside_by_a_killed_save_is_restored(tmp_path):
    model, feed = make()
    fit(model, feed, 1, [ydnn.BackupAndRestore(tmp_path / "b", delete_checkpoint=False)])
    state = tmp_path / "b" / "state"
    (tmp_path / "b" / ".state.tmp-1-abc").mkdir()  # a killed save's copy
    state.rename(tmp_path / "b" / ".state.old-abc")  # no atomic exchange, killed between
    resumed, feed = make()
    history = fit(resumed, feed, 2, [ydnn.BackupAndRestore(tmp_path / "b")])
    assert len(history.history["loss"]) == 1  # epoch 1 only: epoch 0 was restored
    assert os.listdir(tmp_path / "b") == []


def test_keras_backup_and_restore_resumes_mid_epoch_with_the_feed(tmp_path):
    # Keras's own callback (one process): it restores the weights, with the
    # optimizer's step, and the epoch; the feed goes on from that step.
    straight, feed = make()
    fit(straight, feed, 2)
    model, feed = make()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "k"), save_freq=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, feed, 2, [backup, Interrupt(epoch=1, batch=4)])
    resumed, feed = make()
    fit(resumed, feed, 2, [keras.callbacks.BackupAndRestore(str(tmp_path / "k"), save_freq=3)])
    assert_same_state(resumed, straight)


def test_fit_called_again_goes_on_with_the_stream():
    straight, feed = make()
    fit(straight, feed, 3)
    model, feed = make()
    fit(model, feed, 1)
    fit(model, feed, 2)  # two more epochs, from step n of the same stream
    assert int(model.optimizer.iterations.numpy()) == 3 * feed.steps_per_epoch
    assert_same_state(model, straight)


def test_lengths_come_with_the_rows(data):
    feed = TrainingFeed(data.train, BATCH, seed=3, include_lengths=True)
    x, _ = next(iter(feed.dataset()))
    history, lengths = x["item_id"].numpy(), x["item_id_length"].numpy()
    np.testing.assert_array_equal(lengths, (history > 0).sum(axis=1))


def test_a_kill_while_backing_up_leaves_the_previous_backup(tmp_path, monkeypatch):
    model, feed = make()
    backup = ydnn.BackupAndRestore(tmp_path / "b", save_freq="epoch", delete_checkpoint=False)
    fit(model, feed, 1, [backup])
    state = tmp_path / "b" / "state"
    before = {p.name: p.read_bytes() for p in state.iterdir()}

    def die(point):
        if point == "before-rename":
            raise KeyboardInterrupt  # as a kill there would stop it

    monkeypatch.setattr(atomic_dir, "fault_hook", die)
    with pytest.raises(KeyboardInterrupt):
        fit(model, feed, 2, [backup])
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["state"]


def test_a_backup_whose_parts_disagree_is_refused(tmp_path):
    model, feed = make()
    fit(model, feed, 1, [ydnn.BackupAndRestore(tmp_path / "b", delete_checkpoint=False)])
    meta = tmp_path / "b" / "state" / "training_metadata.json"
    meta.write_text(json.dumps({"epoch": 1, "step": 5}))
    with pytest.raises(ValueError, match="weights are at step .* metadata at step 5"):
        fit(model, feed, 2, [ydnn.BackupAndRestore(tmp_path / "b")])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"global_batch_size": 0}, "global_batch_size must be an integer in 1.."),
        ({"global_batch_size": 10**6}, "global_batch_size must be an integer in 1.."),
        ({"global_batch_size": 8.0}, "global_batch_size must be an integer"),
        ({"global_batch_size": 8, "seed": "a"}, "seed must be an integer, got 'a'"),
    ],
)
def test_bad_feed_arguments_are_named(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainingFeed(data.train, **kwargs)


def test_feed_takes_examples_only(data):
    with pytest.raises(TypeError, match="TrainingFeed takes ydnn.data.Examples"):
        TrainingFeed(data, 8)


def test_a_batch_the_replicas_cannot_share_is_named(data):
    class Three:
        num_replicas_in_sync = 3

    with pytest.raises(ValueError, match="global_batch_size 64 must be a multiple of the 3"):
        TrainingFeed(data.train, 64).dataset(Three())


def test_steps_per_execution_must_divide_an_epoch():
    model, feed = make()
    n = feed.steps_per_epoch
    bad = next(k for k in range(2, n) if n % k)
    for per_call in (bad, n + 1):
        model.compile(optimizer="adam", steps_per_execution=per_call)
        with pytest.raises(ValueError, match=rf"steps_per_execution \({per_call}\) must divide"):
            fit(model, feed, 1)
    good = max(k for k in range(1, n) if n % k == 0)
    model.compile(optimizer="adam", steps_per_execution=good)
    fit(model, feed, 1)
    assert int(model.optimizer.iterations.numpy()) == n


@pytest.mark.parametrize("steps", [None, 3])
def test_fit_must_take_the_feeds_epoch(steps):
    model, feed = make()
    with pytest.raises(ValueError, match=rf"fit's steps_per_epoch \({steps}\) must be the feed's"):
        model.fit(
            feed.dataset().take(5 * feed.steps_per_epoch),
            epochs=1,
            steps_per_epoch=steps,
            callbacks=[feed],
            verbose=0,
        )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"backup_dir": ""}, "backup_dir must be a non-empty path"),
        ({"backup_dir": "b", "save_freq": 0}, "save_freq must be 'epoch' or an integer >= 1"),
        ({"backup_dir": "b", "save_freq": "step"}, "save_freq must be 'epoch' or an integer"),
        ({"backup_dir": "gs://bucket/b"}, "backup_dir must be a path of a file system"),
    ],
)
def test_bad_backup_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ydnn.BackupAndRestore(**kwargs)


def test_the_feed_runs_inside_tf_function_graphs(data):
    feed = TrainingFeed(data.train, BATCH, seed=0)

    @tf.function
    def total(ds):
        s = tf.constant(0, tf.int64)
        for _, y in ds:
            s += tf.reduce_sum(tf.cast(y, tf.int64))
        return s

    n = feed.steps_per_epoch
    want = targets(feed, n).astype(np.int64).sum()
    assert int(total(feed.dataset().take(n))) == want
