"""YoutubeDNNRetrievalModelV2: construction, training, full-catalog evaluation, save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ydnn
import ydnn_kernels
from tests.model_cases import features, history_schema, small_data
from ydnn import MLPBlock, YoutubeDNNRetrievalModelV2


def model(schema=None, **kw):
    kw.setdefault("top_block", MLPBlock([16, 8], no_activation_last_layer=True))
    kw.setdefault("num_sampled", 10)
    kw.setdefault("min_sampled_id", 1)
    return YoutubeDNNRetrievalModelV2(schema or history_schema(), **kw)


def test_each_model_gets_its_own_default_top_block():
    a = YoutubeDNNRetrievalModelV2(history_schema(), num_sampled=5)
    b = YoutubeDNNRetrievalModelV2(history_schema(), num_sampled=5)
    assert a.top_block is not b.top_block and a.top_block.dimensions == [128, 64]
    assert a.top_block.no_activation_last_layer
    assert a.item_dim == 64  # 64 wide unless the schema or embedding_dims say otherwise


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(foo=1), TypeError, "unexpected keyword argument 'foo'"),
        (
            dict(embedding_dims={"item_id": 16}),
            ValueError,
            r"top block outputs 8 values but the item embedding 'item_id' has 16"
            r".*MLPBlock\(\[\.\.\., 16\]\)",
        ),
        (dict(num_sampled=51), ValueError, r"num_sampled must be in \[1, 50\]"),
        (dict(min_sampled_id=51), ValueError, r"min_sampled_id must be in \[0, 50\]"),
        (dict(logits_temperature=0.0), ValueError, "logits_temperature must be positive"),
        (dict(outputs=keras.layers.Dense(3)), ValueError, "outputs is not supported"),
        (dict(ops="xla"), ValueError, "ops must be one of"),
        # Once truncated to 5, or taken as 1 / 1.0, or "use the default width".
        (dict(num_sampled=5.5), ValueError, r"num_sampled must be an integer, got float 5\.5"),
        (dict(num_sampled=True), ValueError, r"num_sampled must be an integer, got bool True"),
        (
            dict(min_sampled_id=1.0),
            ValueError,
            r"min_sampled_id must be an integer, got float 1\.0",
        ),
        (
            dict(logits_temperature=True),
            ValueError,
            r"logits_temperature must be a real number, got bool",
        ),
        (
            dict(embedding_dims={"country": 0}),
            ValueError,
            r"embedding_dims\['country'\] must be >= 1, got 0",
        ),
        (
            dict(separate_output_table="no"),
            ValueError,
            r"separate_output_table must be True or False",
        ),
    ],
)
def test_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        model(**kwargs)


def test_schema_without_item_id_column():
    schema = history_schema().remove_by_tag(ydnn.Tags.ITEM_ID)
    with pytest.raises(ValueError, match="exactly one column tagged 'item_id'"):
        YoutubeDNNRetrievalModelV2(schema)


def test_compile_refuses_what_it_cannot_honour():
    m = model()
    with pytest.raises(ValueError, match="jit_compile=True is not supported"):
        m.compile(jit_compile=True)
    with pytest.raises(ValueError, match=r"unsupported compile arguments \['loss'\]"):
        m.compile(loss="mse")


def test_fused_and_stock_give_the_same_loss_for_the_same_weights_and_samples(rng):
    fused, stock = model(ops="fused"), model(ops="stock")
    f = features(rng)
    fused(f), stock(f)
    for a, b in zip(fused.weights, stock.weights):
        b.assign(a)
    y = tf.constant(rng.integers(1, 51, 6), tf.int32)
    samples = fused.sample_negatives(y)
    qf, qs = fused(f), stock(f)
    np.testing.assert_allclose(qf, qs, rtol=1e-6, atol=1e-7)
    lf = fused.sampled_loss(qf, y, samples).numpy()
    ls = stock.sampled_loss(qs, y, samples).numpy()
    np.testing.assert_allclose(lf, ls, rtol=1e-5, atol=1e-6)
    assert np.all(lf > 0)


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    data = small_data()
    m = YoutubeDNNRetrievalModelV2(
        data.schema(),
        top_block=MLPBlock([64, 32], no_activation_last_layer=True),
        num_sampled=50,
        min_sampled_id=1,
    )
    m.compile(optimizer=keras.optimizers.Adam(3e-3), exclude_seen=True, steps_per_execution=8)
    hist = m.fit(ydnn.data.to_dataset(data.train, 256, seed=0), epochs=8, verbose=0)
    return data, m, hist.history["loss"]


def test_training_lowers_the_loss_and_beats_popularity(trained):
    data, m, losses = trained
    assert losses[-1] < losses[0] - 0.3, losses
    test = ydnn.data.to_dataset(data.test, 512, shuffle=False, seen=data)
    res = m.evaluate(test, return_dict=True, verbose=0)
    pop = ydnn.metrics.evaluate_most_popular(data, k=10, exclude_seen=True, min_id=1)
    assert res["recall_at_10"] > 1.5 * pop["recall_at_10"], (res, pop)


def test_evaluate_is_full_catalog_top_k(trained):
    data, m, _ = trained
    test = ydnn.data.to_dataset(data.test, 500, shuffle=False, seen=data)
    res = m.evaluate(test, return_dict=True, verbose=0)
    # Brute force in NumPy: every item scored, ids < 1 and seen items removed.
    q = m.predict(test, verbose=0)
    scores = q @ m.item_table.numpy().T
    scores[:, 0] = -np.inf
    for r, u in enumerate(data.test.user):
        scores[r, data.seen(u)] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    hits = (top == data.test.target[:, None]).any(axis=1)
    assert res["recall_at_10"] == pytest.approx(hits.mean(), abs=1e-6)
    ranks = np.argmax(top == data.test.target[:, None], axis=1)
    mrr = np.where(hits, 1.0 / (ranks + 1), 0.0).mean()
    assert res["mrr_at_10"] == pytest.approx(mrr, abs=1e-6)


def test_top_k_encoder_excludes_padding_and_seen_items(trained):
    data, m, _ = trained
    f, _ = next(iter(ydnn.data.to_dataset(data.test, 64, shuffle=False, seen=data)))
    scores, ids = m.to_top_k_encoder(k=20, exclude_seen=True)(f)
    ids = ids.numpy()
    assert (ids >= 1).all() and (ids <= data.num_items).all()
    for r, u in enumerate(data.test.user[:64]):
        assert not set(ids[r]) & set(data.seen(u).tolist())
    assert np.all(np.diff(scores.numpy(), axis=1) <= 0)
    plain = m.to_top_k_encoder(k=20)(f)[1].numpy()
    assert (plain != ids).any(), "excluding seen items must change some lists"


def test_save_load_keeps_every_setting_and_continues_training(rng, tmp_path):
    m = model(
        logits_temperature=0.2,
        post=ydnn.L2Norm(),
        ops="stock",
        separate_output_table=True,
        embedding_dims={"country": 4},
    )
    f = features(rng)
    y = rng.integers(1, 51, 6).astype(np.int32)
    m.compile(optimizer="adam")
    m.fit(tf.data.Dataset.from_tensors((f, y)), epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    m.save(path)
    again = keras.models.load_model(path)
    got, want = again.get_config(), m.get_config()
    for key in want:  # nested layers: their own config (build shapes may differ)
        norm = (lambda c: c["config"]) if key in ("inputs", "top_block", "post") else (lambda c: c)
        assert norm(got[key]) == norm(want[key]), key
    assert again.logits_temperature == 0.2 and again.ops == "stock" and again.min_sampled_id == 1
    np.testing.assert_allclose(again(f), m(f), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(again.item_table.numpy(), m.item_table.numpy())
    again.compile(optimizer="adam")
    again.fit(tf.data.Dataset.from_tensors((f, y)), epochs=1, verbose=0)


def test_post_l2_norm_gives_cosine_scores(rng):
    m = model(post=ydnn.L2Norm())
    f = features(rng)
    q = m(f).numpy()
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, rtol=1e-5)
    emb = m.candidate_embeddings().compute().to_numpy()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    scores, _ = m.retrieve(q, 5)
    assert (scores.numpy() <= 1.0 + 1e-5).all()


def test_separate_output_table(rng):
    m = model(separate_output_table=True)
    m(features(rng))
    assert m.item_table is not m.input_block.table("item_id")
    assert m.item_table.shape == (51, 8)


def test_training_needs_targets(rng):
    m = model()
    m.compile()
    with pytest.raises(ValueError, match=r"\(features, target ids\) pairs"):
        m.fit(tf.data.Dataset.from_tensors((features(rng),)), epochs=1, verbose=0)


def test_zero_sample_weights_leave_every_weight_unchanged(rng):
    # Keras passes (x, y, sample_weight): a model that dropped the weights
    # would take a full SGD step here and move every weight it trains.
    m = model()
    f = features(rng, batch=32)
    y = rng.integers(1, 51, 32).astype(np.int32)
    m.compile(optimizer=keras.optimizers.SGD(0.5))
    m(f)
    before = [w.numpy().copy() for w in m.trainable_weights]
    hist = m.fit(f, y, sample_weight=np.zeros(32, np.float32), batch_size=32, epochs=1, verbose=0)
    assert hist.history["loss"] == [0.0]
    for w, b in zip(m.trainable_weights, before):
        np.testing.assert_array_equal(w.numpy(), b, err_msg=w.path)
    # The same through a dataset of (features, target, weight) triples.
    zeros = tf.data.Dataset.from_tensors((f, y, np.zeros(32, np.float32)))
    assert m.fit(zeros, epochs=1, verbose=0).history["loss"] == [0.0]
    for w, b in zip(m.trainable_weights, before):
        np.testing.assert_array_equal(w.numpy(), b, err_msg=w.path)
    m.fit(f, y, sample_weight=np.ones(32, np.float32), batch_size=32, epochs=1, verbose=0)
    assert any((w.numpy() != b).any() for w, b in zip(m.trainable_weights, before))


def test_sample_weights_scale_the_loss_and_weight_the_metrics(trained):
    data, m, _ = trained
    test = data.test
    x = {"item_id": test.history}
    # Loss: the mean over the batch of weight * per-example loss (Keras's
    # sum_over_batch_size); the same negatives on both sides.
    q = m(x)
    samples = m.sample_negatives(tf.constant(test.target))
    per_example = m.sampled_loss(q, tf.constant(test.target), samples).numpy()
    w = np.linspace(0.0, 2.0, len(test)).astype(np.float32)
    want = float(np.sum(per_example.astype(np.float64) * w) / len(test))
    got = float(m._mean_loss(tf.constant(per_example), tf.constant(w)))
    assert got == pytest.approx(want, rel=1e-5)
    # Metrics: rows of weight 0 do not count, so half the rows at weight 1
    # give the recall of that half alone.
    half = np.arange(len(test)) % 2 == 0
    kept = test.take(half)
    only_half = m.evaluate(
        {"item_id": kept.history}, kept.target, batch_size=500, return_dict=True, verbose=0
    )
    weighted = m.evaluate(
        x,
        test.target,
        sample_weight=half.astype(np.float32),
        batch_size=500,
        return_dict=True,
        verbose=0,
    )
    everything = m.evaluate(x, test.target, batch_size=500, return_dict=True, verbose=0)
    assert weighted["recall_at_10"] == pytest.approx(only_half["recall_at_10"], abs=1e-6)
    assert weighted["recall_at_10"] != pytest.approx(everything["recall_at_10"], abs=1e-6)


def test_sample_weight_of_the_wrong_length_is_an_error(rng):
    m = model()
    m.compile()
    ds = tf.data.Dataset.from_tensors(
        (features(rng), tf.constant([1, 2, 3, 4, 5, 6]), tf.ones([4]))
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="one value per example"):
        m.fit(ds, epochs=1, verbose=0)


def test_numpy_scalars_are_accepted_everywhere_a_number_is(rng):
    m = model(
        num_sampled=np.int64(7),
        min_sampled_id=np.int32(1),
        logits_temperature=np.float32(0.5),
        embedding_dims={"country": np.int64(4)},
    )
    assert (m.num_sampled, m.min_sampled_id) == (7, 1) and type(m.num_sampled) is int
    assert m.logits_temperature == pytest.approx(0.5)
    m.compile(top_k=np.int64(5), steps_per_execution=np.int32(1))
    assert m.top_k == 5
    _, ids = m.retrieve(m(features(rng)), np.int64(3))
    assert ids.shape == (6, 3)
    # The TF op wrappers the model calls take them too, with the same result.
    sampled, _, _ = ydnn_kernels.log_uniform_sample(np.int64(5), np.int32(50), min_id=np.int64(1))
    assert sampled.shape == (5,)
    args = (
        rng.standard_normal((4, 8)).astype(np.float32),
        rng.standard_normal((51, 8)).astype(np.float32),
        np.arange(1, 5),
        np.arange(10, 16),
        np.ones(4, np.float32),
        np.ones(6, np.float32),
    )
    np.testing.assert_array_equal(
        ydnn_kernels.sampled_softmax_loss(*args, temperature=np.float32(0.5)),
        ydnn_kernels.sampled_softmax_loss(*args, temperature=0.5),
    )


@pytest.mark.parametrize("ops", ["fused", "stock"])
@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf])
def test_bad_sample_weight_is_an_error_before_any_weight_moves(rng, ops, bad):
    # A NaN weight used to turn every trained weight NaN, silently; a
    # negative one ascends its example's loss. The check runs before the
    # update, so a refused batch leaves the model as it was.
    m = model(ops=ops)
    m.compile(optimizer=keras.optimizers.SGD(0.5))
    f = features(rng, batch=8)
    y = rng.integers(1, 51, 8).astype(np.int32)
    before = [w.numpy().copy() for w in m.trainable_weights]
    weight = np.ones(8, np.float32)
    weight[3] = bad
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"(?s)sample_weight must be finite and >= 0.*bad at\] \[3\]",
    ):
        m.fit(f, y, sample_weight=weight, batch_size=8, shuffle=False, verbose=0)
    for w, b in zip(m.trainable_weights, before):
        np.testing.assert_array_equal(w.numpy(), b, err_msg=w.path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="sample_weight must be finite"):
        m.evaluate(f, y, sample_weight=weight, batch_size=8, verbose=0)


def test_retrieve_refuses_a_non_finite_query(rng):
    # A NaN query scores every item NaN: top-k returned ids -1.
    m = model()
    q = m(features(rng)).numpy()
    q[2, 5] = np.nan
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"(?s)query must be finite.*6, 8.*bad at \[row, col\]\D+2, 5",
    ):
        m.retrieve(q, 3)
    with pytest.raises(ValueError, match=r"k must be an integer, got float 2\.5"):
        m.retrieve(q, 2.5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="query must be finite"):
        m.to_top_k_encoder(k=3)({**features(rng), "age": np.full(6, np.inf, np.float32)})


def test_an_empty_batch_neither_trains_nor_counts_in_the_loss(rng):
    # 0 / 0 made its loss NaN, and the epoch's mean loss with it.
    m = model()
    m.compile()
    f = features(rng, batch=8)
    y = rng.integers(1, 51, 8).astype(np.int32)
    empty = tf.data.Dataset.from_tensors(({k: v[:0] for k, v in f.items()}, y[:0]))
    batches = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batches.append(logs["loss"])
    )
    hist = m.fit(
        empty.concatenate(tf.data.Dataset.from_tensors((f, y))), callbacks=[record], verbose=0
    )
    assert np.isfinite(hist.history["loss"][0]) and hist.history["loss"][0] > 0
    assert hist.history["loss"][0] == pytest.approx(batches[-1])
    assert all(np.isfinite(w.numpy()).all() for w in m.trainable_weights)
