"""YoutubeDNNRetrievalModelV2(table_dtype=...): 16-bit embedding tables.

The tables are stored in bfloat16 / float16, read in place by the kernels
(and cast by the stock path), trained by the ydnn optimizers with float32
slots and stochastic rounding; save/load, export and the CLI keep the
dtype. Tolerances: a 16-bit table holds 8 (bfloat16) or 11 (float16)
significant bits, so one rounding moves a weight by at most one unit in the
last place (ulp = |w| 2^-7 / 2^-10); training from equal starting weights
adds at most one ulp per step plus what the rounded weights change in the
gradients.
"""

import keras
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

import ydnn
import ydnn_kernels
from tests.model_cases import features, history_schema, small_data
from ydnn import MLPBlock, YoutubeDNNRetrievalModelV2
from ydnn.trained_model import TrainedModel

HALF = ["bfloat16", "float16"]
NP = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float32": np.float32}
REL_ULP = {"bfloat16": 2.0**-7, "float16": 2.0**-10}
DRIFT = {"bfloat16": 0.25, "float16": 0.05}


def model(table_dtype, schema=None, **kw):
    kw.setdefault("top_block", MLPBlock([16, 8], no_activation_last_layer=True))
    kw.setdefault("num_sampled", 10)
    kw.setdefault("min_sampled_id", 1)
    kw.setdefault("sampler_seed", 3)
    return YoutubeDNNRetrievalModelV2(schema or history_schema(), table_dtype=table_dtype, **kw)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("ops", ["fused", "stock"])
def test_tables_are_stored_half_and_the_query_is_float32(rng, dtype, ops):
    m = model(dtype, ops=ops, separate_output_table=True)
    q = m(features(rng))
    assert q.dtype == tf.float32
    tables = [m.input_block.table(n) for n in m.input_block.tables] + [m.item_table]
    assert len(tables) == 3 and all(t.dtype == dtype for t in tables)
    assert all(w.dtype == "float32" for w in m.top_block.weights)


