"""What the `ydnn` subcommands do (arguments: `ydnn.cli_args`; the protocol's
data and metrics: `ydnn.cli_protocol`).

Imported only once the arguments parsed, so `ydnn --help` and argument
errors do not pay for importing TensorFlow.

Each `run_*` takes the parsed arguments, prints a readable summary and
returns the JSON-able result `--json` prints. What the user must fix is
raised as `ydnn.cli.UsageError`, or turned into one (`blame_user`) where a
library call reports it; every other exception is a bug and keeps its
traceback.
"""

import os
import time
import warnings

import keras
import numpy as np

from ydnn.cli import UsageError, blame_user
from ydnn.cli_protocol import (
    HEADLINE,
    align_to_model,
    check_catalog,
    full_catalog_metrics,
    load_log,
    metrics_table,
    most_popular_metrics,
    prepare,
)
from ydnn.cli_training import (
    Diverged,
    EpochClock,
    StopOnNonFiniteLoss,
    ValidationStopping,
    diverged_message,
    execution_steps,
    learning_rate,
)


# -- train -------------------------------------------------------------------
def run_train(args):
    import tensorflow as tf

    import ydnn
    from ydnn.atomic_dir import check_output_directory
    from ydnn.cli_scaling import TrainingSetup
    from ydnn.trained_model import MODEL_FILES, TrainedModel

    # A multi-worker strategy must exist before TensorFlow runs anything.
    with blame_user(ValueError):
        setup = TrainingSetup(args)
    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    log, cols = load_log(args)
    data = prepare(log, cols, args.max_history, args.min_interactions, args.validation)
    cols["split"] = "validation" if args.validation else "test"
    prep_s = time.perf_counter() - t0
    summary = data.summary()
    print(
        f"data: {cols['source']} ({cols['split']} split): {summary['interactions']:,} "
        f"interactions, "
        f"{summary['users']:,} users, {summary['items']:,} items -> "
        f"{summary['train_examples']:,} training examples, {summary['test_examples']:,} "
        f"test rows (prepared in {prep_s:.1f} s)"
    )

    check_catalog(args.k, data.num_items, args.min_sampled_id, args.num_sampled)

    schema = data.schema(embedding_dim=args.embedding_dim)
    stddev = args.table_init_stddev or 1.0 / np.sqrt(args.embedding_dim)
    with setup.scope():  # the model and its optimizer live on every replica
        inputs = ydnn.InputBlock(
            schema,
            combiner=args.combiner,
            ops=args.ops,
            embeddings_initializer=keras.initializers.TruncatedNormal(stddev=float(stddev)),
            table_dtype=args.table_dtype,
        )
        model = ydnn.YoutubeDNNRetrievalModelV2(
            schema,
            inputs=inputs,
            top_block=ydnn.MLPBlock(
                args.top_block,
                no_activation_last_layer=not args.activation_last_layer,
                kernel_initializer=args.mlp_initializer,
            ),
            logits_temperature=args.logits_temperature,
            num_sampled=args.num_sampled,
            min_sampled_id=args.min_sampled_id,
            ops=args.ops,
            separate_output_table=args.separate_output_table,
        )
        train_rows, callbacks, validation = data.train, [], None
        if args.early_stopping:
            train_rows, val_rows, val_seen = data.holdout()
            validation = ValidationStopping(val_rows, args.k, args.early_stopping, args.verbose)
            callbacks.append(validation)
        with blame_user(ValueError):
            train_ds, fit_kwargs, scaling_callbacks, n = setup.fit_inputs(train_rows, args.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate(args, n, setup.global_batch)),
            top_k=args.k,
            steps_per_execution=execution_steps(
                args.steps_per_execution, fit_kwargs, setup.replicas
            ),
        )
    # Keras warns that it cannot shuffle a tf.data.Dataset: to_dataset does.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    clock = EpochClock()
    watch = StopOnNonFiniteLoss(diverged_message(args))
    try:
        history = model.fit(
            train_ds,
            epochs=args.epochs,
            verbose=args.verbose,
            callbacks=[*scaling_callbacks, clock, watch, *callbacks],
            **fit_kwargs,
        )
    except tf.errors.InvalidArgumentError as e:
        # The fused loss op's own check of a non-finite row, a step before
        # the callback would see the loss.
        if "finite" not in str(e).lower():
            raise
        raise Diverged(diverged_message(args)(max(watch.epoch, 1), "non-finite")) from None
    throughput = clock.throughput(setup, validation)
    epochs = throughput["epochs"]

    if not setup.is_chief:
        index, count = setup.worker
        print(
            f"\nworker {index} of {count}: trained {epochs} epochs, "
            f"{throughput['examples_per_second']:,.0f} examples/s (all workers); the chief "
            f"(worker 0) evaluates and writes {args.out}"
        )
        setup.finish()
        return {"command": "train", "worker": index, "throughput": throughput}

    t1 = time.perf_counter()
    val_metrics = None
    if validation is not None:
        validation.restore()
        val_metrics = full_catalog_metrics(model, val_rows, val_seen, args.k)
    metrics = full_catalog_metrics(model, data.test, data, args.k)
    baseline = most_popular_metrics(data, args.k, args.min_sampled_id)
    eval_s = time.perf_counter() - t1

    settings = {
        "data": dict(cols, **summary, min_interactions=args.min_interactions),
        "train": {
            k: getattr(args, k)
            for k in (
                "preset",
                "epochs",
                "early_stopping",
                "batch_size",
                "embedding_dim",
                "top_block",
                "activation_last_layer",
                "mlp_initializer",
                "table_init_stddev",
                "combiner",
                "separate_output_table",
                "table_dtype",
                "num_sampled",
                "min_sampled_id",
                "logits_temperature",
                "learning_rate",
                "lr_schedule",
                "steps_per_execution",
                "k",
                "seed",
                "ops",
                "strategy",
            )
        },
        "metrics": metrics,
        "validation_metrics": val_metrics,
        "best_epoch": validation.best_epoch if validation else epochs,
        "baseline_most_popular": baseline,
        "headline": HEADLINE,
        "throughput": throughput,
        # none when a restored backup had every epoch done
        "loss": [float(v) for v in history.history.get("loss", [])],
        "ydnn_version": ydnn.__version__,
    }
    # --out again: it was checked before training, which takes long enough
    # for another process to have written there.
    with blame_user(ValueError):
        check_output_directory(args.out, args.overwrite, MODEL_FILES, "a ydnn model")
    TrainedModel.from_data(model, data, settings).save(args.out, overwrite=args.overwrite)
    setup.finish()

    k = args.k
    trained_for = f"{epochs} epoch" + ("" if epochs == 1 else "s")
    if validation is not None:
        trained_for += (
            f" (early stopping, patience {args.early_stopping}: best epoch "
            f"{validation.best_epoch}, validation recall_at_{k} {validation.best:.4f})"
        )
    print(
        f"\ntraining: {trained_for}, {throughput['train_seconds']:.1f} s, "
        f"{throughput['examples_per_second']:,.0f} examples/s over "
        f"{throughput['measured_over']} ({throughput['examples_per_second_all_epochs']:,.0f} "
        f"over all epochs); final loss "
        f"{settings['loss'][-1] if settings['loss'] else float('nan'):.4f}; ops={args.ops}"
    )
    print(
        f"evaluation on {len(data.test):,} held-out last items, full catalog of "
        f"{data.num_items:,} items ({eval_s:.1f} s):\n"
    )
    print(metrics_table(metrics, baseline, k))
    if val_metrics is not None:
        print(
            f"\nvalidation ({len(val_rows):,} held-out second-to-last items, the model's "
            f"best epoch): "
            + ", ".join(
                f"{name} {val_metrics[HEADLINE][f'{name}_at_{k}']:.4f}"
                for name in ("recall", "ndcg", "mrr")
            )
        )
    head, base = metrics[HEADLINE][f"recall_at_{k}"], baseline[HEADLINE][f"recall_at_{k}"]
    print(
        f"\nheadline recall_at_{k} (all items): {head:.4f} vs most-popular {base:.4f}"
        f" ({head / base if base else float('inf'):.2f}x)"
    )
    print(f"saved to {args.out}")
    return {
        "command": "train",
        "out": args.out,
        "data": settings["data"],
        "train": settings["train"],
        "throughput": throughput,
        "loss": settings["loss"],
        "metrics": metrics,
        "validation_metrics": val_metrics,
        "best_epoch": settings["best_epoch"],
        "baseline_most_popular": baseline,
        "headline": HEADLINE,
        "headline_recall": head,
    }


