"""Export a trained model as a TensorFlow SavedModel that needs no ydnn.

The serving function is rebuilt from the trained weights with stock TF ops
only (gather, masked pooling, matmul + bias + activation per layer, matmul
against the item table, top-k), so the SavedModel loads in plain TensorFlow
or TF Serving without ydnn's custom-op library. Maths, for a padded history
`h [B, H]` (0 = padding, real ids first) with `n_b` real ids in row `b`:

    x      = c_b * sum_j E[h_bj] * [h_bj != 0]                          [B, D_0]
             c_b = 1 (sum), 1 / n_b (mean), 1 / sqrt(n_b) (sqrtn); 0 if n_b = 0
    z_l    = N_l(act_l(z_{l-1} W_l + b_l)),  z_0 = x,  q = P(z_L)          [B, D]
    C      = P(E_out[min_id:])                                          [V - min_id, D]
    scores = q C^T   (seen items of the row set to -inf)                [B, V - min_id]
    ids, s = top_k(scores, k); ids += min_id

`E` is the history's input table and `E_out` the scored table (the same one
unless `separate_output_table`). `c_b` is computed in float64 and rounded
once, as the fused `embedding_pool` kernel does, so an empty history pools
to zeros whatever the combiner. `N_l` is the MLP layer's normalization in
inference mode (`LayerNormalization`, or `BatchNormalization` with its
moving statistics; dropout is the identity); `P` is the model's `post`,
the identity or `L2Norm`: `v / sqrt(max(|v|^2, epsilon))`. The candidate
rows `C` go through `P` once, at export.

With `fused_top_k=True` the last two lines run as one `ydnn_kernels.
topk_scores` op (the same ids in the same order, no `[B, V]` scores, the
table read once per batch): faster serving, but the SavedModel then needs
ydnn's op library, loaded before `tf.saved_model.load` by `import
ydnn_kernels.topk_scores_op`. The stock-op export stays the portable
default. In that variant a slot no item can fill (a history that excludes
all but fewer than `k` items) has id -1, the padding's item id and score
-inf; in the stock one it holds an excluded item at -inf.

Signature `serving_default(history: int32 [B, H])` returns `ids` (int64
model ids `[B, k]`), `item_ids` (the original ids `[B, k]`) and `scores`
(float32 `[B, k]`). The item mapping is also written as `assets/items.txt`.

With `index=`, an approximate index over the same candidate rows `C`
(`ydnn.ann_index.AnnIndex`, model ids `min_id..V-1`) is written beside it
as `ann_index/`, checked the same way: on the stored histories every id it
returns must be a real, unexcluded item scored as the model scores it, and
its recall@k against the exact top-k is recorded in `ann_index/ann.json`.
"""

import os

import numpy as np
import tensorflow as tf

# The combiners `_Serving.pool` implements (all of InputBlock's today).
POOLINGS = ("sum", "mean", "sqrtn")

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


def _extra_kind(layer):
    """What an MLPBlock extra layer is at inference: "identity", "layer_norm" or "batch_norm".

    Raises:
        ValueError: a layer export cannot rebuild exactly, naming it.
    """
    import keras

    if isinstance(layer, keras.layers.Dropout):
        return "identity"
    # Only the last-axis form MLPBlock builds (of its 2-D input, axis 1 is
    # the last): the stock ops below assume it.
    if (
        type(layer) is keras.layers.LayerNormalization
        and _axes(layer.axis) in ([-1], [1])
        and not getattr(layer, "rms_scaling", False)
    ):
        return "layer_norm"
    if type(layer) is keras.layers.BatchNormalization and layer.axis in (-1, 1):
        return "batch_norm"
    raise ValueError(
        f"export cannot rebuild the top block's {type(layer).__name__} layer {layer.name!r}; "
        "it supports Dropout and last-axis LayerNormalization / BatchNormalization"
    )


def _axes(axis):
    """A Keras layer's `axis` as a list of ints (an int before the layer is built)."""
    return [int(a) for a in axis] if isinstance(axis, (list, tuple)) else [int(axis)]


