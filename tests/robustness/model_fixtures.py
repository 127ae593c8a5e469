"""What the model catalogue (cases_model.py) builds its cases from.

Importing this module imports neither TensorFlow nor ydnn: the helpers
import them when a case runs; the tiny model, its data and its saved file
are made once per worker process and shared.
"""

import atexit
import functools
import json
import os
import shutil
import tempfile
import zipfile

import numpy as np

from tests.robustness.catalogue import Case

V, D, B = 51, 8, 8  # ids 0..50 (0 is padding), item width, batch
ONES = np.ones((2, D), np.float32)  # two finite queries


@functools.lru_cache(maxsize=None)
def _tmp():
    """This worker's scratch directory (made on first use, removed at exit)."""
    path = tempfile.mkdtemp(prefix="ydnn-cases-model-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _schema():
    from tests.model_cases import history_schema

    return history_schema(num_items=V - 1)


def _new(**kw):
    import ydnn

    kw.setdefault("top_block", ydnn.MLPBlock([16, D], no_activation_last_layer=True))
    kw.setdefault("num_sampled", 10)
    kw.setdefault("min_sampled_id", 1)
    return ydnn.YoutubeDNNRetrievalModelV2(kw.pop("schema", None) or _schema(), **kw)


@functools.lru_cache(maxsize=None)
def _model(ops="fused"):
    model = _new(ops=ops)
    model.compile(optimizer="adam")
    return model


@functools.lru_cache(maxsize=None)
def _data():
    from tests.model_cases import features

    rng = np.random.default_rng(0)
    return features(rng, batch=B, num_items=V - 1), rng.integers(1, V, B).astype(np.int32)


def _x(**changes):
    x, _ = _data()
    out = dict(x, **changes)
    return {k: v for k, v in out.items() if v is not None}


def _fit(x=None, y=None, ops="fused", warm=False, model=None, **kw):
    """One epoch of the shared model (after one good epoch if `warm`)."""
    x0, y0 = _data()
    model = model or _model(ops)
    if warm:
        _warmed(ops)
    return model.fit(
        x0 if x is None else x,
        y0 if y is None else y,
        batch_size=B,
        epochs=1,
        shuffle=False,
        verbose=0,
        **kw,
    )


@functools.lru_cache(maxsize=None)
def _warmed(ops):
    return _fit(ops=ops)


def _fit_new(x=None, y=None):
    """One epoch of a fresh model: its first trace sees the static shapes."""
    model = _new()
    model.compile(optimizer="adam")
    return _fit(x, y, model=model)


def _weights(*values):
    return np.array(list(values) + [1.0] * (B - len(values)), np.float32)


@functools.lru_cache(maxsize=None)
def _saved():
    path = os.path.join(_tmp(), "m.keras")
    _fit()
    _model().save(path)
    return path


def _tampered(name, edit_config=None, edit_weights=None):
    """A copy of the saved model with its config or weights file changed."""
    path = os.path.join(_tmp(), name + ".keras")
    with zipfile.ZipFile(_saved()) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json" and edit_config:
                config = json.loads(data)
                edit_config(config)
                data = json.dumps(config)
            if item == "model.weights.h5" and edit_weights:
                data = edit_weights(data)
            dst.writestr(item, data)
    return path


def _load(path, **kw):
    import keras

    return keras.models.load_model(path, **kw)


def _set(section, key, value):
    def edit(config):
        (config["config"] if section == "config" else config[section])[key] = value

    return edit


def _ctor(entry, make, kwargs, match, raises=ValueError):
    return Case(f"model/{entry}", lambda: make(**kwargs), raises=raises, match=match)


def _layer(name):
    """A constructor by name: `"MLPBlock"` (in ydnn) or a dotted path."""
    return lambda **kw: _attr(name if "." in name else "ydnn." + name)(**kw)


def _attr(dotted):
    import importlib

    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _input_block(**kw):
    from ydnn.layers import InputBlock

    return InputBlock(kw.pop("schema", None) or _schema(), **kw)


def _truncated():
    path = os.path.join(_tmp(), "truncated.keras")
    with open(_saved(), "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path


def _widened(config):
    config["config"]["top_block"]["config"]["dimensions"] = [16, 16]
    config["config"]["embedding_dims"]["item_id"] = 16


def _sample(num_sampled, max_id, **kw):
    import ydnn_kernels

    return ydnn_kernels.log_uniform_sample(num_sampled, max_id, **kw)


def _softmax(**kw):
    import ydnn_kernels

    rng = np.random.default_rng(1)
    return ydnn_kernels.sampled_softmax_loss(
        rng.standard_normal((4, D)).astype(np.float32),
        rng.standard_normal((V, D)).astype(np.float32),
        np.arange(1, 5),
        np.arange(10, 16),
        np.ones(4, np.float32),
        np.ones(6, np.float32),
        **kw,
    )


def _tf_error(name):
    """The exception class by name (TensorFlow's imported only when a case runs)."""
    if name == "InvalidArgumentError":
        import tensorflow as tf

        return tf.errors.InvalidArgumentError
    return {"ValueError": ValueError, "OSError": OSError}[name]


def _raising(name):
    if name != "InvalidArgumentError":
        return _tf_error(name)
    # Case.evaluate uses isinstance(e, raises): an ABC whose check imports TF late.
    import abc

    class _Meta(abc.ABCMeta):
        def __instancecheck__(cls, obj):
            return isinstance(obj, _tf_error(name))

    return _Meta(name, (), {})


def _is(want):
    """A check: the result equals `want` (floats to 1e-6 relative)."""

    def check(got):
        if isinstance(want, float):
            np.testing.assert_allclose(got, want, rtol=1e-6)
        else:
            assert got == want, f"got {got!r}, want {want!r}"

    return check


def _shape(result, i=None):
    return tuple((result if i is None else result[i]).shape)


def _empty_batch():
    """A dataset of one batch of 0 rows (a filter can leave one)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensors(({k: v[:0] for k, v in _x().items()}, _data()[1][:0]))


def _compiled(**kw):
    model = _new()
    model.compile(**kw)
    return model


def _round_trip():
    """(loaded model's queries, saved model's queries) of the same features."""
    model = _new(logits_temperature=0.5)
    model.compile(optimizer="adam")
    path = os.path.join(_tmp(), "round-trip.keras")
    model.save(path)
    return _load(path).predict(_x(), verbose=0), model.predict(_x(), verbose=0)


def _ragged():
    import tensorflow as tf

    return tf.RaggedTensor.from_tensor(_x()["item_id"], padding=0)
