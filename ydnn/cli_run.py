"""What the `ydnn` subcommands do (argument parsing is in `ydnn.cli`).

Imported only once the arguments parsed, so `ydnn --help` and argument
errors do not pay for importing TensorFlow.

Each `run_*` takes the parsed arguments, prints a readable summary and
returns the JSON-able result `--json` prints.
"""

import time
import warnings

import keras
import numpy as np

HEADLINE = "all_items"
PROTOCOLS = {"all_items": "all items (headline)", "exclude_seen": "seen items excluded"}


# -- data --------------------------------------------------------------------
def load_log(args, settings=None):
    """The interaction log and the column settings used, from args (or a model's settings)."""
    import ydnn

    saved = (settings or {}).get("data", {})
    pick = {k: getattr(args, k) if getattr(args, k, None) is not None else saved.get(k)
            for k in ("user_col", "item_col", "time_col", "sep")}
    if args.synthetic or (args.interactions is None and saved.get("synthetic")):
        syn = {k: getattr(args, f"synthetic_{k}", None) or saved.get("synthetic", {}).get(k)
               for k in ("users", "items", "interactions")}
        seed = args.data_seed if args.data_seed is not None else \
            saved.get("synthetic", {}).get("seed", 0)
        log = ydnn.data.generate_interactions(
            num_users=syn["users"], num_items=syn["items"],
            num_interactions=syn["interactions"], seed=seed)
        return log, {"user_col": "user_id", "item_col": "item_id", "time_col": "timestamp", "sep": ",",
                         "source": "synthetic", "synthetic": dict(syn, seed=seed)}
    if args.interactions is None:
        raise ValueError("give --interactions FILE (or --synthetic)")
    log = ydnn.data.read_interactions(args.interactions, pick["user_col"], pick["item_col"],
                                      pick["time_col"], pick["sep"])
    return log, dict(pick, source=str(args.interactions))


def drop_last_interaction(log, cols):
    """The log without each user's last interaction (latest time, ties by item id).

    The same order the protocol uses, so the protocol's test item is gone
    and the held-out item becomes the second-to-last one: a validation split
    that never sees the test items.
    """
    order = log.sort_values([cols["user_col"], cols["time_col"], cols["item_col"]],
                            kind="stable")
    return order[order.duplicated(cols["user_col"], keep="last")]


def prepare(log, cols, max_history, min_interactions, validation=False):
    """`prepare_sequences` of the log; its errors name the log's file."""
    import ydnn

    if validation:
        log = drop_last_interaction(log, cols)
    try:
        return ydnn.data.prepare_sequences(log, cols["user_col"], cols["item_col"],
                                           cols["time_col"], max_history=max_history,
                                           min_interactions=min_interactions)
    except ValueError as e:
        if cols.get("source", "synthetic") == "synthetic":
            raise
        raise ValueError(f"interaction log {cols['source']!r}: {e}") from None


# -- evaluation --------------------------------------------------------------
def full_catalog_metrics(model, test, seen, k, batch_size=1024):
    """Top-k metrics of the test rows, over all items and excluding seen ones.

    Args:
        model: `YoutubeDNNRetrievalModelV2`.
        test: `ydnn.data.Examples`.
        seen: `SequenceData` or `(indptr, items)` CSR of seen items by user.
        k: cut-off.

    Returns:
        `{"all_items": {...}, "exclude_seen": {...}}` of metric means.
    """
    import tensorflow as tf

    import ydnn

    ds = ydnn.data.to_dataset(test, batch_size, shuffle=False, seen=seen,
                              item_column=model.candidate.name)

    @tf.function(reduce_retracing=True)
    def both(x):
        query = model(x, training=False)
        _, plain = model.retrieve(query, k)
        _, masked = model.retrieve(query, k, x["seen_items"])
        return plain, masked

    plain, masked, targets = [], [], []
    for x, y in ds:
        a, b = both(x)
        plain.append(a.numpy())
        masked.append(b.numpy())
        targets.append(y.numpy())
    target = np.concatenate(targets)
    return {"all_items": ydnn.metrics.ranking_metrics(target, np.concatenate(plain), k),
            "exclude_seen": ydnn.metrics.ranking_metrics(target, np.concatenate(masked), k)}


