"""The commands' protocol: the log they read, its leave-last-out preparation,
the full-catalog metrics and the most-popular baseline (`ydnn.cli` states it).

Shared by `ydnn.cli_run` and the MovieLens benchmarks, so that they measure
what the command reports. Errors the user must fix are `ydnn.cli.UsageError`.
"""

import numpy as np

from ydnn.cli import UsageError, blame_user

HEADLINE = "all_items"
PROTOCOLS = {"all_items": "all items (headline)", "exclude_seen": "seen items excluded"}


# -- data --------------------------------------------------------------------
def load_log(args, settings=None):
    """The interaction log and the column settings used, from args (or a model's settings)."""
    import ydnn

    saved = (settings or {}).get("data", {})
    pick = {
        k: getattr(args, k) if getattr(args, k, None) is not None else saved.get(k)
        for k in ("user_col", "item_col", "time_col", "sep")
    }
    if args.synthetic or (args.interactions is None and saved.get("synthetic")):
        syn = {
            k: getattr(args, f"synthetic_{k}", None) or saved.get("synthetic", {}).get(k)
            for k in ("users", "items", "interactions")
        }
        seed = (
            args.data_seed
            if args.data_seed is not None
            else saved.get("synthetic", {}).get("seed", 0)
        )
        with blame_user(ValueError):  # --synthetic-* sizes it cannot generate
            log = ydnn.data.generate_interactions(
                num_users=syn["users"],
                num_items=syn["items"],
                num_interactions=syn["interactions"],
                seed=seed,
            )
        return log, {
            "user_col": "user_id",
            "item_col": "item_id",
            "time_col": "timestamp",
            "sep": ",",
            "source": "synthetic",
            "synthetic": dict(syn, seed=seed),
        }
    if args.interactions is None:
        raise UsageError("give --interactions FILE (or --synthetic)")
    # A log it cannot read (its messages name the file and the fix); Parquet
    # without pyarrow is an ImportError that says what to install.
    with blame_user(ValueError, ImportError):
        log = ydnn.data.read_interactions(
            args.interactions, pick["user_col"], pick["item_col"], pick["time_col"], pick["sep"]
        )
    return log, dict(pick, source=str(args.interactions))


def drop_last_interaction(log, cols):
    """The log without each user's last interaction (latest time, ties by item id).

    The same order the protocol uses, so the protocol's test item is gone
    and the held-out item becomes the second-to-last one: a validation split
    that never sees the test items.
    """
    order = log.sort_values([cols["user_col"], cols["time_col"], cols["item_col"]], kind="stable")
    return order[order.duplicated(cols["user_col"], keep="last")]


def prepare(log, cols, max_history, min_interactions, validation=False):
    """`prepare_sequences` of the log; its errors, UsageErrors, name the log's file."""
    import ydnn

    if validation:
        log = drop_last_interaction(log, cols)
    try:
        return ydnn.data.prepare_sequences(
            log,
            cols["user_col"],
            cols["item_col"],
            cols["time_col"],
            max_history=max_history,
            min_interactions=min_interactions,
        )
    except ValueError as e:
        source = cols.get("source", "synthetic")
        raise UsageError(e if source == "synthetic" else f"interaction log {source!r}: {e}") from e


# -- evaluation --------------------------------------------------------------
def held_out_ranks(model, test, seen, depth, batch_size=1024):
    """Rank (1-based, 0: not in the top `depth`) of each test row's target,
    `{"all_items": [N], "exclude_seen": [N]}`: the one ranking every metric
    of both protocols is read from."""
    import tensorflow as tf

    import ydnn
    from ydnn.metrics import target_ranks

    ds = ydnn.data.to_dataset(
        test, batch_size, shuffle=False, seen=seen, item_column=model.candidate.name
    )

    @tf.function(reduce_retracing=True)
    def both(x):
        query = model(x, training=False)
        _, plain = model.retrieve(query, depth)
        _, masked = model.retrieve(query, depth, x["seen_items"])
        return plain, masked

    ranks = {"all_items": [], "exclude_seen": []}
    for x, y in ds:
        plain, masked = both(x)
        ranks["all_items"].append(target_ranks(y.numpy(), plain.numpy()))
        ranks["exclude_seen"].append(target_ranks(y.numpy(), masked.numpy()))
    return {name: np.concatenate(parts) for name, parts in ranks.items()}


