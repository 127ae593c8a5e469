"""The `ydnn` command line: train, evaluate, recommend, export.

    ydnn train --interactions ratings.csv --user-col userId --item-col movieId \\
        --top-block 128,64 --no-activation-last-layer --out run/
    ydnn train --synthetic --out run/          # generated log (ydnn.data.generate_interactions)
    ydnn evaluate --model run/ --interactions ratings.csv
    ydnn recommend --model run/ --user 42 --k 10
    ydnn export --model run/ --out serving/    # SavedModel that loads without ydnn

Protocol (train, evaluate): leave-last-out, as `ydnn.data.prepare_sequences`:
users with fewer than 3 interactions dropped, each user's last item is the
test target with up to `--max-history` items before it, every earlier
position t >= 1 a training example. Metrics are full-catalog top-k,
reported twice: over all items (the headline: the issue's protocol, and what
Merlin's TopKEncoder measures) and with each user's earlier items excluded;
the most-popular baseline is computed under the same protocol, both ways.

Errors in the arguments exit with status 2 (argparse), errors in the data
or model directory with status 1 and a one-line message; `--json` prints one
JSON object as the last line of standard output.
"""

import argparse
import json
import os
import sys


def _top_block(text):
    try:
        dims = [int(d) for d in text.split(",") if d.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 128,64, "
                                         f"got {text!r}") from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return dims


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _data_arguments(parser, defaults):
    """--interactions/--synthetic and the column options (defaults None: from the model)."""
    source = parser.add_mutually_exclusive_group(required=defaults)
    source.add_argument("--interactions", metavar="FILE",
                        help="interaction log: CSV (any --sep) or Parquet")
    source.add_argument("--synthetic", action="store_true",
                        help="a generated log (ydnn.data.generate_interactions)")
    d = (lambda v: v) if defaults else (lambda v: None)
    parser.add_argument("--user-col", default=d("user_id"), help="user column (default user_id)")
    parser.add_argument("--item-col", default=d("item_id"), help="item column (default item_id)")
    parser.add_argument("--time-col", default=d("timestamp"),
                        help="time column (default timestamp)")
    parser.add_argument("--sep", default=d(","), help="CSV separator (default ',')")
    parser.add_argument("--synthetic-users", type=_positive(int), default=d(3000))
    parser.add_argument("--synthetic-items", type=_positive(int), default=d(5000))
    parser.add_argument("--synthetic-interactions", type=_positive(int), default=d(150_000))
    parser.add_argument("--data-seed", type=_non_negative_int, default=d(0),
                        help="seed of the synthetic log (fixed across training seeds)")
    parser.add_argument("--validation", action="store_true",
                        help="drop each user's last interaction first, so the held-out item "
                             "is the second-to-last one: tune on this, never on the test item")


def _output_arguments(parser):
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object as the last line of output")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="Keras progress: 0 none, 1 bars, 2 a line per epoch "
                             "(default 1 on a terminal, else 2)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ydnn", description="YouTube-DNN retrieval: train, evaluate, recommend, export.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", help="prepare a log (leave-last-out), train, evaluate, save",
        description="Prepare the log with the leave-last-out protocol, train, evaluate on the "
                    "held-out last items (full catalog) next to most-popular, save to --out.")
    _data_arguments(train, defaults=True)
    train.add_argument("--max-history", type=_positive(int), default=20)
    train.add_argument("--min-interactions", type=_positive(int), default=3)
    train.add_argument("--epochs", type=_positive(int), default=10)
    train.add_argument("--batch-size", type=_positive(int), default=256)
    train.add_argument("--embedding-dim", type=_positive(int), default=64)
    train.add_argument("--top-block", type=_top_block, default=[64], metavar="W1,W2,...",
                       help="MLP widths; the last must equal --embedding-dim (default 64)")
    train.add_argument("--no-activation-last-layer", action="store_true",
                       help="leave the last MLP layer linear")
    train.add_argument("--combiner", choices=("mean", "sqrtn", "sum"), default="mean",
                       help="pooling of the history embeddings (default mean, as Merlin)")
    train.add_argument("--separate-output-table", action="store_true",
                       help="score candidates against their own table instead of the history's "
                            "(the paper's design; default tied, as Merlin)")
    train.add_argument("--num-sampled", type=_positive(int), default=100)
    train.add_argument("--min-sampled-id", type=_non_negative_int, default=1)
    train.add_argument("--logits-temperature", type=_positive(float), default=1.0)
    train.add_argument("--learning-rate", type=_positive(float), default=1e-3)
    train.add_argument("--steps-per-execution", type=_positive(int), default=128,
                       help="training steps per tf.function call (default 128: at batch 256 "
                            "Keras's per-call overhead, not the kernels, sets the speed)")
    train.add_argument("--k", type=_positive(int), default=10)
    train.add_argument("--seed", type=_non_negative_int, default=0)
    train.add_argument("--ops", choices=("fused", "stock"), default="fused")
    train.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    _output_arguments(train)

    evaluate = commands.add_parser(
        "evaluate", help="full-catalog metrics of a saved model on a log",
        description="Evaluate a saved model on a log with the leave-last-out protocol (data "
                    "settings default to the model's).")
    evaluate.add_argument("--model", required=True, metavar="DIR")
    _data_arguments(evaluate, defaults=False)
    evaluate.add_argument("--k", type=_positive(int), default=None,
                          help="cut-off (default: the model's --k)")
    evaluate.add_argument("--batch-size", type=_positive(int), default=1024)
    _output_arguments(evaluate)

    recommend = commands.add_parser(
        "recommend", help="top-k items for a user of the training log",
        description="Top-k items for a user after all of their interactions, decoded to the "
                    "original item ids; items the user already had are excluded.")
    recommend.add_argument("--model", required=True, metavar="DIR")
    recommend.add_argument("--user", required=True, help="original user id")
    recommend.add_argument("--k", type=_positive(int), default=10)
    recommend.add_argument("--include-seen", action="store_true",
                           help="allow items the user already had")
    recommend.add_argument("--json", action="store_true")

    export = commands.add_parser(
        "export", help="a TF SavedModel: history -> top-k ids and scores, no ydnn needed",
        description="Write a TensorFlow SavedModel whose serving_default signature takes the "
                    "padded history (int32 [B, H], model ids, 0 = padding) and returns top-k "
                    "ids, original item_ids and scores. Built from stock TF ops only.")
    export.add_argument("--model", required=True, metavar="DIR")
    export.add_argument("--out", required=True, metavar="DIR")
    export.add_argument("--k", type=_positive(int), default=10)
    export.add_argument("--include-seen", action="store_true",
                        help="do not exclude the history's items from the results")
    export.add_argument("--json", action="store_true")
    return parser


def main(argv=None):
    """Entry point of `ydnn` / `python -m ydnn`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.top_block[-1] != args.embedding_dim:
        parser.error(f"argument --top-block: the last width ({args.top_block[-1]}) must equal "
                     f"--embedding-dim ({args.embedding_dim}): query and item embeddings share "
                     f"a space")
    if getattr(args, "verbose", None) is None and hasattr(args, "verbose"):
        args.verbose = 1 if sys.stdout.isatty() else 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ydnn.cli_run import run_evaluate, run_export, run_recommend, run_train

    runners = {"train": run_train, "evaluate": run_evaluate, "recommend": run_recommend,
               "export": run_export}
    try:
        result = runners[args.command](args)
    except (FileNotFoundError, KeyError, ValueError, ImportError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"ydnn {args.command}: error: {message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