def most_popular_metrics(data, k, min_id, users=None, targets=None):
    """The most-popular baseline (training counts) both ways, same rows."""
    import ydnn

    users = data.test.user if users is None else users
    targets = data.test.target if targets is None else targets
    out = {}
    for name, exclude in (("all_items", False), ("exclude_seen", True)):
        top = ydnn.data.most_popular_top_k(data, k=k, exclude_seen=exclude, min_id=max(min_id, 1),
                                           users=users)
        out[name] = ydnn.metrics.ranking_metrics(targets, top, k)
    return out


def metrics_table(metrics, baseline, k):
    names = [f"{m}_at_{k}" for m in ("recall", "ndcg", "mrr", "map", "precision")]
    lines = [f"{'protocol':<22} {'ranker':<13}" + "".join(f"{n:>17}" for n in names)]
    for proto, label in PROTOCOLS.items():
        for ranker, values in (("model", metrics[proto]), ("most-popular", baseline[proto])):
            lines.append(f"{label:<22} {ranker:<13}" +
                         "".join(f"{float(values[n]):>17.4f}" for n in names))
    return "\n".join(lines)


def check_catalog(k, num_items, min_sampled_id, num_sampled=None):
    """`--k` (and for train the sampler options) against the catalog, before any work.

    The headline metrics and the most-popular baseline rank ids
    `max(min_sampled_id, 1)..num_items`, so that is the largest `--k`.
    """
    low = max(min_sampled_id, 1)
    if num_items < low:
        raise ValueError(f"--min-sampled-id {min_sampled_id} leaves no item to rank: the catalog "
                         f"has {num_items} items; lower --min-sampled-id")
    catalog = num_items - low + 1
    if k > catalog:
        raise ValueError(f"--k {k} is larger than the catalog ({catalog} items"
                         f"{f' from id {low}' if low > 1 else ''}): give --k <= {catalog}")
    sample_range = num_items - min_sampled_id + 1
    if num_sampled is not None and num_sampled > sample_range:
        raise ValueError(f"--num-sampled {num_sampled} is larger than the {sample_range} "
                         f"candidate ids the sampler can draw: give --num-sampled <= "
                         f"{sample_range}")


# -- train -------------------------------------------------------------------
class Diverged(ValueError):
    """Training produced a non-finite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` with `Diverged` once the reported loss is NaN or infinite.

    The fused loss op refuses a non-finite row itself; this catches the
    stock ops, which would otherwise train on to a NaN model.
    """

    def __init__(self, message):
        super().__init__()
        self.message = message
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise Diverged(self.message(self.epoch, str(float(loss))))


def _diverged(args):
    def message(epoch, loss):
        return (f"training diverged: the loss became {loss} in epoch {epoch} at "
                f"--learning-rate {args.learning_rate:g}; lower --learning-rate (e.g. "
                f"{args.learning_rate / 10:g}) or raise --logits-temperature; nothing was "
                f"written to {args.out!r}")
    return message


