"""Keras layers of the query tower: call, functional model, config, save/load, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.model_cases import features, history_schema
from ydnn.layers import InputBlock, L2Norm, MLPBlock, infer_embedding_dim
from ydnn.schema import ColumnSchema, Schema, Tags


def masked_mean(table, hist, pad=0):
    out = np.zeros((hist.shape[0], table.shape[1]))
    for b, row in enumerate(hist):
        ids = [i for i in row if i != pad]
        out[b] = np.mean([table[i] for i in ids], axis=0) if ids else 0.0
    return out


@pytest.mark.parametrize("ops", ["fused", "stock"])
def test_input_block_pools_padded_and_ragged_alike(rng, ops):
    block = InputBlock(history_schema(extra=False), embedding_dims={"item_id": 8}, ops=ops)
    f = features(rng, extra=False)
    dense = block(f).numpy()
    want = masked_mean(block.table("item_id").numpy(), f["item_id"])
    np.testing.assert_allclose(dense, want, rtol=1e-5, atol=1e-6)
    ragged = tf.RaggedTensor.from_tensor(f["item_id"], padding=0)
    np.testing.assert_allclose(block({"item_id": ragged}).numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("combiner", ["mean", "sum", "sqrtn"])
def test_a_continuous_list_pools_its_real_values(combiner):
    """Merlin's sequence continuous features: float64 loop reference, tolerance 1e-6."""
    schema = Schema(
        [
            ColumnSchema(
                "ages", "float32", [Tags.CONTINUOUS, Tags.SEQUENCE], is_list=True, is_ragged=True
            ),
            ColumnSchema("user_age", "float32", [Tags.CONTINUOUS]),
        ]
    )
    block = InputBlock(schema, combiner=combiner)
    rows = [[0.5, -1.0, 2.0], [], [3.0], [0.0, 0.0]]
    out = block(
        {
            "ages": tf.ragged.constant(rows, dtype=tf.float32),
            "user_age": np.arange(4, dtype=np.float32),
        }
    ).numpy()
    scale = {"mean": len, "sum": lambda r: 1, "sqrtn": lambda r: np.sqrt(len(r))}[combiner]
    want = [float(np.sum(np.array(r, np.float64)) / scale(r)) if r else 0.0 for r in rows]
    assert out.shape == (4, 2) and block.output_dim == 2
    np.testing.assert_allclose(out[:, 0], want, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], np.arange(4), atol=0)
    with pytest.raises(ValueError, match="continuous list feature 'ages' came padded"):
        block({"ages": np.zeros((4, 3), np.float32), "user_age": np.zeros(4, np.float32)})


def test_input_block_concatenates_every_feature(rng):
    block = InputBlock(history_schema(), embedding_dims={"item_id": 8})
    f = features(rng)
    out = block(f).numpy()
    assert out.shape == (6, 8 + 4 + 1) and block.output_dim == 13
    np.testing.assert_allclose(
        out[:, 8:12], block.table("country").numpy()[f["country"]], rtol=1e-6
    )
    np.testing.assert_allclose(out[:, 12], f["age"], rtol=1e-6)


def test_table_widths_follow_the_rules():
    block = InputBlock(history_schema(num_items=9999, dim=None), embedding_dims={})
    block.build()
    assert block.table("item_id").shape == (10000, infer_embedding_dim(10000)) == (10000, 24)
    assert block.table("country").shape == (10, 4)


