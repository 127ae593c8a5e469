"""`ydnn.export`: the stock-TF SavedModel retrieves what the Keras model does.

Small models (200 users, 300 items) are trained for two steps, exported,
loaded back with plain `tf.saved_model.load` and compared with the model's
own `retrieve` on histories of every length, the empty one included. The
same comparison, as `export._verify` makes it, must fail for a serving
function that pools, normalises or scores differently, so the agreement is
not one any export would reach. Each trained model is shared by the tests
that read it.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import ydnn
from ydnn import export
from ydnn.trained_model import TrainedModel

# to_dataset shuffles itself; Keras warns that it cannot.
pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

H = 10
K = 7
TOL = dict(rtol=1e-5, atol=1e-6)

CASES = {
    "mean": dict(combiner="mean"),
    "sqrtn": dict(combiner="sqrtn"),
    "sum-include-seen": dict(combiner="sum", exclude_seen=False),
    "sqrtn-separate": dict(combiner="sqrtn", separate=True),
    "mean-separate-include-seen-min-id": dict(separate=True, exclude_seen=False, min_sampled_id=3),
    "l2norm-sqrtn": dict(combiner="sqrtn", post=True),
    "l2norm-sum-separate": dict(combiner="sum", post=True, separate=True, exclude_seen=False),
    "dropout-sqrtn": dict(combiner="sqrtn", dropout=0.3),
    "layer-norm-dropout": dict(normalization="layer_norm", dropout=0.2),
    "batch-norm-l2norm": dict(combiner="sqrtn", normalization="batch_norm", post=True),
}


@pytest.fixture(scope="module")
def data():
    log = ydnn.data.generate_interactions(
        num_users=200, num_items=300, num_interactions=4000, seed=0
    )
    return ydnn.data.prepare_sequences(log, max_history=H)


def build(
    data,
    combiner="mean",
    separate=False,
    post=False,
    dropout=0.0,
    normalization=None,
    min_sampled_id=0,
    top_block=None,
    padding_id=0,
    activation="relu",
):
    keras.utils.set_random_seed(0)
    schema = data.schema(embedding_dim=16)
    return ydnn.YoutubeDNNRetrievalModelV2(
        schema,
        inputs=ydnn.InputBlock(schema, combiner=combiner, padding_id=padding_id),
        top_block=top_block
        or ydnn.MLPBlock(
            [32, 16], activation=activation, dropout=dropout, normalization=normalization
        ),
        post=ydnn.L2Norm() if post is True else (post or None),
        num_sampled=20,
        min_sampled_id=min_sampled_id,
        separate_output_table=separate,
        sampler_seed=0,
    )


def trained_model(data, model):
    return TrainedModel.from_data(model, data, {"data": {"max_history": H}})


@pytest.fixture(scope="module")
def trained(data):
    """`trained(case)`: the case's model after two Adam steps, built once."""
    cache = {}

    def get(case):
        if case not in cache:
            settings = {k: v for k, v in CASES[case].items() if k != "exclude_seen"}
            model = build(data, **settings)
            model.compile(optimizer=keras.optimizers.Adam(0.01))
            # Ids below min_sampled_id are reserved: never a target.
            train = data.train.take(data.train.target >= model.min_sampled_id)
            model.fit(
                ydnn.data.to_dataset(train, 128, seed=0),
                epochs=1,
                steps_per_epoch=2,
                verbose=0,
            )
            _spread_normalization(model)
            cache[case] = trained_model(data, model)
        return cache[case]

    return get


def _spread_normalization(model):
    """Moves normalization weights far from their start (two steps barely
    do), so serving that skips or misreads one cannot pass."""
    rng = np.random.default_rng(1)
    for extra in model.top_block.extra_layers:
        for layer in extra:
            for var in layer.weights:
                low = 0.5 if "variance" in var.path or "gamma" in var.path else -0.5
                var.assign(rng.uniform(low, low + 1.0, var.shape).astype(np.float32))


def histories(data, rng, rows=40):
    """Padded histories of every length 0..H (ids may repeat), then stored ones."""
    out = np.zeros((rows, H), np.int32)
    for b in range(rows):
        n = b % (H + 1)
        out[b, :n] = rng.integers(1, data.num_items + 1, n)
    stored = data.train.history[:rows]
    return np.concatenate([out, stored.astype(np.int32)])


def served(path, history):
    sig = tf.saved_model.load(path).signatures["serving_default"]
    got = sig(history=tf.constant(history))
    return {name: value.numpy() for name, value in got.items()}


def retrieved(model, history, k, exclude_seen):
    query = model({model.candidate.name: tf.constant(history)}, training=False)
    exclude = tf.RaggedTensor.from_tensor(tf.constant(history), padding=0) if exclude_seen else None
    scores, ids = model.retrieve(query, k, exclude)
    return query.numpy(), scores.numpy(), ids.numpy()


