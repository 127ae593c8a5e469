"""`ydnn.presets`: ydnn's defaults and Merlin's, for the model and `ydnn train`."""

import keras
import numpy as np
import pytest

import ydnn
from ydnn.cli_args import parse_arguments
from ydnn.presets import DEFAULTS, MERLIN


def _schema(dim=None):
    log = ydnn.data.generate_interactions(num_users=60, num_items=160, num_interactions=900, seed=0)
    return ydnn.data.prepare_sequences(log, max_history=4).schema(embedding_dim=dim)


def test_the_model_defaults_are_the_default_preset():
    plain = ydnn.YoutubeDNNRetrievalModelV2(_schema(), min_sampled_id=1)
    assert plain.input_block.combiner == DEFAULTS["combiner"] == "sqrtn"
    assert plain.logits_temperature == DEFAULTS["logits_temperature"]
    assert plain.num_sampled == DEFAULTS["num_sampled"]
    assert plain.separate_output_table == DEFAULTS["separate_output_table"]
    block = plain.top_block
    assert block.dimensions == [128, 64] and block.no_activation_last_layer
    assert isinstance(block.kernel_initializer, keras.initializers.HeUniform)


def test_default_tower_follows_the_item_width():
    model = ydnn.YoutubeDNNRetrievalModelV2(_schema(dim=24), min_sampled_id=1)
    assert model.top_block.dimensions == [48, 24] and model.item_dim == 24


def test_merlin_preset_builds_merlins_model():
    model = ydnn.YoutubeDNNRetrievalModelV2(_schema(), min_sampled_id=1, **MERLIN)
    assert model.input_block.combiner == "mean"
    assert model.top_block.dimensions == [64] and not model.top_block.no_activation_last_layer
    assert isinstance(model.top_block.kernel_initializer, keras.initializers.GlorotUniform)
    init = model.input_block.embeddings_initializer
    assert isinstance(init, keras.initializers.TruncatedNormal) and init.stddev == 0.05
    model.build()
    table = model.item_table.numpy()
    assert abs(table.std() - 0.05 * 0.88) < 0.005  # truncated at 2 sd: sd * 0.88


def test_preset_layers_are_fresh_on_every_unpacking():
    a = ydnn.YoutubeDNNRetrievalModelV2(_schema(), **MERLIN)
    b = ydnn.YoutubeDNNRetrievalModelV2(_schema(), **MERLIN)
    assert a.top_block is not b.top_block
    overridden = ydnn.YoutubeDNNRetrievalModelV2(_schema(), **{**MERLIN, "num_sampled": 7})
    assert overridden.num_sampled == 7


def test_merlin_preset_saves_and_loads(tmp_path):
    model = ydnn.YoutubeDNNRetrievalModelV2(_schema(), min_sampled_id=1, **MERLIN)
    model.compile(optimizer="adam")
    x = {"item_id": np.array([[1, 2, 0, 0], [3, 0, 0, 0]], np.int32)}
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
    assert loaded.input_block.combiner == "mean"


def test_combiner_with_an_input_block_is_refused_when_they_disagree():
    schema = _schema()
    block = ydnn.InputBlock(schema, combiner="mean")
    with pytest.raises(ValueError, match="combiner='sqrtn' configures the input block"):
        ydnn.YoutubeDNNRetrievalModelV2(schema, inputs=block, combiner="sqrtn")
    model = ydnn.YoutubeDNNRetrievalModelV2(schema, inputs=block, combiner="mean")
    assert model.input_block is block


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match=r"preset must be one of \['merlin', 'ydnn'\], got 'x'"):
        ydnn.presets.get("x")


def test_cli_preset_fills_only_what_is_not_given():
    args = parse_arguments(["train", "--synthetic", "--out", "o"])
    assert (args.combiner, args.top_block, args.activation_last_layer) == (
        "sqrtn",
        [128, 64],
        False,
    )
    assert args.epochs == DEFAULTS.train["epochs"]
    args = parse_arguments(["train", "--synthetic", "--out", "o", "--preset", "merlin"])
    assert (args.combiner, args.top_block, args.activation_last_layer) == ("mean", [64], True)
    assert (args.mlp_initializer, args.table_init_stddev, args.epochs) == (
        "glorot_uniform",
        0.05,
        10,
    )
    assert (args.learning_rate, args.lr_schedule) == (1e-3, "constant")
    args = parse_arguments(
        [
            "train",
            "--synthetic",
            "--out",
            "o",
            "--preset",
            "merlin",
            "--combiner",
            "sqrtn",
            "--embedding-dim",
            "32",
            "--no-activation-last-layer",
        ]
    )
    assert (args.combiner, args.top_block, args.activation_last_layer) == ("sqrtn", [32], False)
    args = parse_arguments(["train", "--synthetic", "--out", "o", "--embedding-dim", "16"])
    assert args.top_block == [32, 16]
