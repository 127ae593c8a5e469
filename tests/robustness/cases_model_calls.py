"""Catalogue: calling the Keras model and what surrounds it with bad and
valid-edge input: fit / evaluate batches, retrieve and top-k, loading
tampered or truncated files, the TF op wrappers, transforms and metric
functions (see catalogue.py).

Importing this module imports neither TensorFlow nor ydnn: every `run`
builds what it needs (model_fixtures.py).
"""

import os

import numpy as np

from tests.robustness.catalogue import Case
from tests.robustness.model_fixtures import (
    ONES,
    B,
    D,
    V,
    _attr,
    _compiled,
    _data,
    _empty_batch,
    _fit,
    _fit_new,
    _input_block,
    _is,
    _layer,
    _load,
    _model,
    _new,
    _ragged,
    _raising,
    _round_trip,
    _sample,
    _set,
    _shape,
    _softmax,
    _tampered,
    _tmp,
    _truncated,
    _weights,
    _widened,
    _x,
)

M = "YoutubeDNNRetrievalModelV2"

# Errors raised inside the step: TensorFlow's InvalidArgumentError.
BAD_FIT = [  # (what, thunk, exception name, match)
    (
        "missing-column",
        lambda: _fit(_x(country=None)),
        "ValueError",
        r"InputBlock: missing feature 'country'; got \['age', 'item_id'\]",
    ),
    (
        "float-ids",
        lambda: _fit(_x(item_id=_x()["item_id"].astype(np.float32))),
        "ValueError",
        r"feature 'item_id' must hold integer ids, got float32",
    ),
    (
        "ids-out-of-range",
        lambda: _fit(_x(item_id=np.full((B, 5), V, np.int32))),
        "InvalidArgumentError",
        r"ids\[0, 0\] = 51 is out of range \[0, 51\)",
    ),
    (
        "negative-ids",
        lambda: _fit(_x(item_id=np.full((B, 5), -3, np.int32))),
        "InvalidArgumentError",
        r"ids\[0, 0\] = -3 is out of range \[0, 51\)",
    ),
    (
        "stock-ids-out-of-range",
        lambda: _fit(_x(item_id=np.full((B, 5), V, np.int32)), ops="stock"),
        "InvalidArgumentError",
        r"InputBlock: ids of feature item_id must be in \[0, 51\).*51 51",
    ),
    # Static shapes: the first trace of a fresh model sees them.
    (
        "ids-rank-3",
        lambda: _fit_new(_x(item_id=_x()["item_id"][:, :, None])),
        "ValueError",
        r"InputBlock: feature 'item_id' must be \[B\] or \[B, L\], got shape \((None|8), 5, 1\)",
    ),
    (
        "scalar-feature-two-columns",
        lambda: _fit_new(_x(country=np.zeros((B, 2), np.int32))),
        "ValueError",
        r"InputBlock: feature country \(one id per example\) must be \[B\] or \[B, 1\], "
        r"got shape \((None|8), 2\)",
    ),
    (
        "continuous-three-columns",
        lambda: _fit_new(_x(age=np.zeros((B, 3), np.float32))),
        "ValueError",
        r"InputBlock: continuous feature age must be \[B\] or \[B, 1\], got shape \((None|8), 3\)",
    ),
    (
        "targets-two-columns",
        lambda: _fit_new(y=np.ones((B, 2), np.int32)),
        "ValueError",
        r"the targets \(y\) must be \[B\] or \[B, 1\], got shape \((None|8), 2\)",
    ),
    # After a good batch Keras retraces with the rank unknown: checked in the step.
    (
        "ids-rank-3-after-a-good-batch",
        lambda: _fit(_x(item_id=_x()["item_id"][:, :, None]), warm=True),
        "InvalidArgumentError",
        r"list feature item_id must be \[B, L\]; got shape\D+8 5 1",
    ),
    (
        "scalar-feature-two-columns-after-a-good-batch",
        lambda: _fit(_x(country=np.zeros((B, 2), np.int32)), warm=True),
        "InvalidArgumentError",
        r"feature country \(one id per example\) must be \[B\] or \[B, 1\]; got shape\D+8 2",
    ),
    (
        "continuous-three-columns-after-a-good-batch",
        lambda: _fit(_x(age=np.zeros((B, 3), np.float32)), warm=True),
        "InvalidArgumentError",
        r"continuous feature age must be \[B\] or \[B, 1\]; got shape\D+8 3",
    ),
    (
        "targets-two-columns-after-a-good-batch",
        lambda: _fit(y=np.ones((B, 2), np.int32), warm=True),
        "InvalidArgumentError",
        r"the targets \(y\) must be \[B\] or \[B, 1\]; got shape\D+8 2",
    ),
    (
        "continuous-strings",
        lambda: _model()(_x(age=np.array(["a"] * B))),
        "ValueError",
        r"InputBlock: continuous feature 'age' must be numbers, got string",
    ),
    (
        "float-targets",
        lambda: _fit(y=np.ones(B, np.float32)),
        "ValueError",
        r"the targets \(y\) must be integer item ids, got float32",
    ),
    (
        "targets-out-of-range",
        lambda: _fit(y=np.full(B, V, np.int32)),
        "InvalidArgumentError",
        r"positive_ids\[0\] = 51 is outside \[0, 51\)",
    ),
    (
        "stock-targets-negative",
        lambda: _fit(y=np.full(B, -1, np.int32), ops="stock"),
        "InvalidArgumentError",
        r"the targets \(y\) must be ids in \[0, 51\).*-1",
    ),
    (
        "sample_weight-nan",
        lambda: _fit(sample_weight=_weights(np.nan)),
        "InvalidArgumentError",
        r"sample_weight must be finite and >= 0; shape\] \[8\] \[bad at\] \[0\] \[values\] \[nan\]",
    ),
    (
        "sample_weight-negative",
        lambda: _fit(sample_weight=_weights(1.0, -2.0)),
        "InvalidArgumentError",
        r"sample_weight must be finite and >= 0.*\[bad at\] \[1\] \[values\] \[-2\]",
    ),
    (
        "sample_weight-inf",
        lambda: _fit(sample_weight=_weights(np.inf)),
        "InvalidArgumentError",
        r"sample_weight must be finite and >= 0.*\[values\] \[inf\]",
    ),
    (
        "evaluate-sample_weight-nan",
        lambda: _model().evaluate(*_data(), sample_weight=_weights(np.nan), verbose=0),
        "InvalidArgumentError",
        r"sample_weight must be finite and >= 0.*nan",
    ),
    (
        "no-targets",
        lambda: _model().fit(_data()[0], epochs=1, verbose=0),
        "ValueError",
        r"\(features, target ids\) pairs",
    ),
    (
        "predict-missing-column",
        lambda: _model().predict(_x(age=None), verbose=0),
        "ValueError",
        r"InputBlock: missing feature 'age'",
    ),
    (
        "call-not-a-dict",
        lambda: _model()(np.zeros((B, 5), np.int32)),
        "ValueError",
        r"InputBlock: inputs must be a dict of features, got",
    ),
]
BAD_RETRIEVE = [  # (what, thunk, exception name, match)
    (
        "k-zero",
        lambda: _model().retrieve(np.ones((2, D), np.float32), 0),
        "ValueError",
        r"k must be in \[1, 50\] .*got 0",
    ),
    (
        "k-above-catalog",
        lambda: _model().retrieve(np.ones((2, D), np.float32), 51),
        "ValueError",
        r"k must be in \[1, 50\] .*got 51",
    ),
    (
        "k-float",
        lambda: _model().retrieve(np.ones((2, D), np.float32), 2.5),
        "ValueError",
        r"k must be an integer, got float 2\.5",
    ),
    (
        "k-bool",
        lambda: _model().retrieve(np.ones((2, D), np.float32), True),
        "ValueError",
        r"k must be an integer, got bool True",
    ),
    (
        "query-nan",
        lambda: _model().retrieve(np.r_[ONES[:1], np.full((1, D), np.nan, np.float32)], 3),
        "InvalidArgumentError",
        r"query must be finite .*shape\D+2, 8.*bad at \[row, col\]\D+1, 0.*nan",
    ),
    (
        "query-inf",
        lambda: _model().retrieve(np.full((1, D), np.inf, np.float32), 3),
        "InvalidArgumentError",
        r"query must be finite .*inf",
    ),
    (
        "query-wrong-width",
        lambda: _model().retrieve(np.ones((2, 5), np.float32), 3),
        "ValueError",
        r"query must be \[B, 8\] \(the item table's width\), got shape \(2, 5\)",
    ),
    (
        "query-int",
        lambda: _model().retrieve(np.ones((2, D), np.int32), 3),
        "ValueError",
        r"query must be float \[B, 8\] embeddings, got int32",
    ),
    (
        "encoder-k-zero",
        lambda: _model().to_top_k_encoder(k=0),
        "ValueError",
        r"k must be in \[1, 50\], got 0",
    ),
    (
        "encoder-k-float",
        lambda: _model().to_top_k_encoder(k=1.5),
        "ValueError",
        r"k must be an integer, got float 1\.5",
    ),
    (
        "encoder-exclude_seen-str",
        lambda: _model().to_top_k_encoder(exclude_seen="yes"),
        "ValueError",
        r"exclude_seen must be True or False, got str 'yes'",
    ),
    (
        "encoder-of-a-non-model",
        lambda: _attr("ydnn.model.TopKEncoder")("model"),
        "ValueError",
        r"model must be a YoutubeDNNRetrievalModelV2, got str",
    ),
    (
        "top_k_items-min_id-float",
        lambda: _attr("ydnn.model.top_k_items")(ONES, _model().item_table, 3, min_id=1.5),
        "ValueError",
        r"min_id must be an integer, got float 1\.5",
    ),
]
BAD_LOAD = [  # (what, thunk, exception name, match)
    (
        "missing-file",
        lambda: _load(os.path.join(_tmp(), "absent.keras")),
        "ValueError",
        r"File not found: filepath=.*absent\.keras",
    ),
    ("truncated-file", lambda: _load(_truncated()), "ValueError", r"filepath=.*truncated\.keras"),
    (
        "config-num_sampled-float",
        lambda: _load(_tampered("t1", _set("config", "num_sampled", 5.5))),
        "ValueError",
        r"num_sampled must be an integer, got float 5\.5",
    ),
    (
        "config-temperature-negative",
        lambda: _load(_tampered("t2", _set("config", "logits_temperature", -1.0))),
        "ValueError",
        r"logits_temperature must be positive and finite, got -1\.0",
    ),
    (
        "compile-top_k-zero",
        lambda: _load(_tampered("t3", _set("compile_config", "top_k", 0))),
        "ValueError",
        r"top_k must be >= 1, got 0",
    ),
    (
        "truncated-weights",
        lambda: _load(_tampered("t4", edit_weights=lambda b: b[: len(b) // 2])),
        "OSError",
        r"truncated file",
    ),
    (
        "width-changed",
        lambda: _load(_tampered("t5", _widened)),
        "ValueError",
        r"could not be loaded.*dense_1",
    ),
]
BAD_WRAPPERS = [  # (what, thunk, match): ydnn_kernels' TF wrappers, all ValueError
    (
        "log_uniform_sample/num_sampled-float",
        lambda: _sample(5.5, 50),
        r"num_sampled must be an integer, got float 5\.5",
    ),
    (
        "log_uniform_sample/num_sampled-bool",
        lambda: _sample(True, 50),
        r"num_sampled must be an integer, got bool True",
    ),
    (
        "log_uniform_sample/max_id-float",
        lambda: _sample(5, 50.0),
        r"max_id must be an integer, got float 50\.0",
    ),
    (
        "log_uniform_sample/max_id-beyond-int64",
        lambda: _sample(5, 2**70),
        r"max_id must be <= 9223372036854775807, got 1180591620717411303424",
    ),
    (
        "log_uniform_sample/unique-str",
        lambda: _sample(5, 50, unique="yes"),
        r"unique must be True or False, got str 'yes'",
    ),
    (
        "log_uniform_sample/seed-float",
        lambda: _sample(5, 50, seed=1.5),
        r"seed must be an integer, got float 1\.5",
    ),
    (
        "sampled_softmax_loss/temperature-bool",
        lambda: _softmax(temperature=True),
        r"temperature must be a real number, got bool True",
    ),
    (
        "sampled_softmax_loss/temperature-str",
        lambda: _softmax(temperature="1"),
        r"temperature must be a real number, got str '1'",
    ),
    (
        "sampled_softmax_loss/temperature-nan",
        lambda: _softmax(temperature=np.float32("nan")),
        r"temperature must be positive and finite, got nan",
    ),
    (
        "sampled_softmax_loss/flag-str",
        lambda: _softmax(remove_accidental_hits="no"),
        r"remove_accidental_hits must be True or False, got str 'no'",
    ),
    (
        "sampled_softmax_loss/flag-int",
        lambda: _softmax(return_logits=1),
        r"return_logits must be True or False, got int 1",
    ),
]


P_LAST, P_RANDOM = "ydnn.transforms.PredictLast", "ydnn.transforms.PredictRandom"
VALID = [  # (entry, thunk, expected result): NumPy scalars and edge values that must work
    (f"{M}/num_sampled-np-int64", lambda: type(_new(num_sampled=np.int64(7)).num_sampled), int),
    (
        f"{M}/temperature-np-float32",
        lambda: _new(logits_temperature=np.float32(0.05)).logits_temperature,
        0.05,
    ),
    (f"{M}/min_sampled_id-np-int32", lambda: _new(min_sampled_id=np.int32(2)).min_sampled_id, 2),
    (
        f"{M}/embedding_dims-np-int64",
        lambda: _shape(_new(embedding_dims={"country": np.int64(6)}).input_block.table("country")),
        (10, 6),
    ),
    (
        f"{M}/separate_output_table-np-bool",
        lambda: _shape(_new(separate_output_table=np.bool_(True)).item_table),
        (V, D),
    ),
    (f"{M}/sampler_seed-np-uint32", lambda: _new(sampler_seed=np.uint32(5)).sampler_seed, 5),
    (
        "MLPBlock/dimensions-np-array",
        lambda: _layer("MLPBlock")(dimensions=np.array([16, 8])).dimensions,
        [16, 8],
    ),
    (
        "MLPBlock/dropout-np-float32",
        lambda: _layer("MLPBlock")(dimensions=[8], dropout=np.float32(0.25)).dropout,
        0.25,
    ),
    ("L2Norm/epsilon-np-float64", lambda: _layer("L2Norm")(epsilon=np.float64(1e-6)).epsilon, 1e-6),
    ("InputBlock/padding_id-np-int64", lambda: _input_block(padding_id=np.int64(0)).padding_id, 0),
    ("PredictRandom/seed-np-int64", lambda: _layer(P_RANDOM)(seed=np.int64(3)).seed, 3),
    (
        "LazyAdam/learning_rate-np-float32",
        lambda: float(_attr("ydnn.optimizers.LazyAdam")(np.float32(1e-3)).learning_rate.numpy()),
        1e-3,
    ),
    ("NDCGAtK/k-np-int64", lambda: _layer("ydnn.metrics.NDCGAtK")(k=np.int64(5)).name, "ndcg_at_5"),
    ("compile/top_k-np-int64", lambda: _compiled(top_k=np.int64(5)).top_k, 5),
    (
        "fit/zero-sample-weights",
        lambda: _fit(sample_weight=np.zeros(B, np.float32)).history["loss"],
        [0.0],
    ),
    (
        "fit/float64-weights-int64-target-column",
        lambda: np.isfinite(
            _fit(y=_data()[1][:, None].astype(np.int64), sample_weight=np.ones(B)).history["loss"]
        ).tolist(),
        [True],
    ),
    (
        "fit/ragged-history",
        lambda: np.isfinite(_fit(_x(item_id=_ragged())).history["loss"]).tolist(),
        [True],
    ),
    ("fit/empty-batch", lambda: _model().fit(_empty_batch(), verbose=0).history["loss"], [0.0]),
    ("call/empty-batch", lambda: _shape(_model()({k: v[:0] for k, v in _x().items()})), (0, D)),
    ("retrieve/k-np-int64", lambda: _shape(_model().retrieve(ONES, np.int64(3)), 1), (2, 3)),
    ("retrieve/empty-query", lambda: _shape(_model().retrieve(ONES[:0], 3), 1), (0, 3)),
    (
        "retrieve/k-whole-catalog",
        lambda: sorted(_model().retrieve(ONES[:1], 50)[1].numpy()[0].tolist()),
        list(range(1, V)),
    ),
    (
        "load/round-trip-predicts-the-same",
        lambda: float(np.abs(np.subtract(*_round_trip())).max()),
        0.0,
    ),
    (
        "log_uniform_sample/numpy-ints",
        lambda: _shape(_sample(np.int64(5), np.int32(50), min_id=np.int64(1)), 0),
        (5,),
    ),
    (
        "sampled_softmax_loss/np-float32-temperature",
        lambda: (
            _softmax(temperature=np.float32(0.5)).numpy() == _softmax(temperature=0.5).numpy()
        ).all(),
        True,
    ),
    (
        "sampled_softmax_loss/np-bool-flag",
        lambda: _shape(_softmax(in_batch_negatives=np.bool_(True))),
        (4,),
    ),
]


BAD_CALLS = [  # (entry, thunk, exception name, match): transforms and metric functions
    (
        "PredictLast/call-float-sequence",
        lambda: _layer(P_LAST)()({"item_id": np.ones((2, 3), np.float32)}),
        "ValueError",
        r"sequence feature 'item_id' must be integer ids \[B, L\].*got float32",
    ),
    (
        "PredictLast/call-empty-row",
        lambda: _layer(P_LAST)()({"item_id": np.zeros((2, 3), np.int32)}),
        "InvalidArgumentError",
        r"a row of 'item_id' has no ids",
    ),
    (
        "recall_at_k/k-above-columns",
        lambda: _attr("ydnn.metrics.recall_at_k")(np.arange(2), np.zeros((2, 10), np.int64), 11),
        "ValueError",
        r"k=11 but top_k_ids has only 10 columns",
    ),
]

CASES = (
    [
        Case(f"model/{group}/{what}", run, raises=_raising(err), match=match)
        for group, table in (("fit", BAD_FIT), ("retrieve", BAD_RETRIEVE), ("load", BAD_LOAD))
        for what, run, err, match in table
    ]
    + [
        Case(f"model/{what}", run, raises=ValueError, match=match)
        for what, run, match in BAD_WRAPPERS
    ]
    + [
        Case(f"model/{entry}", run, raises=_raising(err), match=match)
        for entry, run, err, match in BAD_CALLS
    ]
    + [Case(f"model/{entry}", run, check=_is(want)) for entry, run, want in VALID]
)
