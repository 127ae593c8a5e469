"""One training run of the quality study, in a worker process of its own.

A run is `(dataset, split, settings, seed)`: the dataset is prepared with
the leave-last-out protocol (`split="validation"` drops each user's last
interaction first, so the held-out item is the second-to-last one and the
test items are never looked at), the fused model is built from `settings`
(a dict over `BASE`'s keys), trained for `epochs` with the held-out
Recall@10 (all items) measured after every epoch, and scored at the end:
Recall / NDCG / MRR at 10, 20, 50 and 100 over all items and with seen
items excluded, plus each held-out user's rank (for bootstrap intervals).

Workers run one TF thread each (two runs in parallel use the two cores of
the study's machine better than one run on both: a batch-256 step is bound
by Keras's per-step overhead, not by the kernels).
"""

import os
import time

import numpy as np

# The settings a run may change, and the study's starting point: the
# MovieLens benchmark's settings (10 epochs, Adam 1e-3, batch 256, width
# 64, MLP 128,64 with a linear last layer, 100 log-uniform negatives,
# history 20) with the initializers chosen earlier on validation.
BASE = {
    "combiner": "mean",
    "table": "tied",  # or "separate"
    "temperature": 1.0,
    "l2": False,  # L2-normalised query and candidate rows (cosine scores)
    "num_sampled": 100,
    "lr": 1e-3,
    "schedule": "constant",  # or "cosine" (decay to 0 over the epochs)
    "epochs": 10,
    "batch": 256,
    "dim": 64,
    "mlp": (128,),  # hidden widths; the last layer is `dim` wide
    "linear_last": True,
    "mlp_init": "he_uniform",
    "table_stddev": None,  # None: 1/sqrt(dim)
    "dropout": 0.0,
    "max_history": 20,
}
KS = (10, 20, 50, 100)  # the cut-offs stored per run
_DATA = {}


def init_worker():
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import warnings

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    warnings.filterwarnings("ignore")


def load_log(dataset):
    """`(log, columns)` of a dataset spec: a ratings CSV path or `synthetic:U,I,N`."""
    import ydnn

    if dataset.startswith("synthetic:"):
        users, items, rows = (int(x) for x in dataset.split(":", 1)[1].split(","))
        log = ydnn.data.generate_interactions(
            num_users=users,
            num_items=items,
            num_interactions=rows,
            num_clusters=max(50, items // 250),
            seed=0,
        )
        return log, {"user_col": "user_id", "item_col": "item_id", "time_col": "timestamp"}
    cols = {"user_col": "userId", "item_col": "movieId", "time_col": "timestamp"}
    return ydnn.data.read_interactions(dataset, *cols.values()), cols


def prepared(dataset, split, max_history):
    from ydnn.cli_protocol import prepare

    key = (dataset, split, max_history)
    if key not in _DATA:
        log, cols = load_log(dataset)
        _DATA[key] = prepare(log, cols, max_history, 3, validation=split == "validation")
    return _DATA[key]


def build_model(data, s, seed):
    import keras

    import ydnn

    keras.utils.set_random_seed(seed)
    schema = data.schema(embedding_dim=s["dim"])
    stddev = s["table_stddev"] or 1.0 / np.sqrt(s["dim"])
    inputs = ydnn.InputBlock(
        schema,
        combiner=s["combiner"],
        embeddings_initializer=keras.initializers.TruncatedNormal(stddev=stddev),
    )
    model = ydnn.YoutubeDNNRetrievalModelV2(
        schema,
        inputs=inputs,
        top_block=ydnn.MLPBlock(
            [*s["mlp"], s["dim"]],
            no_activation_last_layer=s["linear_last"],
            kernel_initializer=s["mlp_init"],
            dropout=s["dropout"],
        ),
        post=ydnn.L2Norm() if s["l2"] else None,
        logits_temperature=s["temperature"],
        num_sampled=s["num_sampled"],
        min_sampled_id=1,
        separate_output_table=s["table"] == "separate",
    )
    steps = int(np.ceil(len(data.train) / s["batch"])) * s["epochs"]
    lr = s["lr"]
    if s["schedule"] == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(s["lr"], steps)
    model.compile(optimizer=keras.optimizers.Adam(lr), top_k=10, steps_per_execution=32)
    return model


def run(dataset, split, settings, seed):
    """Train one model; returns its curve, final metrics and per-user ranks."""
    import keras

    import ydnn
    from ydnn.cli_protocol import validation_recall
    from ydnn.metrics import metrics_from_ranks

    s = dict(BASE, **settings)
    data = prepared(dataset, split, s["max_history"])
    model = build_model(data, s, seed)
    curve = []

    class Curve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            curve.append(validation_recall(model, data.test, 10))

    start = time.perf_counter()
    history = model.fit(
        ydnn.data.to_dataset(data.train, s["batch"], seed=seed),
        epochs=s["epochs"],
        verbose=0,
        callbacks=[Curve()],
    )
    seconds = time.perf_counter() - start
    from ydnn.cli_protocol import held_out_ranks  # after the worker's TF threading

    ranks = held_out_ranks(model, data.test, data, depth=100)
    return {
        "curve": curve,
        "loss": float(history.history["loss"][-1]),
        "seconds": seconds,
        "examples": len(data.train),
        "test_rows": len(data.test),
        "ranks": ranks,
        "metrics": {k: metrics_from_ranks(v, KS) for k, v in ranks.items()},
    }
