"""Training resumed from a save continues exactly as training without the break.

Train N steps, save, load, train M more; compare with N + M steps in one
go: tables, dense weights, optimizer slots and step, and the sampler's
position. Both runs execute the same kernels on the same inputs in the same
order on one device, so they agree bit for bit here; the written tolerance,
RTOL = ATOL = 1e-6, leaves room only for a reordered float reduction (a
restart of Adam's moments or of the sampler's stream moves weights by
1e-3 and more: `test_a_restarted_sampler_would_be_caught`).
"""

import keras
import numpy as np
import pytest

import ydnn
from tests.model_cases import features, history_schema
from ydnn import MLPBlock, YoutubeDNNRetrievalModelV2

RTOL = ATOL = 1e-6
BATCH, ROWS = 16, 64  # 4 steps an epoch

# (ops, optimizer): the fused path with each sparse optimizer. The stock
# path (TF's sampler cannot be placed in its stream) resumes its weights and
# optimizer exactly but draws a fresh stream: test_stock_resumes_all_but_...
SETUPS = [("fused", "adam"), ("fused", "sgd"), ("fused", "adagrad"), ("fused", "rowwise_adagrad")]


def data():
    rng = np.random.default_rng(7)
    return features(rng, batch=ROWS), rng.integers(1, 51, ROWS).astype(np.int32)


def make(ops="fused", optimizer="adam", seed=1, **compile_kw):
    keras.utils.set_random_seed(seed)
    model = YoutubeDNNRetrievalModelV2(
        history_schema(),
        top_block=MLPBlock([16, 8], no_activation_last_layer=True),
        num_sampled=10,
        min_sampled_id=1,
        ops=ops,
    )
    if optimizer == "sgd":
        optimizer = keras.optimizers.SGD(0.1)  # mapped to SparseSGD on the fused path
    model.compile(optimizer=optimizer, **compile_kw)
    return model


def fit(model, epochs, initial_epoch=0, callbacks=None):
    x, y = data()
    return model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        callbacks=callbacks,
        verbose=0,
    )


def assert_same_state(got, want):
    """Every model weight (sampler position included) and optimizer variable."""
    assert len(got.weights) == len(want.weights)
    for a, b in zip(got.weights, want.weights):
        assert (a.name, a.shape) == (b.name, b.shape)  # paths differ: layer names count up
        np.testing.assert_allclose(
            np.asarray(a.numpy(), np.float64), b.numpy(), rtol=RTOL, atol=ATOL, err_msg=a.path
        )
    assert len(got.optimizer.variables) == len(want.optimizer.variables)
    for a, b in zip(got.optimizer.variables, want.optimizer.variables):
        np.testing.assert_allclose(
            np.asarray(a.numpy(), np.float64), b.numpy(), rtol=RTOL, atol=ATOL, err_msg=a.path
        )


@pytest.mark.parametrize("ops,optimizer", SETUPS)
def test_save_load_and_train_on_equals_training_in_one_go(tmp_path, ops, optimizer):
    straight = make(ops, optimizer)
    fit(straight, 3)
    first = make(ops, optimizer)
    fit(first, 1)
    path = str(tmp_path / "m.keras")
    first.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is type(first.optimizer)
    assert int(loaded.optimizer.iterations.numpy()) == 4
    assert int(loaded.sampler_calls.numpy()) == 4
    fit(loaded, 3, initial_epoch=1)
    assert int(loaded.sampler_calls.numpy()) == 12
    assert_same_state(loaded, straight)


def test_a_restarted_sampler_would_be_caught(tmp_path, monkeypatch):
    # The resume test's tolerance is meaningful: the same resume with the
    # sampler unplaced (the op's own stream, restarting at draw 0) fails it.
    straight = make()
    fit(straight, 2)
    first = make()
    fit(first, 1)
    first.save(str(tmp_path / "m.keras"))
    sample = YoutubeDNNRetrievalModelV2.sample_negatives
    monkeypatch.setattr(
        YoutubeDNNRetrievalModelV2,
        "sample_negatives",
        lambda self, targets, first_draw=None: sample(self, targets),
    )
    loaded = keras.models.load_model(str(tmp_path / "m.keras"))
    fit(loaded, 2, initial_epoch=1)
    with pytest.raises(AssertionError):
        assert_same_state(loaded, straight)


def test_stock_resumes_all_but_the_sampler_stream(tmp_path):
    """Stock TF's sampler keeps its place in its kernel: a loaded stock model
    has its weights, Adam's slots and step back and trains on, with negatives
    from a fresh stream (seeded by the position, so not the first run's)."""
    first = make("stock")
    fit(first, 1)
    path = str(tmp_path / "m.keras")
    first.save(path)
    loaded = keras.models.load_model(path)
    assert_same_state(loaded, first)
    assert int(loaded.optimizer.iterations.numpy()) == 4
    history = fit(loaded, 3, initial_epoch=1)
    assert int(loaded.sampler_calls.numpy()) == 12
    assert np.all(np.isfinite(history.history["loss"]))


