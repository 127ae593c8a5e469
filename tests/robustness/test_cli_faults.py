"""`ydnn train --overwrite` killed or interrupted at every point of its save.

A model directory holds an old model; a second training (another seed)
overwrites it in a subprocess that signals itself at one point of the save
(`ydnn.atomic_dir.fault_hook`, see `cli_fault_child`). Up to and
including "before-rename" the directory must still hold the old model,
byte for byte, giving the old `recommend` answers; from "after-rename" on
it holds the complete new model, giving the answers of an undisturbed run.
Never a mix, never a truncated file. An interrupt (SIGINT) also removes the
temporary directory and exits 130 with one line; a SIGKILL may leave only
the hidden `.NAME.tmp-*` beside it.

One subprocess per SIGKILL (the signal ends it), one for all the SIGINT
runs, two at a time: about 60 s on two cores, most of it TensorFlow imports.
"""

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.robustness.cli_fixtures import TINY, cli, snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POINTS = [
    "wrote model.keras",
    "wrote items.npy",
    "wrote users.npz",
    "wrote ydnn.json",
    "written",
    "before-rename",
    "after-rename",
]
OLD_UNTIL = POINTS.index("before-rename")
USERS = ["7", "42"]
NEW = ["--seed", "1", "--overwrite"]


def _slug(point):
    return point.replace(" ", "-").replace(".", "-")


def _answers(directory):
    """`ydnn recommend --json` of USERS, as the old/new fingerprint of a model."""
    out = []
    for user in USERS:
        code, stdout, stderr = cli(
            ["recommend", "--model", directory, "--user", user, "--k", "5", "--json"]
        )
        assert code == 0, f"{directory} does not load: {stderr}"
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _child(sig, pairs, argv):
    cmd = (
        [sys.executable, "-m", "tests.robustness.cli_fault_child", sig]
        + [f"{p}={d}" for p, d in pairs]
        + ["--"]
        + argv
    )
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """Runs every fault once: {(signal, point): (directory, process)}, plus the references."""
    base = tmp_path_factory.mktemp("faults")
    old = str(base / "old")
    code, _, err = cli(["train"] + TINY + ["--out", old])
    assert code == 0, err

    def with_old(name):
        parent = base / name
        parent.mkdir()
        shutil.copytree(old, parent / "model")
        return str(parent / "model")

    argv = ["train"] + TINY + NEW + ["--out", "{out}"]
    sigint = [(p, with_old(f"int-{_slug(p)}")) for p in POINTS]
    reference = str(base / "reference" / "model")
    jobs = {("SIGINT", "all"): (sigint + [("never", reference)], argv)}
    for point in POINTS:
        jobs[("SIGKILL", point)] = ([(point, with_old(f"kill-{_slug(point)}"))], argv)
    for point in ("before-rename", "after-rename"):  # no old model: nothing or all of it
        (base / f"fresh-{_slug(point)}").mkdir()
        jobs[("fresh", point)] = (
            [(point, str(base / f"fresh-{_slug(point)}" / "model"))],
            ["train"] + TINY + ["--seed", "1", "--out", "{out}"],
        )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {
            key: pool.submit(_child, "SIGKILL" if key[0] == "fresh" else key[0], *job)
            for key, job in jobs.items()
        }
        procs = {key: f.result() for key, f in futures.items()}
    sigint_proc = procs.pop(("SIGINT", "all"))
    statuses = {}
    for line in sigint_proc.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            statuses[row["point"]] = row["status"]
    assert statuses.get("never") == 0, sigint_proc.stderr[-3000:]
    return {
        "old_files": snapshot(old),
        "old_answers": _answers(old),
        "new_answers": _answers(reference),
        "statuses": statuses,
        "sigint_stderr": sigint_proc.stderr,
        "procs": procs,
        "dirs": {key: job[0][0][1] for key, job in jobs.items() if key[0] != "SIGINT"}
        | {("SIGINT", p): d for p, d in sigint},
    }


def _assert_state(faults, directory, point):
    """Old model byte for byte up to before-rename, the complete new one after."""
    assert faults["old_answers"] != faults["new_answers"], "old and new models answer alike"
    if POINTS.index(point) <= OLD_UNTIL:
        assert snapshot(directory) == faults["old_files"], f"old model changed at {point!r}"
        assert _answers(directory) == faults["old_answers"]
    else:
        assert sorted(os.listdir(directory)) == [
            "items.npy",
            "model.keras",
            "users.npz",
            "ydnn.json",
        ]
        assert json.load(open(os.path.join(directory, "ydnn.json")))["train"]["seed"] == 1
        assert _answers(directory) == faults["new_answers"]


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_during_save_keeps_old_or_new_model(faults, point):
    proc = faults["procs"][("SIGKILL", point)]
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-3000:])
    directory = faults["dirs"][("SIGKILL", point)]
    _assert_state(faults, directory, point)
    leftovers = sorted(os.listdir(os.path.dirname(directory)))
    assert all(n == "model" or n.startswith(".model.tmp-") for n in leftovers), leftovers


