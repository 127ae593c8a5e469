"""The `ydnn` command line: train/evaluate/recommend/export round trip, errors.

One tiny synthetic run (200 users, 300 items, 2 epochs: a few seconds) is
trained once per module and shared. The SavedModel export is loaded in a
subprocess that never imports ydnn, to prove it needs no op library.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from tests.cli_tiny import tiny_train_args
from ydnn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = tiny_train_args()
METRICS = {"recall_at_10", "ndcg_at_10", "mrr_at_10", "map_at_10", "precision_at_10"}


def run_json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1]), "\n".join(out[:-1])


@pytest.fixture(scope="module")
def train_result(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "model")
    capture = _Capture()
    with capture:
        assert main(["train"] + TINY + ["--out", out, "--json"]) == 0
    lines = capture.text.strip().splitlines()
    return out, json.loads(lines[-1]), capture.text


class _Capture:
    """Redirects stdout (the module fixture cannot use function-scoped capsys)."""

    def __enter__(self):
        import io

        self._old, sys.stdout = sys.stdout, io.StringIO()
        return self

    def __exit__(self, *exc):
        self.text = sys.stdout.getvalue()
        sys.stdout = self._old


def test_train_json_and_files(train_result):
    out, result, text = train_result
    assert result["command"] == "train"
    assert result["data"]["users"] == 200 and result["data"]["items"] <= 300
    assert result["data"]["train_examples"] + 200 + 200 == result["data"]["interactions"]
    deep = {m.replace("_10", f"_{c}") for m in METRICS for c in (10, 20, 50, 100)}
    for protocol in ("all_items", "exclude_seen"):
        metrics = dict(result["metrics"][protocol])
        low, high = metrics.pop("recall_at_10_ci_low"), metrics.pop("recall_at_10_ci_high")
        assert low <= metrics["recall_at_10"] <= high and high - low > 0
        assert set(metrics) == deep
        assert set(result["baseline_most_popular"][protocol]) == METRICS
        for value in metrics.values():
            assert 0.0 <= value <= 1.0
        recalls = [metrics[f"recall_at_{c}"] for c in (10, 20, 50, 100)]
        assert recalls == sorted(recalls)
    assert result["headline"] == "all_items"
    assert result["headline_recall"] == result["metrics"]["all_items"]["recall_at_10"]
    assert result["throughput"]["examples_per_second"] > 0
    assert "epochs 2-2" in result["throughput"]["measured_over"]
    assert len(result["loss"]) == 2 and all(np.isfinite(result["loss"]))
    # Excluding seen items can only remove wrong answers for this data
    # (a user never repeats an item), so recall cannot drop.
    assert (
        result["metrics"]["exclude_seen"]["recall_at_10"]
        >= result["metrics"]["all_items"]["recall_at_10"]
    )
    assert sorted(os.listdir(out)) == ["items.npy", "model.keras", "users.npz", "ydnn.json"]
    assert "most-popular" in text and "headline" in text


@pytest.mark.slow
def test_train_is_seeded(train_result, tmp_path, capsys):
    _, first, _ = train_result
    again, _ = run_json(capsys, ["train"] + TINY + ["--out", str(tmp_path / "m"), "--json"])
    assert again["loss"] == pytest.approx(first["loss"], rel=1e-5)
    for protocol in ("all_items", "exclude_seen"):
        assert again["metrics"][protocol] == pytest.approx(first["metrics"][protocol], abs=1e-6)


def test_evaluate_matches_train(train_result, capsys):
    out, first, _ = train_result
    result, text = run_json(capsys, ["evaluate", "--model", out, "--json"])
    assert result["dropped_rows"] == 0 and result["test_rows"] == 200
    for protocol in ("all_items", "exclude_seen"):
        for name, value in first["metrics"][protocol].items():
            assert result["metrics"][protocol][name] == pytest.approx(value, abs=1e-6)
        assert result["baseline_most_popular"][protocol] == pytest.approx(
            first["baseline_most_popular"][protocol]
        )
    assert "seen items excluded" in text


def test_table_dtype_is_saved_and_evaluates_the_same(tmp_path, capsys):
    out = str(tmp_path / "m")
    first, _ = run_json(
        capsys,
        ["train"] + TINY + ["--epochs", "1", "--table-dtype", "bfloat16", "--out", out, "--json"],
    )
    assert first["train"]["table_dtype"] == "bfloat16"
    assert first["metrics"]["all_items"]["recall_at_10"] > 0
    import keras

    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    assert model.table_dtype == "bfloat16" and model.item_table.dtype == "bfloat16"
    again, _ = run_json(capsys, ["evaluate", "--model", out, "--json"])
    assert again["metrics"]["all_items"] == pytest.approx(first["metrics"]["all_items"])


def test_separate_output_table_is_saved_and_evaluates_the_same(tmp_path, capsys):
    out = str(tmp_path / "m")
    first, _ = run_json(
        capsys,
        ["train"] + TINY + ["--epochs", "1", "--separate-output-table", "--out", out, "--json"],
    )
    assert first["train"]["separate_output_table"] is True
    import keras

    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    table = model.input_block.table(model.candidate.table_name)
    assert model.separate_output_table and model.item_table is not table
    assert model.item_table.shape == table.shape
    again, _ = run_json(capsys, ["evaluate", "--model", out, "--json"])
    for name, value in first["metrics"]["all_items"].items():
        assert again["metrics"]["all_items"][name] == pytest.approx(value, abs=1e-6)


def test_evaluate_on_csv_with_other_columns(train_result, tmp_path, capsys):
    """A log with other column names and extra unknown items: mapped, counted."""
    import ydnn

    out, _first, _ = train_result
    log = ydnn.data.generate_interactions(
        num_users=200, num_items=300, num_interactions=6000, seed=0
    )
    log = log.rename(columns={"user_id": "u", "item_id": "i", "timestamp": "t"})
    # Every user's last item becomes unknown for users 1..10: their rows drop.
    last = log.groupby("u")["t"].idxmax()
    log.loc[last[last.index <= 10].to_numpy(), "i"] = 10_000 + np.arange(10)
    path = tmp_path / "log.tsv"
    log.to_csv(path, sep="\t", index=False)
    result, _ = run_json(
        capsys,
        [
            "evaluate",
            "--model",
            out,
            "--interactions",
            str(path),
            "--user-col",
            "u",
            "--item-col",
            "i",
            "--time-col",
            "t",
            "--sep",
            "\t",
            "--json",
        ],
    )
    assert result["dropped_rows"] == 10 and result["test_rows"] == 190


def test_recommend_decodes_and_excludes_seen(train_result, capsys):
    from ydnn.trained_model import TrainedModel

    out, _, _ = train_result
    result, text = run_json(
        capsys, ["recommend", "--model", out, "--user", "7", "--k", "5", "--json"]
    )
    trained = TrainedModel.load(out)
    seen = set(trained.decode(trained.sequence(trained.user_position(7))).tolist())
    assert len(result["items"]) == 5 and len(set(result["items"])) == 5
    assert not seen & set(result["items"])
    assert set(result["items"]) <= set(trained.item_ids[1:].tolist())
    assert result["scores"] == sorted(result["scores"], reverse=True)
    with_seen, _ = run_json(
        capsys, ["recommend", "--model", out, "--user", "7", "--k", "5", "--include-seen", "--json"]
    )
    assert with_seen["scores"][0] >= result["scores"][0]
    assert "rank" in text


@pytest.mark.slow
def test_export_loads_without_ydnn(train_result, tmp_path, capsys):
    out, _, _ = train_result
    serving = str(tmp_path / "serving")
    result, _ = run_json(capsys, ["export", "--model", out, "--out", serving, "--k", "5", "--json"])
    assert result["max_history"] == 20

    from ydnn.trained_model import TrainedModel

    trained = TrainedModel.load(out)
    # The SavedModel sees (and so excludes) only the last 20 items, recommend
    # every seen one: they agree for a user with at most 20 interactions.
    user = next(int(u) for i, u in enumerate(trained.user_ids) if len(trained.sequence(i)) <= 20)
    rec, _ = run_json(
        capsys, ["recommend", "--model", out, "--user", str(user), "--k", "5", "--json"]
    )
    seq = trained.sequence(trained.user_position(user))
    history = np.zeros((1, 20), np.int32)
    history[0, : len(seq)] = seq
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({serving!r})
        out = m.signatures["serving_default"](history=tf.constant(np.array({history.tolist()},
                                                                            np.int32)))
        assert not [k for k in sys.modules if k.split(".")[0] in ("ydnn", "ydnn_kernels")]
        print(json.dumps({{k: v.numpy().tolist() for k, v in out.items()}}))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert served["item_ids"][0] == rec["items"]
    np.testing.assert_allclose(served["scores"][0], rec["scores"], rtol=1e-5, atol=1e-6)


# -- errors ------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--out", "x"], "one of the arguments --interactions --synthetic is required"),
        (["train", "--synthetic", "--interactions", "f.csv", "--out", "x"], "not allowed with"),
        (["train", "--synthetic"], "--out"),
        (["train", "--synthetic", "--out", "x", "--epochs", "0"], "--epochs: must be positive"),
        (["train", "--synthetic", "--out", "x", "--top-block", "128,a"], "--top-block"),
        (
            ["train", "--synthetic", "--out", "x", "--top-block", "128,32"],
            "must equal --embedding-dim",
        ),
        (["train", "--synthetic", "--out", "x", "--ops", "fast"], "invalid choice: 'fast'"),
        (["train", "--synthetic", "--out", "x", "--learning-rate", "abc"], "--learning-rate"),
        (["recommend", "--model", "m"], "--user"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    code = main(
        [
            "train",
            "--interactions",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "m"),
            "--verbose",
            "0",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "nope.csv" in err and "does not exist" in err


def test_missing_column(tmp_path, capsys):
    path = tmp_path / "log.csv"
    pd.DataFrame({"userId": [1], "movieId": [2], "timestamp": [3]}).to_csv(path, index=False)
    code = main(
        ["train", "--interactions", str(path), "--out", str(tmp_path / "m"), "--verbose", "0"]
    )
    assert code == 1
    assert "user_id" in capsys.readouterr().err


def test_not_a_model_directory(tmp_path, capsys):
    assert main(["recommend", "--model", str(tmp_path), "--user", "1"]) == 1
    assert "not a ydnn model directory" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_unknown_user_and_bad_k(train_result, capsys):
    out, _, _ = train_result
    assert main(["recommend", "--model", out, "--user", "999999"]) == 1
    assert "user 999999 is not in the model's data" in capsys.readouterr().err
    assert main(["recommend", "--model", out, "--user", "abc"]) == 1
    assert "'abc'" in capsys.readouterr().err
    assert main(["recommend", "--model", out, "--user", "7", "--k", "100000"]) == 1
    assert "--k 100000 is larger than the" in capsys.readouterr().err


def test_export_refuses_non_empty_directory(train_result, tmp_path, capsys):
    out, _, _ = train_result
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    assert main(["export", "--model", out, "--out", str(tmp_path / "busy")]) == 1
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
def test_python_m_ydnn_help():
    proc = subprocess.run(
        [sys.executable, "-m", "ydnn", "--help"],
        capture_output=True,
        check=False,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert proc.returncode == 0
    for command in ("train", "evaluate", "recommend", "export"):
        assert command in proc.stdout


def test_help_and_argument_errors_do_not_import_tensorflow(tmp_path):
    """Parsing is instant: --help and every refusal before the data is read stay TF-free."""
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("x")
    expected = [
        (["--help"], 0),
        (["train", "--help"], 0),
        (["export", "--help"], 0),
        (["frobnicate"], 2),
        (["train", "--synthetic", "--out", "x", "--epochs", "0"], 2),
        (["train", "--synthetic", "--out", "x", "--top-block", "32,8"], 2),
        (["train", "--interactions", str(tmp_path / "nope.csv"), "--out", "x"], 1),
        (["train", "--synthetic", "--out", str(busy)], 1),
    ]
    # As the command runs (python -m ydnn); -X importtime lists every module imported.
    for argv, want in expected:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "ydnn"] + argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            timeout=120,
            env=dict(os.environ, PYTHONPATH=ROOT),
        )
        assert proc.returncode == want, (argv, proc.returncode, proc.stderr[-2000:])
        heavy = [
            line
            for line in proc.stderr.splitlines()
            if line.startswith("import time:")
            and line.split("|")[-1].strip().split(".")[0] in ("tensorflow", "keras")
        ]
        assert not heavy, f"{argv} imported {heavy[:3]}"
        errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
        if want:
            assert len(errors) == 1 and errors[0].startswith("ydnn"), (argv, errors)


def test_import_ydnn_registers_the_model_with_keras(tmp_path):
    """A bare `import ydnn` is enough for keras.models.load_model (Merlin's pattern)."""
    script = textwrap.dedent("""
        import sys, ydnn, keras
        print(keras.saving.get_registered_object("ydnn>YoutubeDNNRetrievalModelV2") is not None)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert proc.stdout.strip().splitlines()[-1] == "True", proc.stderr[-2000:]


def _error_lines(err):
    return [line for line in err.splitlines() if line.strip()]


def test_a_users_error_is_one_line(tmp_path, capsys):
    """The user's fault: one `ydnn COMMAND: error:` line, no traceback, status 1 (2 for
    arguments)."""
    path = tmp_path / "log.csv"
    pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1], "timestamp": [1, 2, 1]}).to_csv(
        path, index=False
    )
    assert (
        main(["train", "--interactions", str(path), "--out", str(tmp_path / "m"), "--verbose", "0"])
        == 1
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = _error_lines(err)
    assert line.startswith(
        f"ydnn train: error: interaction log {str(path)!r}: no user has at least 3 interactions"
    )
    with pytest.raises(SystemExit) as exc:
        main(["train", "--synthetic", "--out", "x", "--epochs", "0"])
    assert exc.value.code == 2
    assert len(_error_lines(capsys.readouterr().err)) == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where, tmp_path, capsys):
    """--debug (before or after the command): the traceback, then the same line and status."""
    argv = ["train", "--interactions", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m")]
    argv = ["--debug"] + argv if where == "before" else argv + ["--debug"]
    assert main(argv) == 1
    lines = _error_lines(capsys.readouterr().err)
    assert lines[0] == "Traceback (most recent call last):"
    assert any(line.startswith("ydnn.cli.UsageError: interaction log") for line in lines)
    assert lines[-1].startswith("ydnn train: error: interaction log") and lines[-1].endswith(
        "does not exist: check --interactions"
    )


@pytest.mark.parametrize("kind", [KeyError, ValueError, ImportError])
def test_a_bug_keeps_its_traceback(kind, train_result, monkeypatch, capsys):
    """An exception ydnn did not expect is not reported as the user's: it propagates
    (the interpreter prints its traceback, status 1), even of the kinds the user's
    errors come as from the library."""
    from ydnn.trained_model import TrainedModel

    def broken(self, *args, **kwargs):
        raise kind("internal slip")

    monkeypatch.setattr(TrainedModel, "recommend", broken)
    out, _, _ = train_result
    with pytest.raises(kind, match="internal slip"):
        main(["recommend", "--model", out, "--user", "7", "--k", "5"])
    assert "error:" not in capsys.readouterr().err


def test_train_refuses_a_non_empty_out_before_training(train_result, tmp_path, capsys):
    """Without --overwrite an existing model stays, and the refusal costs no training."""
    out, _, _ = train_result
    stamp = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
    assert main(["train"] + TINY + ["--out", out]) == 1
    captured = capsys.readouterr()
    assert "is not empty (it holds a ydnn model): pass --overwrite" in captured.err
    assert "training:" not in captured.out and "data:" not in captured.out
    assert {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)} == stamp


def test_validation_split_never_sees_test_items():
    """--validation: the held-out item is the second-to-last; the last is gone."""
    import ydnn
    from ydnn.cli_protocol import drop_last_interaction, prepare

    log = ydnn.data.generate_interactions(
        num_users=50, num_items=200, num_interactions=1500, seed=3
    )
    # Ties in time break by item id, as in the protocol.
    log.loc[log.index[:6], "timestamp"] = 0
    cols = {"user_col": "user_id", "item_col": "item_id", "time_col": "timestamp"}
    full = prepare(log, cols, 20, 3)
    val = prepare(log, cols, 20, 3, validation=True)
    assert len(drop_last_interaction(log, cols)) == len(log) - log["user_id"].nunique()
    for row in range(len(val.test)):
        user = val.user_ids[val.test.user[row]]
        u = full.user_index(user)
        seq = full.decode_items(
            full.sequence_items[full.sequence_indptr[u] : full.sequence_indptr[u + 1]]
        )
        assert val.decode_items(val.test.target[row]) == seq[-2]
        v = val.test.user[row]
        np.testing.assert_array_equal(
            val.decode_items(
                val.sequence_items[val.sequence_indptr[v] : val.sequence_indptr[v + 1]]
            ),
            seq[:-1],
        )
    # Users with exactly 3 interactions keep 2: fewer than the minimum.
    lengths = log.groupby("user_id").size()
    assert val.num_users == int((lengths >= 4).sum())
