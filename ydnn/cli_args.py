"""The `ydnn` command line's arguments: the parser and the checks between arguments.

Argument errors exit with status 2 as one line, `ydnn COMMAND: error:
argument ...`, that points at `--help`. Nothing here imports TensorFlow or
Keras, so `ydnn --help` and argument errors are instant; what the commands
do is in `ydnn.cli_run`, the error handling in `ydnn.cli`.
"""

import argparse
import os
import sys

from ydnn import cli_scaling


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line that points at --help (usage would bury it)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _top_block(text):
    try:
        dims = [int(d) for d in text.split(",") if d.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated widths like 128,64, got {text!r}"
        ) from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return dims


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            article = "an" if kind is int else "a"
            raise argparse.ArgumentTypeError(
                f"expected {article} {kind.__name__}, got {text!r}"
            ) from None
        if kind is float and not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be positive and finite, got {text!r}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text!r}")
        return value

    parse.__name__ = f"int >= {low}"
    return parse


def _non_empty(text):
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


MLP_INITIALIZERS = (
    "he_uniform",
    "he_normal",
    "glorot_uniform",
    "glorot_normal",
    "lecun_uniform",
    "lecun_normal",
)

SYNTHETIC_DEFAULTS = {
    "synthetic_users": 3000,
    "synthetic_items": 5000,
    "synthetic_interactions": 150_000,
    "data_seed": 0,
}


def _data_arguments(parser, defaults):
    """--interactions/--synthetic and the column options (defaults None: from the model)."""
    source = parser.add_mutually_exclusive_group(required=defaults)
    source.add_argument(
        "--interactions", metavar="FILE", help="interaction log: CSV (any --sep) or Parquet"
    )
    source.add_argument(
        "--synthetic", action="store_true", help="a generated log (ydnn.data.generate_interactions)"
    )
    d = (lambda v: v) if defaults else (lambda v: None)
    parser.add_argument(
        "--user-col", default=d("user_id"), type=_non_empty, help="user column (default user_id)"
    )
    parser.add_argument(
        "--item-col", default=d("item_id"), type=_non_empty, help="item column (default item_id)"
    )
    parser.add_argument(
        "--time-col",
        default=d("timestamp"),
        type=_non_empty,
        help="time column (default timestamp)",
    )
    parser.add_argument(
        "--sep", default=d(","), type=_non_empty, help="CSV separator (default ',')"
    )
    # Defaults (train: SYNTHETIC_DEFAULTS, evaluate: the model's) are filled
    # in later, so that giving one without --synthetic can be refused.
    parser.add_argument("--synthetic-users", type=_positive(int), default=None, help="default 3000")
    parser.add_argument("--synthetic-items", type=_positive(int), default=None, help="default 5000")
    parser.add_argument(
        "--synthetic-interactions", type=_positive(int), default=None, help="default 150000"
    )
    parser.add_argument(
        "--data-seed",
        type=_at_least(0),
        default=None,
        help="seed of the synthetic log (default 0; fixed across training seeds)",
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="drop each user's last interaction first, so the held-out item "
        "is the second-to-last one: tune on this, never on the test item",
    )


def _output_arguments(parser):
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object as the last line of output"
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="Keras progress: 0 none, 1 bars, 2 a line per epoch (default 1 on a terminal, else 2)",
    )