def check_exportable(model):
    """Raises ValueError unless `model` has a shape export serves.

    Those are the models `ydnn train` builds: one item history pooled by
    mean, sqrtn or sum, a tied or separate output table, an `MLPBlock` top
    block (dropout, layer or batch normalization included) and no `post`
    or `ydnn.L2Norm`.
    """
    from ydnn.layers import L2Norm, MLPBlock

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
    if block.padding_id != 0:
        raise ValueError(
            f"export serves 0-padded histories; the model's InputBlock pads with {block.padding_id}"
        )
    if block.combiner not in POOLINGS:
        raise ValueError(
            f"export supports {sorted(POOLINGS)} pooling, the model uses {block.combiner!r}"
        )
    top = model.top_block
    if not isinstance(top, MLPBlock):
        raise ValueError(
            f"export supports an MLPBlock top block, the model has {type(top).__name__}"
        )
    for dense, extra in zip(top.dense_layers, top.extra_layers):
        _activation(dense.activation)
        for layer in extra:
            _extra_kind(layer)
    # The exact class: a subclass may compute something else.
    if model.post is not None and type(model.post) is not L2Norm:
        raise ValueError(
            f"export supports no post layer or ydnn.L2Norm; the model's post is "
            f"{type(model.post).__name__} {model.post.name!r}"
        )


def _float32(value, name):
    """A frozen float32 copy of a Keras weight (or array), named `name`."""
    value = value.numpy() if hasattr(value, "numpy") else value
    return tf.Variable(np.asarray(value, np.float32), trainable=False, name=name)


def _l2_normalize(x, epsilon):
    """`ydnn.L2Norm` on stock ops: rows over `sqrt(max(|row|^2, epsilon))`."""
    sq = tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)
    return x * tf.math.rsqrt(tf.maximum(sq, tf.constant(epsilon, tf.float32)))


class _LayerNorm(tf.Module):
    """Inference `keras.layers.LayerNormalization` in Keras's own order of operations."""

    def __init__(self, layer, name):
        super().__init__(name=name)
        self.axis = _axes(layer.axis)
        self.epsilon = float(layer.epsilon)
        self.gamma = None if layer.gamma is None else _float32(layer.gamma, "gamma")
        self.beta = None if layer.beta is None else _float32(layer.beta, "beta")

    def __call__(self, x):
        mean, variance = tf.nn.moments(x, axes=list(self.axis), keepdims=True)
        inv = tf.math.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        shift = -mean * inv
        if self.beta is not None:
            shift = shift + self.beta
        return x * inv + shift


class _BatchNorm(tf.Module):
    """Inference `keras.layers.BatchNormalization`: its moving statistics, Keras's op."""

    def __init__(self, layer, name):
        super().__init__(name=name)
        self.epsilon = float(layer.epsilon)
        self.mean = _float32(layer.moving_mean, "moving_mean")
        self.variance = _float32(layer.moving_variance, "moving_variance")
        self.gamma = None if layer.gamma is None else _float32(layer.gamma, "gamma")
        self.beta = None if layer.beta is None else _float32(layer.beta, "beta")

    def __call__(self, x):
        return tf.nn.batch_normalization(
            x, self.mean, self.variance, self.beta, self.gamma, self.epsilon
        )


