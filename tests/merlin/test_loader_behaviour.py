"""ydnn.Loader's behaviour where Merlin's loader sets the expectation: files
opened once per pass, peek, map arguments, embeddings in row order, the
validation batch size, padded continuous lists."""

import keras
import numpy as np
import pyarrow.parquet as pq
import pytest

import ydnn as mm
from tests.merlin.fixtures import loader_rows, write_sequence_testing
from ydnn import Tags


def test_each_file_is_opened_once_per_pass(tmp_path, monkeypatch):
    d = write_sequence_testing(str(tmp_path / "d"), "json", num_rows=200, files=2, row_group_size=5)
    data = mm.Dataset(d)
    assert data.npartitions == 40
    opened = []
    real = pq.ParquetFile

    def counting(path, *args, **kwargs):
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", counting)
    assert sum(b.n for b in mm.Loader(data, batch_size=16, seed=0).numpy_batches()) == 200
    assert len(opened) == 2, "reopening per row group made an epoch quadratic in row groups"


def test_peek_does_not_move_the_epochs(data_dir):
    data = mm.Dataset(data_dir)
    plain, peeked = mm.Loader(data, batch_size=10, seed=3), mm.Loader(data, batch_size=10, seed=3)
    first, _ = peeked.peek()
    rows, _ = loader_rows(plain)
    assert rows == loader_rows(peeked)[0]
    assert int(first["test_user_id"][0]) == rows[0][0]


def test_map_gets_merlin_arguments_without_targets(data_dir):
    data = mm.Dataset(data_dir)

    def two_arguments(features, targets):  # Merlin calls map functions as fn(*batch)
        assert targets is None
        return features, features["test_user_id"]

    x, y = mm.Loader(data, batch_size=5, shuffle=False).map(two_arguments).peek()
    np.testing.assert_array_equal(y.numpy(), x["test_user_id"].numpy())
    x, y = mm.Loader(data, batch_size=5, shuffle=False, transforms=[lambda f: f]).peek()
    assert y is None and len(x["test_user_id"]) == 5


def test_embeddings_from_a_shuffled_loader_keep_its_transforms(data_dir):
    data = mm.Dataset(data_dir)
    data.schema = data.schema.remove_by_tag(Tags.CONTINUOUS)
    model = mm.YoutubeDNNRetrievalModelV2(
        schema=data.schema, top_block=mm.MLPBlock([32]), num_sampled=20
    )
    pre = mm.SequencePredictLast(schema=data.schema)
    shuffled = model.query_embeddings(mm.Loader(data, 20, shuffle=True).map(pre)).compute()
    ordered = model.query_embeddings(mm.Loader(data, 20, shuffle=False).map(pre)).compute()
    np.testing.assert_array_equal(shuffled.to_numpy(), ordered.to_numpy())
    whole = model.query_embeddings(mm.Loader(data, 20, shuffle=False)).compute()
    assert not np.allclose(whole.to_numpy(), ordered.to_numpy()), "the cut reached the model"


def test_validation_data_is_batched_like_the_training_data(data_dir):
    data = mm.Dataset(data_dir)
    data.schema = data.schema.remove_by_tag(Tags.CONTINUOUS)
    model = mm.YoutubeDNNRetrievalModelV2(
        schema=data.schema, top_block=mm.MLPBlock([32]), num_sampled=20
    )
    model.compile()
    seen = []

    class Count(keras.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            seen.append(batch)

    model.fit(
        data,
        batch_size=50,
        epochs=1,
        validation_data=data,
        callbacks=[Count()],
        pre=mm.SequencePredictLast(schema=data.schema),
        verbose=0,
    )
    assert len(seen) == 3  # 103 rows in batches of 50, not Keras's default 32


def test_a_padded_continuous_list_is_refused_by_name_in_fit(data_dir):
    data = mm.Dataset(data_dir)
    model = mm.YoutubeDNNRetrievalModelV2(
        schema=data.schema, top_block=mm.MLPBlock([32]), num_sampled=20
    )
    model.compile()
    with pytest.raises(
        ValueError, match="continuous list feature 'item_age_days_norm' came padded"
    ):
        model.fit(
            mm.Loader(data, 50, lists="padded"),
            pre=mm.SequencePredictLast(schema=data.schema),
            verbose=0,
        )


def test_batch_predict_equals_the_top_k_encoder_row_by_row(data_dir):
    data = mm.Dataset(data_dir)
    data.schema = data.schema.remove_by_tag(Tags.CONTINUOUS)
    model = mm.YoutubeDNNRetrievalModelV2(
        schema=data.schema, top_block=mm.MLPBlock([32]), num_sampled=20, min_sampled_id=1
    )
    scores, ids = model.batch_predict(mm.Loader(data, 25, shuffle=True), k=7)
    assert scores.shape == ids.shape == (103, 7) and ids.min() >= 1
    first, _ = mm.Loader(data, 10, shuffle=False).peek()
    want_scores, want_ids = model.to_top_k_encoder(k=7)(first)
    np.testing.assert_array_equal(ids[:10], want_ids.numpy())
    np.testing.assert_allclose(scores[:10], want_scores.numpy(), rtol=1e-6)
    assert (np.diff(scores, axis=1) <= 1e-6).all(), "each row best first"
