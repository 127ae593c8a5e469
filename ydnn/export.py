"""Export a trained model as a TensorFlow SavedModel that needs no ydnn.

The serving function is rebuilt from the trained weights with stock TF ops
only (gather, masked mean, matmul + bias + activation per layer, matmul
against the item table, top-k), so the SavedModel loads in plain TensorFlow
or TF Serving without ydnn's custom-op library. Maths, for a padded history
`h [B, H]` (0 = padding, real ids first):

    x      = sum_j E[h_bj] * [h_bj != 0] / max(1, #real ids of row b)   [B, D]
    q      = act_L(... act_1(x W_1 + b_1) ... W_L + b_L)                 [B, D]
    scores = q E[min_id:]^T   (seen items of the row set to -inf)       [B, V - min_id]
    ids, s = top_k(scores, k); ids += min_id

Signature `serving_default(history: int32 [B, H])` returns `ids` (int64
model ids `[B, k]`), `item_ids` (the original ids `[B, k]`) and `scores`
(float32 `[B, k]`). The item mapping is also written as `assets/items.txt`.
"""

import os

import numpy as np
import tensorflow as tf

ACTIVATIONS = {
    "linear": tf.identity,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
    "gelu": tf.nn.gelu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
}


def _activation(fn):
    import keras

    if fn is None:
        return tf.identity
    name = keras.activations.serialize(fn)
    name = name if isinstance(name, str) else name.get("config", name.get("class_name"))
    if name not in ACTIVATIONS:
        raise ValueError(
            f"export: activation {name!r} has no stock-TF mapping here; "
            f"supported: {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def check_exportable(model):
    """Raises ValueError unless `model` has a shape export serves.

    Those are the models `ydnn train` builds with mean pooling: one pooled
    history, a plain MLP.
    """
    from ydnn.layers import MLPBlock

    block = model.input_block
    if (
        block.continuous
        or len(block.categorical) != 1
        or block.categorical[0].name != model.candidate.name
    ):
        raise ValueError(
            "export supports models whose only input is the item history; this "
            f"one reads {[c.name for c in block.categorical + block.continuous]}"
        )
    if block.combiner != "mean":
        raise ValueError(f"export supports mean pooling, the model uses {block.combiner!r}")
    if not isinstance(model.top_block, MLPBlock) or any(model.top_block.extra_layers):
        raise ValueError("export supports an MLPBlock top block without dropout/normalization")
    if model.post is not None:
        raise ValueError("export does not support a `post` layer yet")


class _Serving(tf.Module):
    def __init__(self, model, item_ids, k, exclude_seen):
        super().__init__()
        self.table = tf.Variable(model.item_table.numpy(), trainable=False, name="items")
        pool_table = model.input_block.table(model.candidate.table_name)
        self.shared = pool_table is model.item_table
        self.pool_table = (
            self.table
            if self.shared
            else tf.Variable(np.asarray(pool_table.numpy()), trainable=False, name="history_items")
        )
        self.kernels, self.biases, self.acts = [], [], []
        for i, dense in enumerate(model.top_block.dense_layers):
            self.kernels.append(
                tf.Variable(dense.kernel.numpy(), trainable=False, name=f"kernel_{i}")
            )
            self.biases.append(
                tf.Variable(dense.bias.numpy(), trainable=False, name=f"bias_{i}")
                if dense.use_bias
                else None
            )
            self.acts.append(_activation(dense.activation))
        self.min_id = int(model.min_sampled_id)
        self.k = int(k)
        self.exclude_seen = bool(exclude_seen)
        ids = np.asarray(item_ids)
        dtype = tf.string if ids.dtype.kind in "USO" else tf.as_dtype(ids.dtype)
        self.item_ids = tf.constant(ids.astype(str) if dtype == tf.string else ids, dtype)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="history")])
    def serve(self, history):
        real = tf.not_equal(history, 0)
        rows = tf.gather(self.pool_table, history)
        weights = tf.cast(real, tf.float32)[:, :, None]
        count = tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        x = tf.reduce_sum(rows * weights, axis=1) / count
        for kernel, bias, act in zip(self.kernels, self.biases, self.acts):
            x = tf.matmul(x, kernel)
            x = act(x + bias if bias is not None else x)
        scores = tf.matmul(x, self.table[self.min_id :], transpose_b=True)
        if self.exclude_seen:
            where = tf.where(history >= self.min_id if self.min_id > 0 else real)
            cols = tf.cast(tf.gather_nd(history, where), tf.int64) - self.min_id
            idx = tf.stack([where[:, 0], cols], axis=1)
            scores = tf.tensor_scatter_nd_update(
                scores, idx, tf.fill(tf.shape(cols), tf.constant(-np.inf, tf.float32))
            )
        top, pos = tf.math.top_k(scores, k=self.k)
        ids = tf.cast(pos, tf.int64) + self.min_id
        return {"ids": ids, "item_ids": tf.gather(self.item_ids, ids), "scores": top}