def _model_arguments(train):
    """The model and training settings; default None, filled from --preset."""
    train.add_argument(
        "--preset",
        choices=("ydnn", "merlin"),
        default="ydnn",
        help="defaults of the settings below: ydnn's (chosen on validation data) or "
        "Merlin's YoutubeDNNRetrievalModelV2 (mean pooling, MLP 64 with ReLU, Glorot "
        "kernels, 0.05 tables, 10 epochs); options given explicitly win",
    )
    train.add_argument("--max-history", type=_positive(int), default=None, help="default 20")
    train.add_argument(
        "--min-interactions",
        type=_at_least(2),
        default=3,
        help="drop users with fewer interactions (default 3, at least 2)",
    )
    train.add_argument(
        "--epochs", type=_positive(int), default=None, help="default 20 (merlin: 10)"
    )
    train.add_argument(
        "--batch-size", type=_positive(int), default=None, help=cli_scaling.BATCH_HELP
    )
    train.add_argument("--embedding-dim", type=_positive(int), default=None, help="default 64")
    train.add_argument(
        "--top-block",
        type=_top_block,
        default=None,
        metavar="W1,W2,...",
        help="MLP widths; the last must equal --embedding-dim (default 2D,D for "
        "--embedding-dim D; merlin: 64)",
    )
    train.add_argument(
        "--activation-last-layer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ReLU on the last MLP layer (default off: linear; merlin: on)",
    )
    train.add_argument(
        "--mlp-initializer",
        choices=MLP_INITIALIZERS,
        default=None,
        help="MLP kernel initializer (default he_uniform; merlin: glorot_uniform)",
    )
    train.add_argument(
        "--table-init-stddev",
        type=_positive(float),
        default=None,
        help="standard deviation of the tables' truncated normal (default "
        "1/sqrt(--embedding-dim); merlin: 0.05)",
    )
    train.add_argument(
        "--combiner",
        choices=("mean", "sqrtn", "sum"),
        default=None,
        help="pooling of the history embeddings (default sqrtn; merlin: mean)",
    )
    train.add_argument(
        "--separate-output-table",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="score candidates against their own table instead of the history's "
        "(the paper's design; default tied, as Merlin)",
    )
    train.add_argument(
        "--table-dtype",
        choices=("float32", "bfloat16", "float16"),
        default="float32",
        help="storage of the embedding tables: 16-bit halves their memory and bytes "
        "moved (float32 optimizer maths, stochastic rounding; default float32)",
    )
    train.add_argument(
        "--num-sampled", type=_positive(int), default=None, help="negatives per batch (default 100)"
    )
    train.add_argument(
        "--min-sampled-id",
        type=_at_least(1),
        default=1,
        help="smallest id drawn as a negative or recommended (default 1: the "
        "command's data uses id 0 for padding, so 0 is refused)",
    )
    train.add_argument(
        "--logits-temperature", type=_positive(float), default=None, help="default 1.0"
    )
    train.add_argument(
        "--learning-rate",
        type=_positive(float),
        default=None,
        help="Adam's (default 3e-3; merlin: 1e-3)",
    )
    train.add_argument(
        "--lr-schedule",
        choices=("cosine", "constant"),
        default=None,
        help="cosine: decay the learning rate to 0 over --epochs (default); constant: "
        "keep it (merlin)",
    )


# `ydnn export --index-NAME N`: the AnnIndex.build parameters, with their meaning.
INDEX_OPTIONS = {
    "m": "HNSW links per item (default 16; more: better recall, more memory)",
    "ef_construction": "candidate list while building (default 100)",
    "ef_search": "default candidate list while searching (default 64; more: better "
    "recall, fewer queries/s)",
}


def build_parser():
    parser = _Parser(
        prog="ydnn", description="YouTube-DNN retrieval: train, evaluate, recommend, export."
    )
    _debug_argument(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="prepare a log (leave-last-out), train, evaluate, save",
        description="Prepare the log with the leave-last-out protocol, train, evaluate on the "
        "held-out last items (full catalog) next to most-popular, save to --out.",
    )
    _data_arguments(train, defaults=True)
    _model_arguments(train)
    train.add_argument(
        "--steps-per-execution",
        type=_positive(int),
        default=128,
        help="training steps per tf.function call (default 128: at batch 256 "
        "Keras's per-call overhead, not the kernels, sets the speed)",
    )
    train.add_argument("--k", type=_positive(int), default=10)
    train.add_argument(
        "--early-stopping",
        type=_at_least(0),
        default=None,
        metavar="PATIENCE",
        help="hold out each user's second-to-last item as validation, stop once its "
        "Recall@k has not improved for PATIENCE epochs, keep the best epoch, and report "
        "validation and test metrics (default 0: off, --epochs epochs)",
    )
    train.add_argument("--seed", type=_at_least(0), default=0)
    train.add_argument("--ops", choices=("fused", "stock"), default="fused")
    train.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="model directory to write (created; must be empty)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the model already in --out (only once the new one is complete)",
    )
    cli_scaling.add_arguments(train, _positive)
    _output_arguments(train)

    evaluate = commands.add_parser(
        "evaluate",
        help="full-catalog metrics of a saved model on a log",
        description="Evaluate a saved model on a log with the leave-last-out protocol (data "
        "settings default to the model's).",
    )
    evaluate.add_argument("--model", required=True, metavar="DIR")
    _data_arguments(evaluate, defaults=False)
    evaluate.add_argument(
        "--k", type=_positive(int), default=None, help="cut-off (default: the model's --k)"
    )
    evaluate.add_argument("--batch-size", type=_positive(int), default=1024)
    _output_arguments(evaluate)

    recommend = commands.add_parser(
        "recommend",
        help="top-k items for a user of the training log",
        description="Top-k items for a user after all of their interactions, decoded to the "
        "original item ids; items the user already had are excluded.",
    )
    recommend.add_argument("--model", required=True, metavar="DIR")
    recommend.add_argument("--user", required=True, help="original user id")
    recommend.add_argument("--k", type=_positive(int), default=10)
    recommend.add_argument(
        "--include-seen", action="store_true", help="allow items the user already had"
    )
    recommend.add_argument("--json", action="store_true")

    export = commands.add_parser(
        "export",
        help="a TF SavedModel: history -> top-k ids and scores, no ydnn needed",
        description="Write a TensorFlow SavedModel whose serving_default signature takes the "
        "padded history (int32 [B, H], model ids, 0 = padding) and returns top-k "
        "ids, original item_ids and scores. Built from stock TF ops only (unless --fused-top-k).",
    )
    export.add_argument("--model", required=True, metavar="DIR")
    export.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="SavedModel directory to write (created; must be empty)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace the SavedModel already in --out"
    )
    export.add_argument("--k", type=_positive(int), default=10)
    export.add_argument(
        "--include-seen",
        action="store_true",
        help="do not exclude the history's items from the results",
    )
    export.add_argument(
        "--fused-top-k",
        action="store_true",
        help="score and select with ydnn's topk_scores op: faster serving, but loading the "
        "SavedModel then needs ydnn (import ydnn_kernels.topk_scores_op first)",
    )
    export.add_argument(
        "--index",
        action="store_true",
        help="also write an approximate (faiss HNSW) index of the candidate embeddings to "
        "--out/ann_index, checked against exact top-k (needs pip install 'ydnn[ann]')",
    )
    for name, meaning in INDEX_OPTIONS.items():
        export.add_argument(
            f"--index-{name.replace('_', '-')}",
            type=_positive(int),
            default=None,
            metavar="N",
            help=f"with --index: {meaning}",
        )
    export.add_argument("--json", action="store_true")
    for command in commands.choices.values():
        # SUPPRESS: a subcommand's default must not reset `ydnn --debug COMMAND`.
        _debug_argument(command, default=argparse.SUPPRESS)
    parser.commands = commands.choices
    return parser