class _Serving(tf.Module):
    def __init__(self, model, item_ids, k, exclude_seen, fused_top_k=False):
        super().__init__()
        self.fused_top_k = bool(fused_top_k)
        pool_table = model.input_block.table(model.candidate.table_name)
        self.combiner = model.input_block.combiner
        self.post_epsilon = None if model.post is None else float(model.post.epsilon)
        # The scored table: the model's own dtype for the fused op (it reads
        # 16-bit rows in place), float32 for stock TF (its CPU matmul has no
        # mixed 16/32-bit form; a cast per request would move the table twice).
        candidates = model.item_table.numpy()
        if self.post_epsilon is not None:
            candidates = tf.constant(candidates.astype(np.float32))
            candidates = _l2_normalize(candidates, self.post_epsilon).numpy()
        if not self.fused_top_k:
            candidates = candidates.astype(np.float32)
        self.table = tf.Variable(candidates, trainable=False, name="items")
        # The history's table keeps its dtype: the model pools 16-bit rows in
        # float32 and rounds the pooled row once to that dtype, and so does `pool`.
        self.pool_dtype = tf.as_dtype(pool_table.dtype)
        # Tied, without post and in one dtype, the scored table is the history's.
        self.shared = (
            pool_table is model.item_table
            and self.post_epsilon is None
            and self.table.dtype == self.pool_dtype
        )
        if self.shared:
            self.pool_table = self.table
        else:
            self.pool_table = tf.Variable(pool_table.numpy(), trainable=False, name="history_items")
        self.kernels, self.biases, self.acts, self.norms = [], [], [], []
        top = model.top_block
        for i, (dense, extra) in enumerate(zip(top.dense_layers, top.extra_layers)):
            self.kernels.append(_float32(dense.kernel, f"kernel_{i}"))
            self.biases.append(_float32(dense.bias, f"bias_{i}") if dense.use_bias else None)
            self.acts.append(_activation(dense.activation))
            steps = []
            for j, layer in enumerate(extra):
                kind = _extra_kind(layer)
                if kind == "layer_norm":
                    steps.append(_LayerNorm(layer, f"layer_norm_{i}_{j}"))
                elif kind == "batch_norm":
                    steps.append(_BatchNorm(layer, f"batch_norm_{i}_{j}"))
            self.norms.append(steps)
        self.min_id = int(model.min_sampled_id)
        self.k = int(k)
        self.exclude_seen = bool(exclude_seen)
        ids = np.asarray(item_ids)
        dtype = tf.string if ids.dtype.kind in "USO" else tf.as_dtype(ids.dtype)
        self.item_ids = tf.constant(ids.astype(str) if dtype == tf.string else ids, dtype)

    def pool(self, history):
        real = tf.not_equal(history, 0)
        rows = tf.cast(tf.gather(self.pool_table, history), tf.float32)
        total = tf.reduce_sum(rows * tf.cast(real, tf.float32)[:, :, None], axis=1)
        if self.combiner != "sum":
            # The scale in float64, rounded once, 0 for an empty row: the
            # fused embedding_pool kernel's `bag_scale`.
            count = tf.reduce_sum(tf.cast(real, tf.float64), axis=1, keepdims=True)
            denom = count if self.combiner == "mean" else tf.sqrt(count)
            total *= tf.cast(tf.math.divide_no_nan(tf.ones_like(denom), denom), tf.float32)
        if self.pool_dtype == tf.float32:
            return total
        return tf.cast(tf.cast(total, self.pool_dtype), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="history")])
    def serve(self, history):
        real = tf.not_equal(history, 0)
        x = self.pool(history)
        for kernel, bias, act, steps in zip(self.kernels, self.biases, self.acts, self.norms):
            x = tf.matmul(x, kernel)
            x = act(x + bias if bias is not None else x)
            for step in steps:
                x = step(x)
        if self.post_epsilon is not None:
            x = _l2_normalize(x, self.post_epsilon)
        if self.fused_top_k:
            return self.fused_serve(x, history)
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

    def fused_serve(self, x, history):
        """The scoring and top-k as one ydnn `topk_scores` op (needs its library)."""
        from ydnn_kernels.topk_scores_op import topk_scores

        exclude = None
        if self.exclude_seen:
            keep = history >= self.min_id if self.min_id > 0 else tf.not_equal(history, 0)
            exclude = tf.ragged.boolean_mask(tf.cast(history, tf.int64), keep)
        top, ids = topk_scores(x, self.table, self.k, exclude, self.min_id)
        items = tf.gather(self.item_ids, tf.maximum(ids, 0))
        return {"ids": ids, "item_ids": items, "scores": top}