def test_input_block_in_a_functional_model_and_saved(rng, tmp_path):
    schema = history_schema()
    inputs = {
        "item_id": keras.Input((5,), dtype="int32", name="item_id"),
        "country": keras.Input((), dtype="int32", name="country"),
        "age": keras.Input((), dtype="float32", name="age"),
    }
    x = InputBlock(schema, embedding_dims={"item_id": 8})(inputs)
    # Linear last layer: a ReLU one can zero a whole row, which L2Norm leaves at 0.
    x = MLPBlock([16, 8], dropout=0.1, normalization="layer_norm", no_activation_last_layer=True)(x)
    model = keras.Model(inputs, L2Norm()(x))
    f = features(rng)
    out = model(f).numpy()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again(f).numpy(), out, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: InputBlock(
            history_schema(),
            embedding_dims={"item_id": 8},
            combiner="sqrtn",
            ops="stock",
            padding_id=0,
        ),
        lambda: MLPBlock(
            [32, 8],
            activation="gelu",
            dropout=0.2,
            normalization="batch_norm",
            no_activation_last_layer=True,
        ),
        lambda: L2Norm(epsilon=1e-6),
    ],
)
def test_get_config_round_trip(layer):
    a = layer()
    b = type(a).from_config(a.get_config())
    assert b.get_config() == a.get_config()


def test_mlp_last_layer_linear_or_not(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    relu = MLPBlock([5, 3])
    assert (relu(x).numpy() >= 0).all()
    linear = MLPBlock([5, 3], no_activation_last_layer=True)
    linear(x)
    linear.dense_layers[1].kernel.assign(-np.ones((5, 3), np.float32))
    linear.dense_layers[1].bias.assign(-np.ones(3, np.float32))
    assert (linear(x).numpy() < 0).all()


def test_mlp_kernels_start_with_he_variance_unless_told_otherwise():
    # He: Var = 2 / fan_in, which keeps a ReLU stack's activations at one
    # scale; Glorot (Merlin's default, still one argument away) gives
    # 2 / (fan_in + fan_out), 1.5x less here. A 512 x 256 uniform kernel's
    # sample variance has a standard error of 0.25%: rel=0.03 is 12 of them.
    he = MLPBlock([256, 64])
    he.build((None, 512))
    glorot = MLPBlock([256, 64], kernel_initializer="glorot_uniform")
    glorot.build((None, 512))
    for block, want in ((he, 2 / 512), (glorot, 2 / (512 + 256))):
        kernel = block.dense_layers[0].kernel.numpy()
        assert kernel.var() == pytest.approx(want, rel=0.03)
        assert abs(kernel).max() <= np.sqrt(3 * want) * 1.0001  # uniform, not normal
    # Every layer gets its own draw, not one shared tensor.
    second = he.dense_layers[1].kernel.numpy()
    assert second.var() == pytest.approx(2 / 256, rel=0.05)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(dimensions=[]), "non-empty list of positive ints"),
        (dict(dimensions=[8, 0]), "non-empty list of positive ints"),
        (dict(dimensions=[8], dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(dimensions=[8], normalization="group"), "normalization must be one of"),
    ],
)
def test_mlp_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPBlock(**kwargs)


def test_input_block_bad_input(rng):
    from ydnn.schema import ColumnSchema, Schema, Tags

    with pytest.raises(ValueError, match="no int_domain"):
        InputBlock(Schema([ColumnSchema("item_id", "int32", [Tags.ITEM_ID, Tags.CATEGORICAL])]))
    with pytest.raises(ValueError, match="combiner must be one of"):
        InputBlock(history_schema(), combiner="max")
    block = InputBlock(history_schema(), embedding_dims={"item_id": 8})
    f = features(rng)
    with pytest.raises(ValueError, match="missing feature 'country'"):
        block({"item_id": f["item_id"], "age": f["age"]})
    with pytest.raises(ValueError, match="must hold integer ids, got float32"):
        block({**f, "item_id": f["item_id"].astype(np.float32)})
    bad = f["item_id"].copy()
    bad[0, :] = 0
    bad[0, 2] = 7  # a real id after padding
    with pytest.raises(tf.errors.InvalidArgumentError, match="real id after padding"):
        block({**f, "item_id": bad})
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"ids\[0, 0\] = 51 is out of range"):
        block({**f, "item_id": np.full_like(f["item_id"], 51)})
