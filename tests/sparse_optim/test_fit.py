"""ydnn.optimizers inside model.fit: the table takes the fused sparse path,
dense weights the stock one; .keras save/load carries the optimizer state so
that training continues exactly as without saving; get() maps compile()
identifiers; XLA is refused clearly."""

import warnings

import keras
import numpy as np
import pytest

import ydnn
from ydnn_kernels import embedding_pool, sparse_optim_op

V, D, L = 60, 8, 5


@keras.saving.register_keras_serializable(package="ydnn_tests")
class PooledTable(keras.layers.Layer):
    """Mean-pooled ids through ydnn_kernels.embedding_pool (unique sorted grads)."""

    def __init__(self, rows, dim, **kwargs):
        super().__init__(**kwargs)
        self.rows, self.dim = rows, dim

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.rows, self.dim), name="embeddings", initializer="random_normal"
        )

    def call(self, ids):
        return embedding_pool(self.embeddings, ids)

    def get_config(self):
        return {**super().get_config(), "rows": self.rows, "dim": self.dim}


def make_model(pooled=True):
    keras.utils.set_random_seed(0)
    ids = keras.Input((L,), dtype="int64")
    if pooled:
        x = PooledTable(V, D)(ids)
    else:  # stock Keras Embedding: a tf.gather gradient, duplicates possible
        x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(V, D)(ids))
    return keras.Model(ids, keras.layers.Dense(1)(keras.layers.Dense(4, "relu")(x)))


def data(rows=V // 2):
    rng = np.random.default_rng(1)
    # Only the first `rows` ids ever occur: the rest must stay untouched.
    return rng.integers(0, rows, (96, L)), rng.standard_normal((96, 1)).astype(np.float32)


def fit(model, optimizer, epochs=2):
    model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0)
    return model


# Keras Embedding's gradient repeats an id once per occurrence; stock Keras
# Adagrad then squares each repeat before summing (not the dense gradient's
# square), so Adagrad is compared on the pooled table, whose ids are unique.
@pytest.mark.parametrize("name,pooled", [("sgd", True), ("sgd", False), ("adagrad", True)])
def test_fit_matches_stock_where_maths_coincide(name, pooled):
    ours = fit(make_model(pooled), ydnn.optimizers.get(name))
    stock = fit(make_model(pooled), name)
    for a, b in zip(ours.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fit_routes_table_to_kernel_and_lazy_adam_leaves_unseen_rows(monkeypatch):
    calls = []
    real = sparse_optim_op.sparse_apply
    monkeypatch.setattr(
        sparse_optim_op,
        "sparse_apply",
        lambda kind, var, *a, **k: calls.append((kind, var.name)) or real(kind, var, *a, **k),
    )
    model = make_model()
    before = model.get_weights()[0].copy()
    opt = ydnn.optimizers.get("adam")
    fit(model, opt)
    assert calls and {c[0] for c in calls} == {"lazy_adam"}
    assert all("embeddings" in name for _, name in calls)  # dense weights: stock path
    after = model.get_weights()[0]
    np.testing.assert_array_equal(after[V // 2 :], before[V // 2 :])
    assert np.all(np.any(after[: V // 2] != before[: V // 2], axis=1))
    m = opt.variables[2].numpy()  # the table's first moment
    assert not m[V // 2 :].any() and m[: V // 2].any()


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam", "rowwise_adagrad"])
def test_keras_round_trip_continues_identically(tmp_path, name):
    x, y = data()
    straight = fit(make_model(), ydnn.optimizers.get(name), epochs=3)

    first = fit(make_model(), ydnn.optimizers.get(name), epochs=2)
    path = str(tmp_path / "m.keras")
    first.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is type(ydnn.optimizers.get(name))
    assert int(loaded.optimizer.iterations.numpy()) == 12
    loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(loaded.optimizer.variables, straight.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_jit_compile_is_refused_clearly():
    model = make_model(pooled=False)
    model.compile(optimizer=ydnn.optimizers.get("adam"), loss="mse", jit_compile=True)
    x, y = data()
    with pytest.raises(ValueError, match="jit_compile=False"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)


def test_get_maps_names_and_instances():
    opts = ydnn.optimizers
    assert type(opts.get("sgd")) is opts.SparseSGD
    assert type(opts.get("Adagrad")) is opts.SparseAdagrad
    assert type(opts.get("adam")) is opts.LazyAdam
    assert type(opts.get("rowwise_adagrad")) is opts.RowWiseAdagrad
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    got = opts.get(keras.optimizers.Adam(schedule, beta_1=0.8, clipnorm=2.0))
    assert type(got) is opts.LazyAdam and got.beta_1 == 0.8 and got.clipnorm == 2.0
    assert isinstance(got._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    adamw = opts.get(keras.optimizers.AdamW(0.01, weight_decay=0.1))
    assert type(adamw) is opts.LazyAdam and adamw.weight_decay == 0.1
    assert type(opts.get(keras.optimizers.serialize(keras.optimizers.SGD(0.3)))) is opts.SparseSGD
    mine = opts.LazyAdam()
    assert opts.get(mine) is mine


def test_get_refuses_what_it_cannot_map():
    with pytest.raises(ValueError, match="Unknown optimizer 'adamax'"):
        ydnn.optimizers.get("adamax")
    with pytest.raises(ValueError, match="momentum"):
        ydnn.optimizers.get(keras.optimizers.SGD(0.1, momentum=0.9))
    built = keras.optimizers.Adam()
    built.build([keras.Variable(np.zeros((2, 2), np.float32))])
    with pytest.raises(ValueError, match="already built"):
        ydnn.optimizers.get(built)
    rms = keras.optimizers.RMSprop()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert ydnn.optimizers.get(rms) is rms
    assert any("dense update" in str(x.message) for x in w)
    with pytest.raises(ValueError, match="Could not interpret"):
        ydnn.optimizers.get(3)