def full_catalog_metrics(model, test, seen, k, batch_size=1024, cutoffs=None):
    """Top-k metrics of the test rows, over all items and excluding seen ones.

    One ranking per protocol, `max(k, cutoffs)` deep (capped by the
    catalog), gives the metrics at `k` and at every cut-off, and a 95%
    bootstrap interval over users of Recall@k (`recall_at_K_ci_low`,
    `recall_at_K_ci_high`).

    Args:
        model: `YoutubeDNNRetrievalModelV2`.
        test: `ydnn.data.Examples`.
        seen: `SequenceData` or `(indptr, items)` CSR of seen items by user.
        k: the headline cut-off.
        batch_size: rows scored at once.
        cutoffs: further cut-offs (default `ydnn.metrics.CUTOFFS`: 10, 20,
            50, 100); those deeper than the catalog are left out.

    Returns:
        `{"all_items": {...}, "exclude_seen": {...}}` of metric means.
    """

    from ydnn.metrics import CUTOFFS, bootstrap_interval, metrics_from_ranks

    catalog = model.max_id - model.min_sampled_id + 1
    cuts = sorted({k, *(c for c in (cutoffs or CUTOFFS) if c <= catalog)})
    depth = cuts[-1]
    ranks = held_out_ranks(model, test, seen, depth, batch_size)
    out = {}
    for name, r in ranks.items():
        out[name] = metrics_from_ranks(r, cuts)
        low, high = bootstrap_interval((r > 0) & (r <= k))
        out[name][f"recall_at_{k}_ci_low"], out[name][f"recall_at_{k}_ci_high"] = low, high
    return out


def validation_recall(model, rows, k, batch_size=1024):
    """Recall@k over all items of `rows`: the early-stopping signal, one ranking `k` deep."""
    import tensorflow as tf

    import ydnn
    from ydnn.metrics import target_ranks

    ds = ydnn.data.to_dataset(rows, batch_size, shuffle=False, item_column=model.candidate.name)

    @tf.function(reduce_retracing=True)
    def top(x):
        return model.retrieve(model(x, training=False), k)[1]

    ranks = np.concatenate([target_ranks(y.numpy(), top(x).numpy()) for x, y in ds])
    return float((ranks > 0).mean())


def most_popular_metrics(data, k, min_id, users=None, targets=None):
    """The most-popular baseline (training counts) both ways, same rows."""
    import ydnn

    users = data.test.user if users is None else users
    targets = data.test.target if targets is None else targets
    out = {}
    for name, exclude in (("all_items", False), ("exclude_seen", True)):
        top = ydnn.data.most_popular_top_k(
            data, k=k, exclude_seen=exclude, min_id=max(min_id, 1), users=users
        )
        out[name] = ydnn.metrics.ranking_metrics(targets, top, k)
    return out


def metrics_table(metrics, baseline, k):
    names = [f"{m}_at_{k}" for m in ("recall", "ndcg", "mrr", "map", "precision")]
    lines = [f"{'protocol':<22} {'ranker':<13}" + "".join(f"{n:>17}" for n in names)]
    for proto, label in PROTOCOLS.items():
        for ranker, values in (("model", metrics[proto]), ("most-popular", baseline[proto])):
            lines.append(
                f"{label:<22} {ranker:<13}" + "".join(f"{float(values[n]):>17.4f}" for n in names)
            )
    lines.append("")
    for proto, label in PROTOCOLS.items():
        values = metrics[proto]
        low, high = values[f"recall_at_{k}_ci_low"], values[f"recall_at_{k}_ci_high"]
        cuts = sorted(
            int(n[10:]) for n in values if n.startswith("recall_at_") and n[10:].isdigit()
        )
        lines.append(
            f"model, {label}: recall_at_{k} 95% interval over users [{low:.4f}, {high:.4f}]; "
            + ", ".join(
                f"@{c} recall {values[f'recall_at_{c}']:.4f} ndcg {values[f'ndcg_at_{c}']:.4f}"
                for c in cuts
            )
        )
    return "\n".join(lines)


def check_catalog(k, num_items, min_sampled_id, num_sampled=None):
    """`--k` (and for train the sampler options) against the catalog, before any work.

    The headline metrics and the most-popular baseline rank ids
    `max(min_sampled_id, 1)..num_items`, so that is the largest `--k`.
    """
    low = max(min_sampled_id, 1)
    if num_items < low:
        raise UsageError(
            f"--min-sampled-id {min_sampled_id} leaves no item to rank: the catalog "
            f"has {num_items} items; lower --min-sampled-id"
        )
    catalog = num_items - low + 1
    if k > catalog:
        raise UsageError(
            f"--k {k} is larger than the catalog ({catalog} items"
            f"{f' from id {low}' if low > 1 else ''}): give --k <= {catalog}"
        )
    sample_range = num_items - min_sampled_id + 1
    if num_sampled is not None and num_sampled > sample_range:
        raise UsageError(
            f"--num-sampled {num_sampled} is larger than the {sample_range} "
            f"candidate ids the sampler can draw: give --num-sampled <= "
            f"{sample_range}"
        )


def align_to_model(data, trained):
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
    order = np.argsort(hist == 0, axis=1, kind="stable")  # real ids first, in order
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
