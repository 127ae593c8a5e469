"""`ydnn train --early-stopping`: validation and test in one command.

The run holds out each user's second-to-last item (`SequenceData.holdout`),
checks Recall@k on it after every epoch, keeps the best epoch, and reports
validation and test metrics; the saved model is the best epoch's.
"""

import json

import pytest

from tests.test_cli import TINY, run_json


def _train(capsys, tmp_path, *extra):
    argv = ["train", *TINY, "--out", str(tmp_path / "m"), "--json", *extra]
    return run_json(capsys, argv)


def test_saved_model_is_the_best_epoch_and_reports_both_splits(tmp_path, capsys):
    import ydnn
    from ydnn.cli_protocol import validation_recall
    from ydnn.trained_model import TrainedModel

    result, text = _train(
        capsys, tmp_path, "--epochs", "4", "--early-stopping", "2", "--learning-rate", "0.01"
    )
    assert 1 <= result["best_epoch"] <= result["throughput"]["epochs"] <= 4
    val = result["validation_metrics"]["all_items"]
    assert 0 < val["recall_at_10"] <= 1 and "validation (200 held-out" in text
    assert "early stopping, patience 2: best epoch" in text
    trained = TrainedModel.load(str(tmp_path / "m"))
    log = ydnn.data.generate_interactions(
        num_users=200, num_items=300, num_interactions=6000, seed=0
    )
    data = ydnn.data.prepare_sequences(log, max_history=20)
    _, rows, _ = data.holdout()
    # The saved weights give the validation recall of the best epoch.
    assert validation_recall(trained.model, rows, 10) == pytest.approx(val["recall_at_10"])
    settings = json.load(open(tmp_path / "m" / "ydnn.json"))
    assert (
        settings["train"]["early_stopping"] == 2 and settings["best_epoch"] == result["best_epoch"]
    )
    # The data summary describes the prepared log (its full training split).
    assert result["data"]["train_examples"] == len(data.train)


def test_training_stops_once_patience_runs_out(tmp_path, capsys):
    # A learning rate too small to change any ranking: epoch 1 stays the
    # best, so patience 1 stops the run after epoch 2 of 5.
    result, _ = _train(
        capsys, tmp_path, "--epochs", "5", "--early-stopping", "1", "--learning-rate", "1e-12"
    )
    assert result["throughput"]["epochs"] == 2 and result["best_epoch"] == 1


def test_early_stopping_and_validation_are_one_or_the_other(tmp_path, capsys):
    from ydnn.cli import main

    code = None
    try:
        code = main(
            ["train", *TINY, "--out", str(tmp_path / "m"), "--early-stopping", "2", "--validation"]
        )
    except SystemExit as e:
        code = e.code
    assert code == 2
    assert "--validation would hold out the third-to-last" in capsys.readouterr().err