def test_resuming_costs_no_replay(tmp_path):
    """The position is an input of the sampler, not a count to replay: a
    model loaded at step 10^9 takes its next step as fast as a fresh one
    and draws the window of step 10^9."""
    import time

    import ydnn_kernels

    model = make()
    fit(model, 1)
    model.sampler_calls.assign(10**9)
    start = time.perf_counter()
    fit(model, 2, initial_epoch=1)
    assert time.perf_counter() - start < 60
    assert int(model.sampler_calls.numpy()) == 10**9 + 4
    # Step t's ids are the sampler's draws from t * 2^32 on.
    x, y = data()
    ids, _, _ = ydnn_kernels.log_uniform_sample(
        10,
        max_id=model.max_id,
        min_id=1,
        true_ids=y[:BATCH],
        seed=model.sampler_seed,
        first_draw=(10**9 + 4) * 2**32,
    )
    got, _, _ = model.sample_negatives(y[:BATCH], first_draw=(10**9 + 4) * 2**32)
    np.testing.assert_array_equal(got.numpy(), ids.numpy())


def test_loaded_model_keeps_its_compile_settings(tmp_path):
    model = make(
        optimizer=ydnn.optimizers.LazyAdam(2e-3, beta_1=0.8),
        top_k=5,
        exclude_seen=True,
        steps_per_execution=2,
        metrics=[ydnn.metrics.RecallAtK(5), ydnn.metrics.NDCGAtK(3)],
    )
    fit(model, 1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    opt = loaded.optimizer
    assert type(opt) is ydnn.optimizers.LazyAdam and opt.beta_1 == 0.8
    assert float(opt.learning_rate.numpy()) == pytest.approx(2e-3)
    assert (loaded.top_k, loaded.exclude_seen, loaded.steps_per_execution) == (5, True, 2)
    assert [m.name for m in loaded.top_k_metrics] == ["recall_at_5", "ndcg_at_3"]
    x, y = data()
    res = loaded.evaluate(x, y, batch_size=BATCH, return_dict=True, verbose=0)
    assert set(res) == {"loss", "recall_at_5", "ndcg_at_3"}
    # Loading without compiling gives a model that predicts (the CLI's way).
    bare = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(
        bare.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("ops", ["fused"])
def test_load_weights_rewinds_and_training_continues_from_there(tmp_path, ops):
    straight = make(ops)
    fit(straight, 3)
    model = make(ops)
    fit(model, 1)
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    fit(model, 1)  # the sampler kernel moves on past the saved position
    model.load_weights(path)
    fit(model, 3, initial_epoch=1)
    assert_same_state(model, straight)
    assert int(model.sampler_calls.numpy()) == 12


class Interrupt(keras.callbacks.Callback):
    """Raises in the middle of epoch `epoch`, as a preempted job would stop."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("ops,optimizer", [("fused", "adam"), ("fused", "rowwise_adagrad")])
def test_backup_and_restore_after_an_interruption_equals_an_unbroken_fit(tmp_path, ops, optimizer):
    straight = make(ops, optimizer)
    fit(straight, 3)
    model = make(ops, optimizer)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, 3, callbacks=[backup, Interrupt(epoch=1, batch=1)])
    # The weights went on past the epoch-0 backup; the rerun restores it.
    history = fit(model, 3, callbacks=[backup])
    assert len(history.history["loss"]) == 2  # epochs 1 and 2 only
    assert_same_state(model, straight)


@pytest.mark.parametrize("weights_only", [False, True])
def test_model_checkpoint_restarts_training_where_it_was(tmp_path, weights_only):
    straight = make()
    fit(straight, 3)
    model = make()
    name = "ckpt-{epoch}" + (".weights.h5" if weights_only else ".keras")
    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / name), save_weights_only=weights_only)
    fit(model, 2, callbacks=[ckpt])
    saved = str(tmp_path / name.format(epoch=1))
    if weights_only:
        resumed = make()  # same config, fresh process state
        resumed.load_weights(saved)
    else:
        resumed = keras.models.load_model(saved)
    assert int(resumed.optimizer.iterations.numpy()) == 4
    fit(resumed, 3, initial_epoch=1)
    assert_same_state(resumed, straight)


def test_steps_per_execution_resume(tmp_path):
    # Each step of Keras's multi-step loop draws its own window.
    straight = make(steps_per_execution=2)
    fit(straight, 2)
    first = make(steps_per_execution=2)
    fit(first, 1)
    first.save(str(tmp_path / "m.keras"))
    loaded = keras.models.load_model(str(tmp_path / "m.keras"))
    fit(loaded, 2, initial_epoch=1)
    assert_same_state(loaded, straight)


def test_recompiling_continues_the_sampler_stream():
    # A recompile traces a new step with a new sampler kernel: the position
    # it is given, not the kernel's own count, says where it draws.
    straight = make()
    fit(straight, 2)
    model = make()
    fit(model, 1)
    model.compile(optimizer=model.optimizer)
    fit(model, 2, initial_epoch=1)
    assert_same_state(model, straight)


def test_a_file_without_the_sampler_position_still_loads(rng):
    # `.keras` files written before the position was saved hold only the
    # output table among the model's own variables: they load, the stream
    # restarting at draw 0.
    model = YoutubeDNNRetrievalModelV2(
        history_schema(), top_block=MLPBlock([8]), num_sampled=5, separate_output_table=True
    )
    table = rng.standard_normal(model.output_table.shape).astype(np.float32)
    model.sampler_calls.assign(3)
    model.load_own_variables({"0": table})
    np.testing.assert_array_equal(model.output_table.numpy(), table)
    assert int(model.sampler_calls.numpy()) == 0