def candidate_rows(model, ids):
    rows = tf.gather(model.item_table, ids)
    return (model.post(rows) if model.post is not None else rows).numpy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_saved_model_retrieves_like_the_model(case, data, trained, rng, tmp_path):
    tm = trained(case)
    model = tm.model
    exclude_seen = CASES[case].get("exclude_seen", True)
    out = export.export_saved_model(tm, str(tmp_path / "sm"), k=K, exclude_seen=exclude_seen)
    history = histories(data, rng)
    got = served(out, history)
    query, want_s, want_ids = retrieved(model, history, K, exclude_seen)

    np.testing.assert_allclose(got["scores"], want_s, **TOL)
    # Ids must agree wherever the model's scores are not tied with a neighbour.
    tied = np.zeros_like(want_s, bool)
    close = np.isclose(want_s[:, 1:], want_s[:, :-1], rtol=0, atol=1e-5)
    tied[:, 1:] |= close
    tied[:, :-1] |= close
    np.testing.assert_array_equal(got["ids"][~tied], want_ids[~tied])
    # And each served id scores what the SavedModel says under the model.
    rescored = np.einsum("bd,bkd->bk", query, candidate_rows(model, got["ids"]))
    np.testing.assert_allclose(rescored, got["scores"], **TOL)
    np.testing.assert_array_equal(got["item_ids"], tm.item_ids[got["ids"]])
    assert got["ids"].min() >= model.min_sampled_id
    if exclude_seen:
        for row, ids in zip(history, got["ids"]):
            assert not set(row[row != 0]) & set(ids)
    assert (history == 0).all(axis=1).any()


def test_separate_table_pools_the_input_table(trained):
    """The separate case really has two tables, and the export keeps both."""
    model = trained("sqrtn-separate").model
    assert model.item_table is not model.input_block.table("item_id")
    module = export._Serving(model, trained("sqrtn-separate").item_ids, K, True)
    assert not module.shared and module.pool_table is not module.table
    np.testing.assert_array_equal(
        module.pool_table.numpy(), model.input_block.table("item_id").numpy()
    )
    np.testing.assert_array_equal(module.table.numpy(), model.item_table.numpy())
    tied = export._Serving(trained("sqrtn").model, trained("sqrtn").item_ids, K, True)
    assert tied.shared and tied.pool_table is tied.table


def _swap_tables(module):
    module.pool_table, module.table = module.table, module.pool_table


def _drop_norms(module):
    module.norms = [[] for _ in module.norms]


def _raw_candidates(model):
    def mutate(module):
        module.table.assign(model.item_table.numpy())

    return mutate


# (case, what the wrong serving function does differently)
WRONG = {
    "sqrtn pooled as mean": ("sqrtn", lambda m: setattr(m, "combiner", "mean")),
    "sqrtn pooled as sum": ("sqrtn", lambda m: setattr(m, "combiner", "sum")),
    "mean pooled as sqrtn": ("mean", lambda m: setattr(m, "combiner", "sqrtn")),
    "sum pooled as mean": ("sum-include-seen", lambda m: setattr(m, "combiner", "mean")),
    "separate tables swapped": ("sqrtn-separate", _swap_tables),
    "query not normalized": ("l2norm-sqrtn", lambda m: setattr(m, "post_epsilon", None)),
    "candidates not normalized": ("l2norm-sqrtn", None),
    "layer norm skipped": ("layer-norm-dropout", _drop_norms),
    "batch norm skipped": ("batch-norm-l2norm", _drop_norms),
    "seen items kept": ("mean", lambda m: setattr(m, "exclude_seen", False)),
}


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_check_fails_for_a_wrong_serving_function(wrong, trained, tmp_path):
    case, mutate = WRONG[wrong]
    tm = trained(case)
    exclude_seen = CASES[case].get("exclude_seen", True)
    module = export._Serving(tm.model, tm.item_ids, K, exclude_seen)
    (mutate or _raw_candidates(tm.model))(module)
    path = str(tmp_path / "sm")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    with pytest.raises(ValueError, match="export check failed"):
        export._verify(tm, path, K, exclude_seen)


class _MyNorm(ydnn.L2Norm):
    pass


def _extra(make_layer):
    def settings():
        block = ydnn.MLPBlock([32, 16])
        block.extra_layers[0].append(make_layer())
        return dict(top_block=block)

    return settings


# (model settings, built when the test runs; what the message says)
REFUSED = {
    "post layer": (
        lambda: dict(post=keras.layers.UnitNormalization(name="unit")),
        "post is UnitNormalization 'unit'",
    ),
    "L2Norm subclass": (lambda: dict(post=_MyNorm(name="mine")), "post is _MyNorm 'mine'"),
    "extra layer": (
        _extra(lambda: keras.layers.GaussianNoise(0.1, name="noise")),
        "GaussianNoise layer 'noise'",
    ),
    "rms scaling": (
        _extra(lambda: keras.layers.LayerNormalization(rms_scaling=True, name="rms")),
        "LayerNormalization layer 'rms'",
    ),
    "top block": (
        lambda: dict(top_block=keras.layers.Dense(16)),
        "MLPBlock top block, the model has Dense",
    ),
    "activation": (lambda: dict(activation="softplus"), "activation 'softplus'"),
    "padding id": (lambda: dict(padding_id=-1), "pads with -1"),
}


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize("refused", sorted(REFUSED))
def test_refuses_what_it_cannot_rebuild(refused, data, tmp_path):
    settings, message = REFUSED[refused]
    tm = trained_model(data, build(data, **settings()))
    out = str(tmp_path / "sm")
    with pytest.raises(ValueError, match=message):
        export.check_exportable(tm.model)
    with pytest.raises(ValueError, match=message):
        export.export_saved_model(tm, out, k=K)
    assert not os.path.exists(out)