@pytest.mark.parametrize("point", POINTS)
def test_sigint_during_save_keeps_old_or_new_model_and_cleans_up(faults, point):
    assert faults["statuses"].get(point) == 130, (
        faults["statuses"],
        faults["sigint_stderr"][-3000:],
    )
    directory = faults["dirs"][("SIGINT", point)]
    _assert_state(faults, directory, point)
    assert os.listdir(os.path.dirname(directory)) == ["model"]
    lines = [
        line for line in faults["sigint_stderr"].splitlines() if line.startswith("ydnn train:")
    ]
    assert lines and set(lines) == {"ydnn train: interrupted"}, lines
    assert "Traceback" not in faults["sigint_stderr"]


@pytest.mark.parametrize("point", ["before-rename", "after-rename"])
def test_sigkill_of_a_first_save_leaves_nothing_or_everything(faults, point):
    proc = faults["procs"][("fresh", point)]
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-3000:])
    directory = faults["dirs"][("fresh", point)]
    if point == "before-rename":
        assert not os.path.exists(directory)
    else:
        assert _answers(directory) == faults["new_answers"]
    # A leftover temporary directory does not stand in the way of the next save.
    code, _, err = cli(["train"] + TINY + ["--seed", "1", "--overwrite", "--out", directory])
    assert code == 0, err
    assert _answers(directory) == faults["new_answers"]


# -- write_directory's other paths, in this process (no training) -----------------
def _write(files):
    def write(tmp):
        for name, text in files.items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)

    return write


def _write_model_dir(out, write, overwrite=False):
    from ydnn import atomic_dir
    from ydnn.trained_model import MODEL_FILES

    atomic_dir.write_directory(out, write, overwrite, MODEL_FILES, "a ydnn model")


def _model_dir(path, text):
    os.makedirs(path)
    _write({n: text for n in ("model.keras", "items.npy", "users.npz", "ydnn.json")})(path)
    return snapshot(path)


def test_overwrite_without_atomic_exchange_moves_the_old_one_aside(tmp_path, monkeypatch):
    out = str(tmp_path / "model")
    _model_dir(out, "old")
    from ydnn import atomic_dir

    monkeypatch.setattr(atomic_dir, "_exchange", lambda a, b: False)
    _write_model_dir(out, _write({"ydnn.json": "new"}), overwrite=True)
    assert snapshot(out) == {"./": ["ydnn.json"], "./ydnn.json": b"new"}
    assert os.listdir(tmp_path) == ["model"]


def test_an_error_while_writing_leaves_the_old_directory(tmp_path):
    out = str(tmp_path / "model")
    before = _model_dir(out, "old")

    def write(tmp):
        _write({"model.keras": "half"})(tmp)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        _write_model_dir(out, write, overwrite=True)
    assert snapshot(out) == before
    assert os.listdir(tmp_path) == ["model"]


def test_a_directory_filled_during_the_save_is_not_replaced(tmp_path):
    out = str(tmp_path / "model")

    def write(tmp):  # another process creates and fills `out` meanwhile
        _write({"ydnn.json": "mine"})(tmp)
        _model_dir(out, "theirs")

    with pytest.raises(ValueError, match="is not empty .*pass --overwrite"):
        _write_model_dir(out, write)
    assert snapshot(out)["./ydnn.json"] == b"theirs"
    assert os.listdir(tmp_path) == ["model"]


def test_a_symlinked_out_replaces_its_target(tmp_path):
    target = str(tmp_path / "target")
    _model_dir(target, "old")
    os.symlink(target, tmp_path / "link")
    _write_model_dir(str(tmp_path / "link"), _write({"ydnn.json": "new"}), overwrite=True)
    assert os.path.islink(tmp_path / "link")
    assert snapshot(target) == {"./": ["ydnn.json"], "./ydnn.json": b"new"}


def test_out_holding_the_current_directory_is_refused(tmp_path, monkeypatch):
    from ydnn import atomic_dir, trained_model

    out = str(tmp_path / "model")
    _model_dir(out, "old")
    monkeypatch.chdir(out)
    for given in (".", out, str(tmp_path)):
        with pytest.raises(ValueError, match="is \\(or holds\\) the current directory"):
            atomic_dir.check_output_directory(
                given, True, trained_model.MODEL_FILES, "a ydnn model"
            )


def test_load_names_a_model_moved_aside_by_an_interrupted_save(tmp_path):
    from ydnn.trained_model import TrainedModel

    _model_dir(str(tmp_path / ".model.old-0123abcd"), "old")
    with pytest.raises(
        FileNotFoundError,
        match=r"left the previous model in .*\.model\.old-"
        r"0123abcd': rename it to",
    ):
        TrainedModel.load(str(tmp_path / "model"))