def _debug_argument(parser, default):
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="on an error, print the full traceback before the one-line message",
    )


def parse_arguments(argv=None):
    """The parsed and cross-checked arguments; argument errors exit with status 2."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the subcommand, as every other argument error is
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    _check_arguments(parser, args)
    if getattr(args, "verbose", None) is None and hasattr(args, "verbose"):
        args.verbose = 1 if sys.stdout.isatty() else 2
    return args


def _check_arguments(parser, args):
    """Contradictions between arguments: argparse-style errors (status 2)."""
    error = parser.commands[args.command].error
    if args.command == "train":
        _fill_preset(args)
    if args.command == "train" and args.top_block[-1] != args.embedding_dim:
        error(
            f"argument --top-block: the last width ({args.top_block[-1]}) must equal "
            f"--embedding-dim ({args.embedding_dim}): query and item embeddings share a space"
        )
    if args.command in ("train", "evaluate"):
        given = [k for k in SYNTHETIC_DEFAULTS if getattr(args, k) is not None]
        if given and args.interactions is not None:
            error(
                f"argument --{given[0].replace('_', '-')}: only applies to --synthetic, not "
                f"to --interactions"
            )
        cols = [c for c in ("user_col", "item_col", "time_col") if getattr(args, c) is not None]
        values = [getattr(args, c) for c in cols]
        for c in cols:
            if values.count(getattr(args, c)) > 1:
                error(
                    f"argument --{c.replace('_', '-')}: {getattr(args, c)!r} is also given "
                    f"for another column; the user, item and time columns must differ"
                )
    if args.command == "train" and args.synthetic:
        for key, value in SYNTHETIC_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    if args.command == "train":
        cli_scaling.check_arguments(args, error)
    if args.command == "train" and args.early_stopping and args.validation:
        error(
            "argument --early-stopping: it holds out each user's second-to-last item "
            "itself; --validation would hold out the third-to-last. Give one of them"
        )
    if args.command == "export" and not args.index:
        given = [k for k in INDEX_OPTIONS if getattr(args, f"index_{k}") is not None]
        if given:
            error(f"argument --index-{given[0].replace('_', '-')}: only applies with --index")
    if args.command == "export" and _same_path(args.out, args.model):
        error(
            f"argument --out: {args.out!r} is the --model directory; give the SavedModel "
            f"its own directory"
        )


def _fill_preset(args):
    """Settings not given on the command line take the preset's values."""
    from ydnn.presets import get  # no TensorFlow: presets import Keras lazily

    preset = get(args.preset).train
    for key, value in preset.items():
        if key != "tower" and getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.top_block is None:
        d = args.embedding_dim
        args.top_block = [m * d for m in preset["tower"]] + [d]


def _same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)