class EpochClock(keras.callbacks.Callback):
    """Wall time at each epoch end, for the throughput after the first epoch."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())


def run_train(args):
    import tensorflow as tf

    import ydnn
    from ydnn.trained_model import TrainedModel

    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    log, cols = load_log(args)
    data = prepare(log, cols, args.max_history, args.min_interactions, args.validation)
    cols["split"] = "validation" if args.validation else "test"
    prep_s = time.perf_counter() - t0
    summary = data.summary()
    print(f"data: {cols['source']} ({cols['split']} split): {summary['interactions']:,} "
          f"interactions, "
          f"{summary['users']:,} users, {summary['items']:,} items -> "
          f"{summary['train_examples']:,} training examples, {summary['test_examples']:,} "
          f"test rows (prepared in {prep_s:.1f} s)")

    check_catalog(args.k, data.num_items, args.min_sampled_id, args.num_sampled)

    schema = data.schema(embedding_dim=args.embedding_dim)
    inputs = ydnn.InputBlock(schema, combiner=args.combiner, ops=args.ops)
    model = ydnn.YoutubeDNNRetrievalModelV2(
        schema, inputs=inputs,
        top_block=ydnn.MLPBlock(args.top_block,
                                no_activation_last_layer=args.no_activation_last_layer),
        logits_temperature=args.logits_temperature, num_sampled=args.num_sampled,
        min_sampled_id=args.min_sampled_id, ops=args.ops,
        separate_output_table=args.separate_output_table)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), top_k=args.k,
                  steps_per_execution=args.steps_per_execution)
    train_ds = ydnn.data.to_dataset(data.train, args.batch_size, seed=args.seed)
    # Keras warns that it cannot shuffle a tf.data.Dataset: to_dataset does.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    clock = EpochClock()
    watch = StopOnNonFiniteLoss(_diverged(args))
    try:
        history = model.fit(train_ds, epochs=args.epochs, verbose=args.verbose,
                            callbacks=[clock, watch])
    except tf.errors.InvalidArgumentError as e:
        # The fused loss op's own check of a non-finite row, a step before
        # the callback would see the loss.
        if "finite" not in str(e).lower():
            raise
        raise Diverged(_diverged(args)(max(watch.epoch, 1), "non-finite")) from None
    n = len(data.train)
    total_s = clock.ends[-1] - clock.start
    throughput = {"examples_per_second_all_epochs": args.epochs * n / total_s,
                  "train_seconds": total_s}
    if args.epochs > 1:
        # Epoch 1 includes tracing and the first pass of the input pipeline.
        steady = clock.ends[-1] - clock.ends[0]
        throughput["examples_per_second"] = (args.epochs - 1) * n / steady
        throughput["measured_over"] = f"epochs 2-{args.epochs} (epoch 1 has the tracing)"
    else:
        throughput["examples_per_second"] = throughput["examples_per_second_all_epochs"]
        throughput["measured_over"] = "epoch 1 (includes tracing)"

    t1 = time.perf_counter()
    metrics = full_catalog_metrics(model, data.test, data, args.k)
    baseline = most_popular_metrics(data, args.k, args.min_sampled_id)
    eval_s = time.perf_counter() - t1

    settings = {
        "data": dict(cols, **summary, min_interactions=args.min_interactions),
        "train": {k: getattr(args, k) for k in (
            "epochs", "batch_size", "embedding_dim", "top_block", "no_activation_last_layer",
            "combiner", "separate_output_table", "num_sampled", "min_sampled_id",
            "logits_temperature", "learning_rate",
            "steps_per_execution", "k", "seed", "ops")},
        "metrics": metrics, "baseline_most_popular": baseline, "headline": HEADLINE,
        "throughput": throughput,
        "loss": [float(v) for v in history.history["loss"]],
        "ydnn_version": ydnn.__version__}
    TrainedModel.from_data(model, data, settings).save(args.out, overwrite=args.overwrite)

    k = args.k
    epochs = f"{args.epochs} epoch" + ("" if args.epochs == 1 else "s")
    print(f"\ntraining: {epochs}, {throughput['train_seconds']:.1f} s, "
          f"{throughput['examples_per_second']:,.0f} examples/s over "
          f"{throughput['measured_over']} ({throughput['examples_per_second_all_epochs']:,.0f} "
          f"over all epochs); final loss {settings['loss'][-1]:.4f}; ops={args.ops}")
    print(f"evaluation on {len(data.test):,} held-out last items, full catalog of "
          f"{data.num_items:,} items ({eval_s:.1f} s):\n")
    print(metrics_table(metrics, baseline, k))
    head, base = metrics[HEADLINE][f"recall_at_{k}"], baseline[HEADLINE][f"recall_at_{k}"]
    print(f"\nheadline recall_at_{k} (all items): {head:.4f} vs most-popular {base:.4f}"
          f" ({head / base if base else float('inf'):.2f}x)")
    print(f"saved to {args.out}")
    return {"command": "train", "out": args.out, "data": settings["data"], "train": settings["train"],
                "throughput": throughput, "loss": settings["loss"], "metrics": metrics,
                "baseline_most_popular": baseline, "headline": HEADLINE,
                "headline_recall": head}


# -- evaluate ----------------------------------------------------------------
def _align(data, trained):
    """Test rows and seen CSR of `data` in the model's item ids.

    Items the model never saw become padding (dropped from histories and
    seen lists); rows whose target it never saw, or left with an empty
    history, are dropped and counted.
    """
    from ydnn.data import Examples

    lut = np.zeros(data.num_items + 1, np.int32)
    lut[1:] = trained.model_ids(data.item_ids[1:])
    if np.array_equal(lut, np.arange(len(lut))) and data.num_items == trained.num_items:
        return data.test, data, np.ones(len(data.test), bool)
    hist = lut[data.test.history]
    order = np.argsort(hist == 0, axis=1, kind="stable")   # real ids first, in order
    hist = np.take_along_axis(hist, order, axis=1)
    lengths = (hist != 0).sum(axis=1).astype(np.int32)
    target = lut[data.test.target]
    keep = (target != 0) & (lengths > 0)
    test = Examples(hist[keep], lengths[keep], target[keep], data.test.user[keep])
    seen_items = lut[data.seen_items]
    owner = np.repeat(np.arange(data.num_users), np.diff(data.seen_indptr))
    counts = np.bincount(owner[seen_items != 0], minlength=data.num_users)
    indptr = np.zeros(data.num_users + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return test, (indptr, seen_items[seen_items != 0]), keep


def run_evaluate(args):
    from ydnn.trained_model import TrainedModel

    trained = TrainedModel.load(args.model)
    saved = trained.settings["data"]
    k = args.k or trained.settings.get("train", {}).get("k", 10)
    check_catalog(k, trained.num_items, trained.model.min_sampled_id)
    log, cols = load_log(args, trained.settings)
    data = prepare(log, cols, saved["max_history"], saved.get("min_interactions", 3),
                   args.validation)
    cols["split"] = "validation" if args.validation else "test"
    test, seen, keep = _align(data, trained)
    if not len(test):
        raise ValueError(f"no test row is left: the held-out items of {cols['source']!r} are "
                         f"all unknown to the model; evaluate on a log of the items it was "
                         f"trained on")
    t0 = time.perf_counter()
    metrics = full_catalog_metrics(trained.model, test, seen, k, args.batch_size)
    baseline = most_popular_metrics(data, k, trained.model.min_sampled_id,
                                    users=data.test.user[keep], targets=data.test.target[keep])
    print(f"data: {cols['source']} ({cols['split']} split): {len(data.test):,} test rows, "
          f"{int((~keep).sum()):,} dropped (item unknown to the model); evaluated in {time.perf_counter() - t0:.1f} s\n")
    print(metrics_table(metrics, baseline, k))
    return {"command": "evaluate", "model": args.model, "source": cols["source"],
            "split": cols["split"],
                "test_rows": int(keep.sum()), "dropped_rows": int((~keep).sum()), "k": k,
                "metrics": metrics, "baseline_most_popular": baseline, "headline": HEADLINE}


# -- recommend / export --------------------------------------------------------
def run_recommend(args):
    from ydnn.trained_model import TrainedModel

    trained = TrainedModel.load(args.model)
    user = trained.parse_user(args.user)
    limit = trained.max_k(user, exclude_seen=not args.include_seen)
    if args.k > limit:
        raise ValueError(f"--k {args.k} is larger than the {limit} items user {user!r} can get "
                         f"(the catalog less reserved{'' if args.include_seen else ' and seen'} "
                         f"items): give --k <= {limit}")
    items, scores = trained.recommend(user, k=args.k, exclude_seen=not args.include_seen)
    seq = trained.sequence(trained.user_position(user))
    print(f"user {user}: {len(seq)} interactions, last {min(len(seq), trained.max_history)} "
          f"used as the history; top {args.k}"
          f"{'' if args.include_seen else ' unseen'} items:")
    print(f"{'rank':>4}  {'item':>12}  {'score':>10}")
    for rank, (item, score) in enumerate(zip(items, scores), 1):
        print(f"{rank:>4}  {item!s:>12}  {score:>10.4f}")
    return {"command": "recommend", "user": args.user,
                "items": [i.item() if isinstance(i, np.generic) else i for i in items],
                "scores": [float(s) for s in scores]}


def run_export(args):
    from ydnn.export import export_saved_model, max_k
    from ydnn.trained_model import TrainedModel

    trained = TrainedModel.load(args.model)
    limit = max_k(trained, exclude_seen=not args.include_seen)
    if args.k > limit:
        raise ValueError(f"--k {args.k} is larger than {limit}, the items left for every "
                         f"history (the catalog less reserved items"
                         f"{'' if args.include_seen else ' and a full history'}): give --k <= "
                         f"{max(limit, 1)}{'' if args.include_seen else ' or --include-seen'}")
    export_saved_model(trained, args.out, k=args.k, exclude_seen=not args.include_seen,
                       overwrite=args.overwrite)
    print(f"exported to {args.out}: serving_default(history int32 [B, {trained.max_history}]) "
          f"-> ids, item_ids, scores [B, {args.k}]; checked against the model")
    return {"command": "export", "model": args.model, "out": args.out, "k": args.k,
                "max_history": trained.max_history, "exclude_seen": not args.include_seen}
