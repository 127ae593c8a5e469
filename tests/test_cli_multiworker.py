"""`ydnn train --strategy multiworker` and `--backup-dir`.

Two workers on localhost run the same command (TF_CONFIG differs): both
train, the chief alone evaluates and writes --out; the saved model equals
what `ydnn evaluate` measures. Resuming from a backup is tested at the
library level (tests/test_model_multiworker.py, tests/test_training_feed.py);
here the backup directory is used and left empty by a finished job, and a
run killed right after a mid-epoch backup and rerun saves the unbroken run's
weights.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.cli_tiny import tiny_train_args
from tests.test_model_multiworker import _finish, _free_ports
from ydnn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _worker(argv, workers, index):
    config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    env = dict(os.environ, TF_CONFIG=json.dumps(config), PYTHONPATH=ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "ydnn", *argv],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_workers_train_and_the_chief_alone_writes(tmp_path, capsys):
    out, backup = tmp_path / "model", tmp_path / "backup"
    argv = ["train", *tiny_train_args(), "--strategy", "multiworker", "--batch-size", "64"]
    argv += ["--backup-dir", str(backup), "--backup-every", "4", "--out", str(out), "--json"]
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    outputs = _finish([_worker(argv, workers, i) for i in range(2)])
    results = []
    for code, stdout, stderr in outputs:
        assert code == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    chief, other = results
    assert other == {"command": "train", "worker": 1, "throughput": other["throughput"]}
    assert chief["throughput"]["replicas"] == 2 and chief["train"]["strategy"] == "multiworker"
    assert chief["train"]["batch_size"] == 64  # per replica: 128 rows a step
    assert chief["loss"][-1] < chief["loss"][0]
    assert sorted(os.listdir(tmp_path)) == ["backup", "model"]  # nothing from worker 1
    assert os.listdir(backup) == []  # the finished job's backup is gone
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["metrics"] == chief["metrics"]


def test_multiworker_without_tf_config_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    argv = ["train", *tiny_train_args(), "--strategy", "multiworker", "--out", str(tmp_path / "m")]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "--strategy multiworker reads the cluster from the TF_CONFIG" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--backup-every", "5"], "argument --backup-every: only applies with --backup-dir"),
        (
            ["--strategy", "multiworker", "--early-stopping", "2"],
            "argument --early-stopping: not available with --strategy multiworker",
        ),
        (
            ["--backup-dir", "b", "--early-stopping", "2"],
            "argument --early-stopping: not available with --backup-dir",
        ),
        (
            ["--strategy", "multiworker", "--table-dtype", "bfloat16"],
            "argument --table-dtype: bfloat16 is not available with --strategy multiworker",
        ),
    ],
)
def test_scaling_argument_contradictions_are_named(tmp_path, capsys, extra, match):
    with pytest.raises(SystemExit) as e:
        main(["train", *tiny_train_args(), *extra, "--out", str(tmp_path / "m")])
    assert e.value.code == 2
    assert match in capsys.readouterr().err


_KILLED_AT_BACKUP = """
import os, signal, sys
from ydnn import atomic_dir
from ydnn.cli import main

backups = 0

def hook(point):
    global backups
    if point == "after-rename":
        backups += 1
        if backups == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)

atomic_dir.fault_hook = hook
sys.exit(main(sys.argv[2:]))
"""


def _train_killed_after_backup(backups, argv):
    """Runs `ydnn ARGV`, SIGKILLed once its `backups`-th backup is in place."""
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AT_BACKUP, str(backups), *argv],
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]


def test_a_run_killed_after_a_backup_and_rerun_ends_as_an_unbroken_one(tmp_path, capsys):
    def argv(out):
        return [
            "train",
            *tiny_train_args(),
            "--steps-per-execution",
            "1",
            "--backup-dir",
            str(tmp_path / f"{out}-backup"),
            "--backup-every",
            "4",
            "--out",
            str(tmp_path / out),
            "--json",
        ]

    assert main(argv("unbroken")) == 0
    unbroken = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    _train_killed_after_backup(3, [*argv("rerun")])
    state = tmp_path / "rerun-backup" / "state" / "training_metadata.json"
    assert json.loads(state.read_text())["step"] == 12  # the third backup, mid-epoch
    assert not (tmp_path / "rerun").exists()
    assert main(argv("rerun")) == 0  # the same command again
    rerun = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rerun["metrics"] == unbroken["metrics"]
    # The loss per epoch differs: the rerun's epochs start at step 12 (logs
    # offset, as TrainingFeed says); the weights do not.
    got, want = (
        keras.models.load_model(tmp_path / d / "model.keras") for d in ("rerun", "unbroken")
    )
    assert len(got.weights) == len(want.weights)
    for a, b in zip(got.weights, want.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_a_backup_of_a_finished_training_is_evaluated_and_saved(tmp_path, capsys):
    # A kill after the last backup but before --out was written: the rerun
    # trains no more and writes the model.
    backup, out = tmp_path / "backup", tmp_path / "m"
    argv = ["train", *tiny_train_args(epochs=1), "--backup-dir", str(backup), "--out", str(out)]
    _train_killed_after_backup(1, [*argv])
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["throughput"]["epochs"] == 0 and result["loss"] == []
    assert (out / "model.keras").exists() and os.listdir(backup) == []