# -- evaluate ----------------------------------------------------------------
def load_model(directory):
    """`TrainedModel.load`, whose ValueErrors name the damaged file and what to do."""
    from ydnn.trained_model import TrainedModel

    with blame_user(ValueError):
        return TrainedModel.load(directory)


def run_evaluate(args):
    trained = load_model(args.model)
    saved = trained.settings["data"]
    k = args.k or trained.settings.get("train", {}).get("k", 10)
    check_catalog(k, trained.num_items, trained.model.min_sampled_id)
    log, cols = load_log(args, trained.settings)
    data = prepare(
        log, cols, saved["max_history"], saved.get("min_interactions", 3), args.validation
    )
    cols["split"] = "validation" if args.validation else "test"
    test, seen, keep = align_to_model(data, trained)
    if not len(test):
        raise UsageError(
            f"no test row is left: the held-out items of {cols['source']!r} are "
            f"all unknown to the model; evaluate on a log of the items it was "
            f"trained on"
        )
    t0 = time.perf_counter()
    metrics = full_catalog_metrics(trained.model, test, seen, k, args.batch_size)
    baseline = most_popular_metrics(
        data,
        k,
        trained.model.min_sampled_id,
        users=data.test.user[keep],
        targets=data.test.target[keep],
    )
    print(
        f"data: {cols['source']} ({cols['split']} split): {len(data.test):,} test rows, "
        f"{int((~keep).sum()):,} dropped (item unknown to the model); "
        f"evaluated in {time.perf_counter() - t0:.1f} s\n"
    )
    print(metrics_table(metrics, baseline, k))
    return {
        "command": "evaluate",
        "model": args.model,
        "source": cols["source"],
        "split": cols["split"],
        "test_rows": int(keep.sum()),
        "dropped_rows": int((~keep).sum()),
        "k": k,
        "metrics": metrics,
        "baseline_most_popular": baseline,
        "headline": HEADLINE,
    }