def export_saved_model(
    trained, out_dir, k=10, exclude_seen=True, overwrite=False, index=None, fused_top_k=False
):
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
        index: None, or a dict of `AnnIndex.build` parameters (`{}` for the
            defaults: `m`, `ef_construction`, `ef_search`) to also write an
            approximate index as `out_dir/ann_index/`.
        fused_top_k: score and select with ydnn's `topk_scores` op; the
            SavedModel then needs `import ydnn_kernels.topk_scores_op`
            before it loads (module docstring).

    Returns:
        `out_dir`.

    Raises:
        ValueError: a model shape export does not support, a bad `k`, an
            `out_dir` that is a file or not empty (without `overwrite`), or
            a check that fails.
        ImportError: `index` without faiss (the message says
            `pip install 'ydnn[ann]'`), before anything is written.
    """
    from ydnn.atomic_dir import write_directory
    from ydnn.trained_model import INDEX_DIR, SAVED_MODEL_FILES

    model = trained.model
    check_exportable(model)
    if index is not None:
        from ydnn.ann_index import require_faiss

        require_faiss()
    limit = max_k(trained, exclude_seen)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        catalog = model.max_id - model.min_sampled_id + 1
        raise ValueError(
            f"k must be in [1, {limit}] (catalog of {catalog} items"
            f"{', less a full history' if exclude_seen else ''}), got {k!r}"
        )

    def write(tmp):
        module = _Serving(model, trained.item_ids, k, exclude_seen, fused_top_k)
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        with open(os.path.join(tmp, "assets", "items.txt"), "w") as f:
            f.write("\n".join(str(i) for i in trained.item_ids[1:]) + "\n")
        _verify(trained, tmp, k, exclude_seen)
        if index is not None:
            ann = trained.build_index(**index)
            ann.metadata["check"] = _verify_index(trained, ann, k, exclude_seen)
            ann.write_files(os.path.join(tmp, INDEX_DIR))

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
    # One row more, left empty: what every pooling must map to zeros.
    history = np.zeros((n + 1, H), np.int32)
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
    rows_of_ids = tf.gather(model.item_table, served["ids"])
    if model.post is not None:
        rows_of_ids = model.post(tf.cast(rows_of_ids, tf.float32))
    rows_of_ids = rows_of_ids.numpy()
    rescored = np.einsum("bd,bkd->bk", query.numpy(), rows_of_ids)
    if not np.allclose(rescored, got_s, rtol=1e-4, atol=1e-5):
        raise ValueError(
            "export check failed: served ids do not score what the SavedModel "
            "reports under the Keras model"
        )


def _verify_index(trained, ann, k, exclude_seen, rows=64):
    """Checks `ann` on the stored histories; returns its recall@k against exact.

    Every id it returns must be a catalog item the row does not exclude,
    once per row, with the score the model gives it (so a wrong table,
    `post` or id mapping fails); recall@k is measured, not required.
    """
    model = trained.model
    H = trained.max_history
    n = min(rows, len(trained.user_ids))
    history = np.zeros((n, H), np.int32)
    for u in range(n):
        recent = trained.sequence(u)[-H:]
        history[u, : len(recent)] = recent
    query = model({model.candidate.name: tf.constant(history)}, training=False)
    exclude = tf.RaggedTensor.from_tensor(tf.constant(history), padding=0) if exclude_seen else None
    _scores, exact = model.retrieve(query, k, exclude)
    got_s, got = ann.search(query.numpy(), k, list(history) if exclude_seen else None)
    found = got >= 0
    ids = np.where(found, got, model.min_sampled_id)
    bad = found & (
        (got < model.min_sampled_id)
        | (got > model.max_id)
        | (exclude_seen & (got[:, :, None] == history[:, None, :]).any(axis=2))
    )
    repeated = any(len(set(r[f])) != f.sum() for r, f in zip(got, found))
    if bad.any() or repeated:
        raise ValueError(
            "export check failed: the approximate index returned excluded, repeated or unknown ids"
        )
    rows_of_ids = tf.gather(model.item_table, ids)
    if model.post is not None:
        rows_of_ids = model.post(tf.cast(rows_of_ids, tf.float32))
    rescored = np.einsum("bd,bkd->bk", query.numpy(), rows_of_ids.numpy())
    if not np.allclose(rescored[found], got_s[found], rtol=1e-4, atol=1e-5):
        raise ValueError(
            "export check failed: the approximate index's scores differ from the model's "
            f"by up to {np.abs(rescored[found] - got_s[found]).max():.3g}"
        )
    exact = exact.numpy()
    hits = [len(np.intersect1d(g[f], e)) for g, f, e in zip(got, found, exact)]
    return {"rows": n, "k": int(k), "recall_at_k": float(np.mean(hits)) / k}
