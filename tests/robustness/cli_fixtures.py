"""Inputs and checks shared by the command-line cases (`cases_cli.py`).

Everything is built on first use, never at import: one tiny synthetic model
(the TINY run of tests/test_cli.py, one epoch), the logs the cases read, and
copies of the model damaged in one way each. All of it lives in one
temporary directory, removed when the worker exits.
"""

import atexit
import contextlib
import functools
import io
import itertools
import json
import os
import re
import shutil
import tempfile

import numpy as np

from tests.cli_tiny import tiny_train_args
from ydnn.cli import main

TINY = tiny_train_args(epochs=1)
# Same log as TINY's --synthetic options, for the CSV and evaluate cases.
SYNTHETIC = {"num_users": 200, "num_items": 300, "num_interactions": 6000, "seed": 0}
_names = itertools.count()


def cli(argv):
    """`ydnn.cli.main(argv)` in this process: (exit status, stdout, stderr).

    argparse's SystemExit becomes its status, as the shell would see it.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def call(make):
    """A case's `run`: `make` is argv, or a callable giving argv or (argv, dirs to watch).

    Paths come from `make` at run time, so fixtures are built only by the
    cases that need them. Returns (status, stdout, stderr, context), the
    context holding argv and a snapshot of each watched directory.
    """

    def run():
        made = make() if callable(make) else make
        argv, watch = made if isinstance(made, tuple) else (made, ())
        before = {d: snapshot(d) for d in watch}
        return cli(argv) + ({"argv": [str(a) for a in argv], "before": before},)

    return run


@functools.lru_cache(maxsize=None)
def root():
    path = tempfile.mkdtemp(prefix="ydnn-cli-cases-")
    atexit.register(shutil.rmtree, path, True)
    return path


def fresh(stem="out"):
    """A path in the case directory that does not exist yet."""
    return os.path.join(root(), f"{stem}-{next(_names)}")


def directory_with(*names, stem="dir"):
    """A new directory holding empty files `names`."""
    path = fresh(stem)
    os.makedirs(path)
    for name in names:
        open(os.path.join(path, name), "w").close()
    return path


@functools.lru_cache(maxsize=None)
def model():
    """The shared tiny model directory (trained on first use, about 3 s)."""
    out = os.path.join(root(), "model")
    code, _, err = cli(["train"] + TINY + ["--out", out])
    assert code == 0, f"training the shared model failed: {err}"
    return out


def model_copy(damage=None):
    """A copy of the shared model, with `damage(directory)` applied."""
    path = fresh("model-copy")
    shutil.copytree(model(), path)
    if damage is not None:
        damage(path)
    return path


def snapshot(path):
    """What `path` holds, to prove it was left untouched: None if absent, a
    file's bytes, or a directory's {relative path: bytes} (empty folders too)."""
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path):
        return open(path, "rb").read()
    found = {}
    for folder, dirs, files in os.walk(path):
        rel = os.path.relpath(folder, path)
        found[rel + "/"] = sorted(dirs + files)
        for name in files:
            found[os.path.join(rel, name)] = open(os.path.join(folder, name), "rb").read()
    return found


# -- damage --------------------------------------------------------------------
def truncate(name, keep=0.5):
    def damage(directory):
        path = os.path.join(directory, name)
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[: int(len(data) * keep)])

    return damage


def overwrite(name, data):
    def damage(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        if data is None:
            return
        if isinstance(data, str) and data == "<directory>":
            os.makedirs(path)
            return
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)

    return damage


def edit_settings(change):
    """Rewrites ydnn.json after `change(settings)` (which edits the dict in place)."""

    def damage(directory):
        path = os.path.join(directory, "ydnn.json")
        settings = json.load(open(path))
        change(settings)
        with open(path, "w") as f:
            json.dump(settings, f)

    return damage


def edit_users(**arrays):
    """Rewrites users.npz with some arrays replaced (None: left out; a callable: of the old)."""

    def damage(directory):
        path = os.path.join(directory, "users.npz")
        with np.load(path) as users:
            content = {k: users[k] for k in users.files}
        for key, value in arrays.items():
            if value is None:
                content.pop(key)
            else:
                content[key] = value(content[key]) if callable(value) else value
        np.savez(path, **content)

    return damage


# -- logs ----------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def synthetic_log():
    import ydnn

    return ydnn.data.generate_interactions(**SYNTHETIC)


def log_file(text=None, frame=None, sep=",", suffix=".csv"):
    """A log file from raw text/bytes or a DataFrame."""
    path = fresh("log") + suffix
    if frame is not None:
        frame.to_csv(path, sep=sep, index=False)
    else:
        with open(
            path,
            "wb" if isinstance(text, bytes) else "w",
            encoding=None if isinstance(text, bytes) else "utf-8",
        ) as f:
            f.write(text)
    return path


def rows(header="user_id,item_id,timestamp", lines=(), users=4, per_user=4):
    """CSV text: `lines`, or `users` x `per_user` interactions over 6 items."""
    body = list(lines) or [
        f"{u},{(u + t) % 6 + 1},{t}" for u in range(users) for t in range(per_user)
    ]
    return "\n".join([header] + body) + "\n"


# -- checks --------------------------------------------------------------------
def fails(command, *patterns, code=1):
    """The check of a refused input: status `code`, one error line matching `patterns`.

    The line must be `ydnn COMMAND: error: ...` (argparse's own errors say
    `ydnn COMMAND` too), with no traceback anywhere.
    """
    prefix = f"ydnn {command}: error: " if command else "ydnn: error: "

    def check(result):
        got, out, err = result[:3]
        assert "Traceback" not in err + out, f"traceback:\n{err[-1500:]}"
        assert got == code, f"exit status {got}, want {code}; stderr: {err[-1500:]!r}"
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"stderr is not one line: {err[-1500:]!r}"
        assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
        for pattern in patterns:
            assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"

    return check


def succeeds(then=None):
    """The check of a valid input: status 0, no error text, `then(json, stdout)` on --json."""

    def check(result):
        got, out, err = result[:3]
        assert got == 0, f"exit status {got}; stderr: {err[-1500:]!r}"
        assert "Traceback" not in err and "error:" not in err, err[-1500:]
        if then is not None:
            then(json.loads(out.strip().splitlines()[-1]), out)

    return check


def untouched(check):
    """`check`, and every watched directory holds exactly the bytes it held."""

    def both(result):
        check(result)
        for directory, before in result[3]["before"].items():
            assert snapshot(directory) == before, f"{directory} was changed"

    return both


def nothing_written(check):
    """`check`, and `--out` was not created."""

    def both(result):
        check(result)
        argv = result[3]["argv"]
        out = argv[argv.index("--out") + 1]
        assert not os.path.exists(out), f"{out} was written"

    return both


def before_training(check):
    """`check`, and the refusal came first: no training, `--out` not created."""

    def both(result):
        nothing_written(check)(result)
        assert "training:" not in result[1], "the refusal came after training"

    return both


def expect(condition, detail):
    """An assertion usable inside a lambda."""
    if not condition:
        raise AssertionError(detail)


# -- shared by the case modules --------------------------------------------------
HELP = r"\(see `ydnn( \w+)? --help`\)$"
# Not UTF-8 from the first byte, not a zip, not JSON, not NumPy.
GARBAGE = b"\x89\xfe\xff" + bytes(range(256)) * 8


def train(*extra):
    """Lazy argv of a tiny synthetic training into a new --out."""
    return lambda: ["train"] + TINY + [str(a) for a in extra] + ["--out", fresh()]