# -- recommend / export --------------------------------------------------------
def run_recommend(args):
    trained = load_model(args.model)
    with blame_user(KeyError):  # a user the model's data does not hold
        user = trained.parse_user(args.user)
        limit = trained.max_k(user, exclude_seen=not args.include_seen)
    if args.k > limit:
        raise UsageError(
            f"--k {args.k} is larger than the {limit} items user {user!r} can get "
            f"(the catalog less reserved{'' if args.include_seen else ' and seen'} "
            f"items): give --k <= {limit}"
        )
    items, scores = trained.recommend(user, k=args.k, exclude_seen=not args.include_seen)
    seq = trained.sequence(trained.user_position(user))
    print(
        f"user {user}: {len(seq)} interactions, last {min(len(seq), trained.max_history)} "
        f"used as the history; top {args.k}"
        f"{'' if args.include_seen else ' unseen'} items:"
    )
    print(f"{'rank':>4}  {'item':>12}  {'score':>10}")
    for rank, (item, score) in enumerate(zip(items, scores), 1):
        print(f"{rank:>4}  {item!s:>12}  {score:>10.4f}")
    return {
        "command": "recommend",
        "user": args.user,
        "items": [i.item() if isinstance(i, np.generic) else i for i in items],
        "scores": [float(s) for s in scores],
    }


def run_export(args):
    from ydnn.cli_args import INDEX_OPTIONS
    from ydnn.export import check_exportable, export_saved_model, max_k

    index = None
    if args.index:
        from ydnn.ann_index import require_faiss

        with blame_user(ImportError):  # before the model loads: nothing to wait for
            require_faiss()
        index = {k: getattr(args, f"index_{k}") for k in INDEX_OPTIONS}
        index = {k: v for k, v in index.items() if v is not None}
    trained = load_model(args.model)
    with blame_user(ValueError):  # a model shape export does not serve
        check_exportable(trained.model)
    limit = max_k(trained, exclude_seen=not args.include_seen)
    if args.k > limit:
        raise UsageError(
            f"--k {args.k} is larger than {limit}, the items left for every "
            f"history (the catalog less reserved items"
            f"{'' if args.include_seen else ' and a full history'}): give --k <= "
            f"{max(limit, 1)}{'' if args.include_seen else ' or --include-seen'}"
        )
    export_saved_model(
        trained,
        args.out,
        k=args.k,
        exclude_seen=not args.include_seen,
        overwrite=args.overwrite,
        index=index,
        fused_top_k=args.fused_top_k,
    )
    print(
        f"exported to {args.out}: serving_default(history int32 [B, {trained.max_history}]) "
        f"-> ids, item_ids, scores [B, {args.k}]; checked against the model"
    )
    result = {
        "command": "export",
        "model": args.model,
        "out": args.out,
        "k": args.k,
        "max_history": trained.max_history,
        "exclude_seen": not args.include_seen,
    }
    if index is not None:
        from ydnn.trained_model import INDEX_DIR

        ann = trained.approximate_index()
        check = ann.metadata["check"]
        path = os.path.join(args.out, INDEX_DIR)
        print(
            f"approximate index in {path}: {ann.size} items, faiss HNSW (m={ann.params['m']}, "
            f"ef_search={ann.params['ef_search']}), {ann.nbytes / 2**20:.1f} MiB; recall@{args.k} "
            f"{check['recall_at_k']:.3f} against exact top-{args.k} on {check['rows']} stored "
            f"histories"
        )
        params = ("m", "ef_construction", "ef_search", "library_version")
        result["index"] = {"directory": path, "size": ann.size, **check}
        result["index"].update({key: ann.params[key] for key in params})
    return result
