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
reported twice: over all items (the headline, and what Merlin's TopKEncoder
measures) and with each user's earlier items excluded;
the most-popular baseline is computed under the same protocol, both ways.

Errors in the arguments exit with status 2 (`ydnn.cli_args`); errors in the
data, the model directory or the output directory (a `UsageError`, or a
file or memory error) with status 1; each as one line `ydnn COMMAND: error:
...` on standard error that names the argument or file and what to do. With
`--debug` the traceback comes first. Any other exception is a bug in ydnn
and keeps its traceback. An interrupt exits with 130. Everything that can
be checked before training is: `--out` (refused if it is a file, not empty
without `--overwrite`, or not writable), `--k` and the sampler options
against the catalog. `--json` prints one JSON object as the last line of
standard output. Parsing the arguments imports neither TensorFlow nor
Keras: `ydnn --help` and argument errors are instant.
"""

import contextlib
import json
import os
import sys
import traceback

from ydnn.cli_args import parse_arguments


class UsageError(ValueError):
    """The user's input is at fault: an argument, a data file, a model or output directory.

    Its message is the whole report (one line saying what to do), so the
    command prints it without a traceback.
    """


@contextlib.contextmanager
def blame_user(*kinds):
    """Turns exceptions of `kinds` raised inside into `UsageError`.

    Only around the library calls whose errors of those kinds are about the
    user's input and say so (reading a log, loading a model directory), so
    the same kinds raised anywhere else still show as bugs.
    """
    try:
        yield
    except kinds as e:
        # KeyError's str() quotes its message; the message itself reads better.
        text = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise UsageError(" ".join(str(text).split()) or type(e).__name__) from e


def _check_files(args):
    """What can be checked on disk before TensorFlow loads."""
    if getattr(args, "interactions", None) is not None and not os.path.exists(args.interactions):
        raise UsageError(
            f"interaction log {args.interactions!r} does not exist: check --interactions"
        )
    if args.command in ("train", "export"):
        from ydnn.atomic_dir import check_output_directory
        from ydnn.trained_model import MODEL_FILES, SAVED_MODEL_FILES

        with blame_user(ValueError):
            if args.command == "train":
                check_output_directory(args.out, args.overwrite, MODEL_FILES, "a ydnn model")
            else:
                check_output_directory(args.out, args.overwrite, SAVED_MODEL_FILES, "a SavedModel")


def main(argv=None):
    """Entry point of `ydnn` / `python -m ydnn`; returns the exit status."""
    args = parse_arguments(argv)
    try:
        _check_files(args)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # A broken install (ydnn_kernels unbuilt, or built for another
        # TensorFlow) fails here, with a message that says how to rebuild.
        with blame_user(ImportError):
            import ydnn_kernels  # noqa: F401  (checks its build against the installed TF)
            from ydnn.cli_run import run_evaluate, run_export, run_recommend, run_train

        runners = {
            "train": run_train,
            "evaluate": run_evaluate,
            "recommend": run_recommend,
            "export": run_export,
        }
        result = runners[args.command](args)
    except KeyboardInterrupt:
        # The output directories are written whole or not at all, so an
        # interrupt leaves them as they were or complete.
        if args.debug:
            traceback.print_exc()
        print(f"ydnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except (UsageError, OSError, MemoryError) as e:
        # The input or the machine (a file that cannot be read or written,
        # too little memory), not ydnn: one line that says what to do.
        if args.debug:
            traceback.print_exc()
        print(f"ydnn {args.command}: error: {_message(e)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, default=float))
    return 0


def _message(error):
    """One line: OSError with its file, MemoryError with what to lower."""
    if isinstance(error, MemoryError):
        text = (
            f"out of memory ({error or 'allocation failed'}): lower --max-history or "
            f"--batch-size, or use a smaller log"
        )
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