def export_saved_model(trained, out_dir, k=10, exclude_seen=True, overwrite=False):
    """Write a stock-TF SavedModel of `trained` to `out_dir` and check it.

    The written model is loaded back and compared with the Keras model's own
    retrieval on the stored user histories (same ids; scores within 1e-4
    relative), so an export that disagrees with the model never passes. It
    is written and checked in a temporary directory beside `out_dir` and
    renamed into place (`ydnn.atomic_dir.write_directory`): `out_dir`
    gets a complete, checked SavedModel or is left as it was.

    Args:
        trained: `ydnn.trained_model.TrainedModel`.
        out_dir: directory for the SavedModel (created; must be empty).
        k: items returned per row; `k + max_history <= catalog` with
            `exclude_seen`.
        exclude_seen: drop the history's own items from the results.
        overwrite: replace an `out_dir` that holds a SavedModel.

    Returns:
        `out_dir`.

    Raises:
        ValueError: a model shape export does not support, a bad `k`, an
            `out_dir` that is a file or not empty (without `overwrite`), or
            a check that fails.
    """
    from ydnn.atomic_dir import write_directory
    from ydnn.trained_model import SAVED_MODEL_FILES

    model = trained.model
    check_exportable(model)
    limit = max_k(trained, exclude_seen)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        catalog = model.max_id - model.min_sampled_id + 1
        raise ValueError(
            f"k must be in [1, {limit}] (catalog of {catalog} items"
            f"{', less a full history' if exclude_seen else ''}), got {k!r}"
        )

    def write(tmp):
        module = _Serving(model, trained.item_ids, k, exclude_seen)
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        with open(os.path.join(tmp, "assets", "items.txt"), "w") as f:
            f.write("\n".join(str(i) for i in trained.item_ids[1:]) + "\n")
        _verify(trained, tmp, k, exclude_seen)

    write_directory(out_dir, write, overwrite, owned=SAVED_MODEL_FILES, what="a SavedModel")
    return out_dir


def max_k(trained, exclude_seen=True):
    """The largest `k` an export serves: the catalog, less a full history if excluded."""
    model = trained.model
    return model.max_id - model.min_sampled_id + 1 - (trained.max_history if exclude_seen else 0)


def _verify(trained, out_dir, k, exclude_seen, rows=64):
    model = trained.model
    H = trained.max_history
    n = min(rows, len(trained.user_ids))
    history = np.zeros((n, H), np.int32)
    for u in range(n):
        recent = trained.sequence(u)[-H:]
        history[u, : len(recent)] = recent
    served = tf.saved_model.load(out_dir).signatures["serving_default"](
        history=tf.constant(history)
    )
    query = model({model.candidate.name: tf.constant(history)}, training=False)
    exclude = tf.RaggedTensor.from_tensor(tf.constant(history), padding=0) if exclude_seen else None
    scores, _ids = model.retrieve(query, k, exclude)
    got_s, want_s = served["scores"].numpy(), scores.numpy()
    if not np.allclose(got_s, want_s, rtol=1e-4, atol=1e-5):
        raise ValueError(
            f"export check failed: served scores differ from the model's by up to "
            f"{np.abs(got_s - want_s).max():.3g}"
        )
    # Ids may differ only between tied scores: the served ids must really
    # score what the SavedModel says (then they are a valid top-k).
    rows_of_ids = tf.gather(model.item_table, served["ids"]).numpy()
    rescored = np.einsum("bd,bkd->bk", query.numpy(), rows_of_ids)
    if not np.allclose(rescored, got_s, rtol=1e-4, atol=1e-5):
        raise ValueError(
            "export check failed: served ids do not score what the SavedModel "
            "reports under the Keras model"
        )