@pytest.mark.parametrize("dtype", HALF)
def test_fused_and_stock_agree_on_half_tables(rng, dtype):
    fused, stock = model(dtype, ops="fused"), model(dtype, ops="stock")
    f = features(rng)
    fused(f), stock(f)
    for a, b in zip(fused.weights, stock.weights):
        b.assign(a)
    y = tf.constant(rng.integers(1, 51, 6), tf.int32)
    samples = fused.sample_negatives(y)
    np.testing.assert_allclose(fused(f), stock(f), rtol=1e-5, atol=1e-6)
    lf = fused.sampled_loss(fused(f), y, samples).numpy()
    ls = stock.sampled_loss(stock(f), y, samples).numpy()
    np.testing.assert_allclose(lf, ls, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("optimizer", ["adam", "rowwise_adagrad", "sgd"])
def test_a_few_steps_track_float32_training(rng, dtype, optimizer):
    # Equal starting weights (the float32 tables hold the 16-bit values),
    # the same batches and negatives. After 6 steps: every step's loss
    # within 1% of float32 training's; no table element further from
    # float32's than one ulp of the largest weight per step (measured: 1.5-3
    # ulps; Adam's normalised step turns small gradient differences into
    # whole steps, so an element-wise ulp bound would not hold); and the
    # distance between the tables at most DRIFT of how far float32 training
    # moved them (measured: <= 0.15 bfloat16, <= 0.02 float16).
    f = features(rng, batch=32)
    y = rng.integers(1, 51, 32).astype(np.int32)
    data = tf.data.Dataset.from_tensors((f, y)).repeat(6)
    lr = {"adam": 1e-2, "rowwise_adagrad": 0.1, "sgd": 0.5}[optimizer]
    runs, init = {}, None
    for dt in ("float32", dtype):
        keras.utils.set_random_seed(0)
        m = model(dt)
        m(f)
        if init is None:
            for v in m.input_block.tables.values():
                v.assign(v.numpy().astype(NP[dtype]).astype(np.float32))
            init = [w.numpy() for w in m.weights]
        for v, w in zip(m.weights, init):
            v.assign(tf.cast(w, v.dtype))
        opt = ydnn.optimizers.get(optimizer)
        m.compile(optimizer=type(opt).from_config({**opt.get_config(), "learning_rate": lr}))
        m.fit(data, epochs=1, verbose=0, callbacks=[_LossPerStep()])
        runs[dt] = m
    m32, mh = runs["float32"], runs[dtype]
    np.testing.assert_allclose(mh.loss_steps, m32.loss_steps, rtol=0.01)
    for name, t32 in m32.input_block.tables.items():
        t0 = next(w for w, v in zip(init, m32.weights) if v is t32)
        w32, wh = t32.numpy(), mh.input_block.tables[name].numpy().astype(np.float32)
        assert np.abs(w32 - t0).max() > 4 * REL_ULP[dtype] * np.abs(t0).max(), "no training"
        ulp = REL_ULP[dtype] * np.abs(t0).max()  # of the largest starting weight
        assert np.abs(wh - w32).max() <= 6 * ulp, (name, np.abs(wh - w32).max(), ulp)
        drift = np.linalg.norm(wh - w32) / np.linalg.norm(w32 - t0)
        assert drift <= DRIFT[dtype], (name, drift)


class _LossPerStep(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.model.loss_steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.model.loss_steps.append(float(logs["loss"]))


@pytest.mark.parametrize("dtype", HALF)
def test_save_load_keeps_the_dtype_slots_and_training_state(rng, dtype, tmp_path):
    m = model(dtype, separate_output_table=True)
    f = features(rng)
    y = rng.integers(1, 51, 6).astype(np.int32)
    m.compile(optimizer="adam")
    m.fit(tf.data.Dataset.from_tensors((f, y)), epochs=1, verbose=0)
    slots = [v for v in m.optimizer.variables if "embeddings" in v.path]
    assert slots and all(v.dtype == "float32" for v in slots)
    path = str(tmp_path / "m.keras")
    m.save(path)
    again = keras.models.load_model(path)
    assert again.table_dtype == dtype and again.get_config()["table_dtype"] == dtype
    assert again.item_table.dtype == dtype and again.input_block.table_dtype == dtype
    np.testing.assert_array_equal(again.item_table.numpy(), m.item_table.numpy())
    np.testing.assert_array_equal(again(f), m(f))
    # The reloaded run continues as the original does (same slots, seeds).
    data = tf.data.Dataset.from_tensors((f, y))
    m.fit(data, epochs=1, verbose=0)
    again.fit(data, epochs=1, verbose=0)
    np.testing.assert_array_equal(again.item_table.numpy(), m.item_table.numpy())


def test_config_round_trip_and_functional_use(rng):
    m = model("bfloat16")
    again = YoutubeDNNRetrievalModelV2.from_config(m.get_config())
    assert again.table_dtype == "bfloat16" and again.input_block.table_dtype == "bfloat16"
    block = ydnn.InputBlock(history_schema(), table_dtype="float16")
    assert ydnn.InputBlock.from_config(block.get_config()).table_dtype == "float16"
    f = features(rng)
    inputs = {k: keras.Input(shape=v.shape[1:], dtype=v.dtype, name=k) for k, v in f.items()}
    out = keras.Model(inputs, block(inputs))(f)
    assert out.dtype == tf.float32


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: model("float64"), r"table_dtype must be one of .*got 'float64'"),
        (lambda: model(16), r"table_dtype must be one of .*got 16"),
        (
            lambda: ydnn.InputBlock(history_schema(), table_dtype="int8"),
            r"InputBlock: table_dtype must be one of .*got 'int8'",
        ),
        (
            lambda: model("float16", inputs=ydnn.InputBlock(history_schema())),
            r"table_dtype='float16' configures the input block the model builds",
        ),
    ],
)
def test_bad_table_dtype_is_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_half_tables_refuse_an_optimizer_without_float32_slots():
    m = model("bfloat16", ops="stock")
    with (
        pytest.warns(UserWarning, match="no sparse update for RMSprop"),
        pytest.raises(ValueError, match="table_dtype='bfloat16' trains with the ydnn optimizers"),
    ):
        m.compile(optimizer=keras.optimizers.RMSprop())
    m.compile(optimizer=keras.optimizers.Adam())  # mapped to LazyAdam
    assert isinstance(m.optimizer, ydnn.optimizers.LazyAdam)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("fused_top_k", [False, True])
