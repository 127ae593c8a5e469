"""Command-line argument errors (status 2, nothing read): cases for `cases_cli`.

Each must be refused by the parser or the checks right after it with one
`ydnn COMMAND: error: argument ...` line that ends by pointing at `--help`.
"""

from tests.robustness.catalogue import Case
from tests.robustness.cli_fixtures import HELP, call, fails, train

COMMANDS = ("train", "evaluate", "recommend", "export")


def arg_error(what, argv, *patterns, tiny=True):
    """A case refused by argument checks: status 2, one line pointing at --help.

    `train` argv get TINY and a new --out unless `tiny` is False, so that only
    the argument under test is wrong.
    """
    command = argv[0] if argv and argv[0] in COMMANDS else ""
    run = train(*argv[1:]) if argv[:1] == ["train"] and tiny else argv
    return Case(
        f"cli/{command or 'ydnn'}/{what}", call(run), check=fails(command, *patterns, HELP, code=2)
    )


ARG_CASES = [
    # -- argument errors (status 2, before anything is read) --------------------
    arg_error("no-command", [], "the following arguments are required: COMMAND"),
    arg_error("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    arg_error(
        "no-source",
        ["train", "--out", "x"],
        "one of the arguments --interactions --synthetic is required",
        tiny=False,
    ),
    arg_error(
        "both-sources",
        ["train", "--synthetic", "--interactions", "log.csv", "--out", "x"],
        "not allowed with",
        tiny=False,
    ),
    arg_error("no-out", ["train", "--synthetic"], "required: --out", tiny=False),
    arg_error("epochs-zero", ["train", "--epochs", "0"], "--epochs: must be positive"),
    arg_error("epochs-negative", ["train", "--epochs", "-3"], "--epochs"),
    arg_error("epochs-float", ["train", "--epochs", "1.5"], "--epochs: expected an int, got '1.5'"),
    arg_error("batch-size-zero", ["train", "--batch-size", "0"], "--batch-size: must be positive"),
    arg_error("batch-size-text", ["train", "--batch-size", "big"], "--batch-size.*'big'"),
    arg_error("learning-rate-text", ["train", "--learning-rate", "abc"], "--learning-rate.*'abc'"),
    arg_error("learning-rate-zero", ["train", "--learning-rate", "0"], "--learning-rate: must be"),
    arg_error(
        "learning-rate-negative",
        ["train", "--learning-rate=-1e-3"],
        "--learning-rate: must be positive and finite, got '-1e-3'",
    ),
    arg_error("learning-rate-nan", ["train", "--learning-rate", "nan"], "--learning-rate.*'nan'"),
    arg_error(
        "learning-rate-inf",
        ["train", "--learning-rate", "inf"],
        "--learning-rate: must be positive and finite, got 'inf'",
    ),
    arg_error("temperature-zero", ["train", "--logits-temperature", "0"], "--logits-temperature"),
    arg_error("temperature-inf", ["train", "--logits-temperature", "inf"], "--logits-temperature"),
    arg_error("top-block-letters", ["train", "--top-block", "32,a"], "--top-block.*'32,a'"),
    arg_error("top-block-empty", ["train", "--top-block", ""], "--top-block"),
    arg_error("top-block-zero-width", ["train", "--top-block", "0,16"], "--top-block.*positive"),
    arg_error(
        "top-block-mismatch",
        ["train", "--top-block", "32,8"],
        r"last width \(8\) must equal --embedding-dim \(16\)",
    ),
    arg_error("ops-unknown", ["train", "--ops", "fast"], "--ops: invalid choice: 'fast'"),
    arg_error("combiner-unknown", ["train", "--combiner", "max"], "--combiner: invalid choice"),
    arg_error("max-history-zero", ["train", "--max-history", "0"], "--max-history"),
    arg_error(
        "min-interactions-one",
        ["train", "--min-interactions", "1"],
        "--min-interactions: must be >= 2, got '1'",
    ),
    arg_error("num-sampled-zero", ["train", "--num-sampled", "0"], "--num-sampled"),
    arg_error("min-sampled-id-negative", ["train", "--min-sampled-id", "-1"], "--min-sampled-id"),
    # Id 0 is the padding of the command's data: sampled or recommended, it
    # reached `recommend` as an item and failed in decode.
    arg_error(
        "min-sampled-id-padding",
        ["train", "--min-sampled-id", "0"],
        "--min-sampled-id: must be >= 1, got '0'",
    ),
    arg_error("k-zero", ["train", "--k", "0"], "--k: must be positive"),
    arg_error("seed-negative", ["train", "--seed", "-1"], "--seed: must be >= 0"),
    arg_error("verbose-three", ["train", "--verbose", "3"], "--verbose: invalid choice"),
    arg_error(
        "steps-per-execution-zero", ["train", "--steps-per-execution", "0"], "--steps-per-execution"
    ),
    arg_error("embedding-dim-zero", ["train", "--embedding-dim", "0"], "--embedding-dim"),
    arg_error("unknown-option", ["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    arg_error("synthetic-users-zero", ["train", "--synthetic-users", "0"], "--synthetic-users"),
    arg_error("empty-separator", ["train", "--sep", ""], "--sep: must not be empty"),
    arg_error("empty-user-column", ["train", "--user-col", ""], "--user-col: must not be empty"),
    arg_error(
        "same-user-and-item-column",
        ["train", "--user-col", "id", "--item-col", "id"],
        "--user-col: 'id' is also given for another column",
    ),
    arg_error(
        "synthetic-option-with-log",
        ["train", "--interactions", "log.csv", "--synthetic-users", "10", "--out", "x"],
        "--synthetic-users: only applies to --synthetic",
        tiny=False,
    ),
    arg_error(
        "data-seed-with-log",
        ["train", "--interactions", "log.csv", "--data-seed", "3", "--out", "x"],
        "--data-seed: only applies to --synthetic",
        tiny=False,
    ),
    arg_error("no-model", ["evaluate"], "required: --model"),
    arg_error("k-zero", ["evaluate", "--model", "m", "--k", "0"], "--k: must be positive"),
    arg_error("batch-size-zero", ["evaluate", "--model", "m", "--batch-size", "0"], "--batch-size"),
    arg_error(
        "both-sources",
        ["evaluate", "--model", "m", "--synthetic", "--interactions", "f"],
        "not allowed with",
    ),
    arg_error(
        "synthetic-option-with-log",
        ["evaluate", "--model", "m", "--interactions", "f", "--synthetic-items", "5"],
        "--synthetic-items",
    ),
    arg_error("no-user", ["recommend", "--model", "m"], "required: --user"),
    arg_error("no-model", ["recommend", "--user", "7"], "required: --model"),
    arg_error("k-negative", ["recommend", "--model", "m", "--user", "7", "--k", "-2"], "--k"),
    arg_error("k-text", ["recommend", "--model", "m", "--user", "7", "--k", "ten"], "'ten'"),
    arg_error("no-out", ["export", "--model", "m"], "required: --out"),
    arg_error("k-zero", ["export", "--model", "m", "--out", "s", "--k", "0"], "--k"),
    arg_error(
        "out-is-model",
        ["export", "--model", "m", "--out", "./m"],
        "--out: './m' is the --model directory; give the SavedModel its own",
    ),
]