def test_export_serves_what_the_half_model_retrieves(dtype, fused_top_k, tmp_path):
    from ydnn import export

    data = small_data(users=150, items=200, interactions=3000, max_history=6)
    keras.utils.set_random_seed(0)
    m = model(dtype, schema=data.schema(embedding_dim=8), sampler_seed=0)
    m.compile(optimizer="adam")
    m.fit(ydnn.data.to_dataset(data.train, 128, seed=0), epochs=1, verbose=0)
    tm = TrainedModel.from_data(m, data, {"data": {"max_history": 6}})
    # export_saved_model loads the SavedModel back and checks it against
    # the model's own retrieval (ids and scores): it raises on a mismatch.
    out = export.export_saved_model(tm, str(tmp_path / "sm"), k=5, fused_top_k=fused_top_k)
    loaded = tf.saved_model.load(out)
    assert loaded.table.dtype == (dtype if fused_top_k else "float32")
    assert loaded.pool_table.dtype == dtype


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_large_tables_are_initialised_a_slice_at_a_time(monkeypatch, dtype):
    # Past CHUNKED_INIT_ELEMENTS the table starts as zeros and each slice
    # of rows is drawn and written in place: every slice must be drawn
    # (no zero rows, none repeating another slice), from the initializer's
    # distribution, and an int-seeded initializer must stay reproducible.
    from ydnn.layers import embedding_tables

    monkeypatch.setattr(embedding_tables, "CHUNKED_INIT_ELEMENTS", 64 * 8)  # 64 rows of 8
    schema = history_schema(num_items=999, dim=8, extra=False)

    def table(seed):
        init = keras.initializers.RandomNormal(stddev=0.5, seed=seed)
        block = ydnn.InputBlock(schema, embeddings_initializer=init, table_dtype=dtype)
        block.build()
        return block.table("item_id").numpy().astype(np.float32)

    a = table(7)
    assert a.shape == (1000, 8) and not (a == 0).all(axis=1).any()
    slices = a[: 15 * 64].reshape(15, 64 * 8)  # 15 whole slices of 64 rows
    assert len({s.tobytes() for s in slices}) == 15
    assert abs(a.std() - 0.5) < 0.03 and abs(a.mean()) < 0.03
    np.testing.assert_array_equal(table(7), a)
    assert not np.array_equal(table(8), a)


@pytest.mark.parametrize("table_dtype", ["float32", "bfloat16"])
def test_mixed_bfloat16_policy_computes_the_softmax_in_bfloat16(rng, table_dtype):
    # Under mixed_bfloat16 the tower runs in bfloat16 and the sampled
    # softmax's products take bfloat16 inputs (compute_dtype), fused and
    # stock alike: the two agree to bfloat16's precision, the loss is
    # float32, and training lowers it.
    f = features(rng, batch=32)
    y = rng.integers(1, 51, 32).astype(np.int32)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        fused, stock = model(table_dtype, ops="fused"), model(table_dtype, ops="stock")
        fused(f), stock(f)
        for a, b in zip(fused.weights, stock.weights):
            b.assign(a)
        assert fused.compute_dtype == "bfloat16" and fused(f).dtype == tf.bfloat16
        samples = fused.sample_negatives(tf.constant(y))
        lf = fused.sampled_loss(fused(f), tf.constant(y), samples)
        ls = stock.sampled_loss(stock(f), tf.constant(y), samples)
        assert lf.dtype == tf.float32
        # Exactly the op under compute_dtype="bfloat16", not its float32 products.
        q32 = tf.cast(fused(f), tf.float32)
        args = (q32, fused.item_table, tf.constant(y), *samples)
        bf = ydnn_kernels.sampled_softmax_loss(*args, compute_dtype="bfloat16")
        fp = ydnn_kernels.sampled_softmax_loss(*args, compute_dtype="float32")
        np.testing.assert_array_equal(lf.numpy(), bf.numpy())
        # (A bfloat16 table and a bfloat16 query are already rounded: the
        # two products are then the same, exactly.)
        assert np.array_equal(lf.numpy(), fp.numpy()) == (table_dtype == "bfloat16")
        # Both round the same bfloat16 inputs; stock also rounds its logits
        # to bfloat16 (2^-8 of |z| <= ~10): within 0.05 per example.
        np.testing.assert_allclose(lf.numpy(), ls.numpy(), rtol=0, atol=0.05)
        fused.compile(optimizer="adam")
        hist = fused.fit(tf.data.Dataset.from_tensors((f, y)).repeat(20), verbose=0)
        first = float(fused.sampled_loss(fused(f), tf.constant(y), samples).numpy().mean())
        assert np.isfinite(hist.history["loss"][0]) and first < float(lf.numpy().mean())
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
