"""The command line's bad inputs (and valid edge inputs), as data.

Each case calls `ydnn.cli.main` in the worker process and checks the exit
status and that standard error is one `ydnn COMMAND: error: ...` line that
names the argument or file and what to do, never a traceback. Argument
errors exit 2, bad files and directories 1. Fixtures (one tiny trained
model, logs, damaged copies) are built on first use: see `cli_fixtures`.

`CASES` = the argument errors (`cli_cases_args`), `ydnn train`'s cases
(`cli_cases_train`), then evaluate, recommend on damaged model directories,
and export, here.
"""

import os

import numpy as np

from tests.robustness.catalogue import Case
from tests.robustness.cli_cases_args import ARG_CASES
from tests.robustness.cli_cases_train import TRAIN_CASES
from tests.robustness.cli_fixtures import (
    GARBAGE,
    before_training,
    call,
    cli,
    directory_with,
    edit_settings,
    edit_users,
    expect,
    fails,
    fresh,
    log_file,
    model,
    model_copy,
    overwrite,
    rows,
    snapshot,
    succeeds,
    synthetic_log,
    truncate,
)

RETRAIN = r"retrain it with `ydnn train .*--overwrite`"


def damaged(what, damage, *patterns, command="recommend", code=1):
    """recommend (or another command) on a copy of the model with one file damaged."""

    def make():
        path = model_copy(damage)
        if command == "recommend":
            return ["recommend", "--model", path, "--user", "7"]
        if command == "evaluate":
            return ["evaluate", "--model", path]
        return ["export", "--model", path, "--out", fresh()]

    return Case(f"cli/{command}/{what}", call(make), check=fails(command, *patterns, code=code))


def _synthetic_frame(**renames):
    return synthetic_log().rename(columns=renames)


def _recommended(k):
    def then(result, out):
        assert len(result["items"]) == k == len(set(result["items"])), result
        assert result["scores"] == sorted(result["scores"], reverse=True)

    return then


def _all_unknown_items():
    frame = synthetic_log().copy()
    frame["item_id"] += 10_000
    return frame


def _max_k(user):
    """The most items `recommend` can give `user` of the shared model (all unseen ones)."""
    from ydnn.trained_model import TrainedModel

    return TrainedModel.load(model()).max_k(user)


def _export_three_times():
    """export, again without --overwrite (refused, untouched), again with it."""
    out = fresh("serving")
    codes = [cli(["export", "--model", model(), "--k", "3", "--out", out])[0]]
    before = snapshot(out)
    codes.append(cli(["export", "--model", model(), "--k", "3", "--out", out])[0])
    assert snapshot(out) == before
    codes.append(cli(["export", "--model", model(), "--k", "4", "--overwrite", "--out", out])[0])
    assert os.path.isfile(os.path.join(out, "saved_model.pb")), os.listdir(out)
    return codes


CASES = (
    ARG_CASES
    + TRAIN_CASES
    + [
        # -- evaluate -------------------------------------------------------------------------
        Case(
            "cli/evaluate/model-missing",
            call(lambda: ["evaluate", "--model", fresh()]),
            check=fails("evaluate", "model directory '[^']+' does not exist .*ydnn train --out"),
        ),
        Case(
            "cli/evaluate/model-is-file",
            call(lambda: ["evaluate", "--model", log_file("x")]),
            check=fails("evaluate", "model directory '[^']+' is a file, not a directory"),
        ),
        Case(
            "cli/evaluate/model-dir-empty",
            call(lambda: ["evaluate", "--model", directory_with()]),
            check=fails("evaluate", "is not a ydnn model directory: model.keras is missing"),
        ),
        Case(
            "cli/evaluate/k-larger-than-catalog",
            call(lambda: ["evaluate", "--model", model(), "--k", "100000"]),
            check=fails("evaluate", r"--k 100000 is larger than the catalog", "give --k <="),
        ),
        Case(
            "cli/evaluate/log-missing",
            call(lambda: ["evaluate", "--model", model(), "--interactions", fresh() + ".csv"]),
            check=fails("evaluate", "does not exist: check --interactions"),
        ),
        Case(
            "cli/evaluate/log-header-only",
            call(
                lambda: [
                    "evaluate",
                    "--model",
                    model(),
                    "--interactions",
                    log_file(rows(lines=["1,1,1"]).split("\n")[0]),
                ]
            ),
            check=fails("evaluate", r"has no rows \(only a header\)"),
        ),
        Case(
            "cli/evaluate/all-items-unknown",
            call(
                lambda: [
                    "evaluate",
                    "--model",
                    model(),
                    "--interactions",
                    log_file(frame=_all_unknown_items()),
                ]
            ),
            check=fails(
                "evaluate",
                "no test row is left: the held-out items of '[^']+' are all "
                "unknown to the model; evaluate on a log",
            ),
        ),
        Case(
            "cli/evaluate/tsv-other-columns",
            call(
                lambda: [
                    "evaluate",
                    "--model",
                    model(),
                    "--sep",
                    "\t",
                    "--user-col",
                    "u",
                    "--item-col",
                    "i",
                    "--time-col",
                    "t",
                    "--json",
                    "--interactions",
                    log_file(
                        frame=_synthetic_frame(user_id="u", item_id="i", timestamp="t"),
                        sep="\t",
                        suffix=".tsv",
                    ),
                ]
            ),
            check=succeeds(lambda r, _: expect((r["test_rows"], r["dropped_rows"]) == (200, 0), r)),
        ),
        Case(
            "cli/evaluate/synthetic-from-model",
            call(lambda: ["evaluate", "--model", model(), "--json"]),
            check=succeeds(lambda r, _: expect(r["test_rows"] == 200, r)),
        ),
        damaged(
            "bad-synthetic-settings",
            edit_settings(lambda s: s["data"].__setitem__("synthetic", {"users": "many"})),
            r"ydnn.json': 'data.synthetic' has the wrong type",
            RETRAIN,
            command="evaluate",
        ),
        # -- recommend ----------------------------------------------------------------------
        Case(
            "cli/recommend/unknown-user",
            call(lambda: ["recommend", "--model", model(), "--user", "999999"]),
            check=fails("recommend", "user 999999 is not in the model's data", "200 users"),
        ),
        Case(
            "cli/recommend/user-not-a-number",
            call(lambda: ["recommend", "--model", model(), "--user", "abc"]),
            check=fails("recommend", "user 'abc' is not in the model's data .*int64"),
        ),
        Case(
            "cli/recommend/user-empty",
            call(lambda: ["recommend", "--model", model(), "--user", ""]),
            check=fails("recommend", "user '' is not in the model's data"),
        ),
        Case(
            "cli/recommend/k-larger-than-catalog",
            call(lambda: ["recommend", "--model", model(), "--user", "7", "--k", "100000"]),
            check=fails(
                "recommend",
                "--k 100000 is larger than the .* items user 7 can get",
                r"give --k <= \d+",
            ),
        ),
        Case(
            "cli/recommend/k-all-unseen",
            call(
                lambda: [
                    "recommend",
                    "--model",
                    model(),
                    "--user",
                    "7",
                    "--json",
                    "--k",
                    str(_max_k(7)),
                ]
            ),
            check=succeeds(lambda r, o: _recommended(_max_k(7))(r, o)),
        ),
        Case(
            "cli/recommend/include-seen",
            call(
                lambda: [
                    "recommend",
                    "--model",
                    model(),
                    "--user",
                    "7",
                    "--k",
                    "5",
                    "--include-seen",
                    "--json",
                ]
            ),
            check=succeeds(_recommended(5)),
        ),
        damaged(
            "model-keras-truncated",
            truncate("model.keras"),
            r"model.keras' is not a readable Keras model \(damaged or truncated: not a zip",
            RETRAIN,
        ),
        damaged(
            "model-keras-empty",
            overwrite("model.keras", b""),
            "model.keras' is not a readable Keras model",
            RETRAIN,
        ),
        damaged(
            "model-keras-garbage",
            overwrite("model.keras", GARBAGE),
            "model.keras' is not a readable Keras model",
            RETRAIN,
        ),
        damaged(
            "model-keras-directory",
            overwrite("model.keras", "<directory>"),
            "is not a ydnn model directory: model.keras is not a file",
        ),
        damaged(
            "model-keras-missing",
            overwrite("model.keras", None),
            "is not a ydnn model directory: model.keras is missing",
            "ydnn train",
        ),
        damaged(
            "items-npy-truncated",
            truncate("items.npy"),
            "items.npy' is not a readable NumPy array",
            RETRAIN,
        ),
        damaged(
            "items-npy-garbage",
            overwrite("items.npy", GARBAGE),
            r"items.npy' is not a readable NumPy array \(damaged or truncated: not a .npy",
            RETRAIN,
        ),
        damaged("items-npy-missing", overwrite("items.npy", None), "items.npy is missing"),
        damaged(
            "items-npy-wrong-length",
            lambda d: np.save(os.path.join(d, "items.npy"), np.arange(5)),
            "the files do not belong together .*item mapping has 5 entries",
            RETRAIN,
        ),
        damaged(
            "users-npz-truncated",
            truncate("users.npz"),
            "users.npz' is not a readable NumPy archive",
            "damaged or truncated",
            RETRAIN,
        ),
        damaged(
            "users-npz-garbage",
            overwrite("users.npz", GARBAGE),
            "users.npz' is not a readable NumPy archive .*not a zip archive",
            RETRAIN,
        ),
        damaged("users-npz-empty", overwrite("users.npz", b""), "users.npz' is not a readable"),
        damaged(
            "users-npz-missing-array",
            edit_users(sequence_items=None),
            "users.npz' is not a readable NumPy archive",
            "sequence_items",
        ),
        damaged(
            "users-npz-inconsistent",
            edit_users(sequence_indptr=np.arange(5)),
            "the files do not belong together .*user histories are inconsistent",
        ),
        damaged(
            "users-npz-item-out-of-range",
            edit_users(sequence_items=lambda items: np.full_like(items, 10**6)),
            "do not belong together .*item ids outside 1..\\d+",
        ),
        damaged("users-npz-missing", overwrite("users.npz", None), "users.npz is missing"),
        damaged(
            "settings-bad-json",
            overwrite("ydnn.json", '{"format": 1,'),
            "ydnn.json' is not valid JSON",
            RETRAIN,
        ),
        damaged("settings-empty", overwrite("ydnn.json", ""), "ydnn.json' is not valid JSON"),
        damaged("settings-binary", overwrite("ydnn.json", GARBAGE), "ydnn.json' is not valid JSON"),
        damaged(
            "settings-not-object",
            overwrite("ydnn.json", "[1, 2]"),
            "model directory format .* is not 1",
            RETRAIN,
        ),
        damaged("settings-missing", overwrite("ydnn.json", None), "ydnn.json is missing"),
        damaged(
            "settings-wrong-format",
            edit_settings(lambda s: s.__setitem__("format", 99)),
            "model directory format 99 is not 1",
        ),
        damaged(
            "settings-no-max-history",
            edit_settings(lambda s: s["data"].pop("max_history")),
            "'data.max_history' must be an integer >= 1, got None",
            RETRAIN,
        ),
        damaged(
            "settings-max-history-text",
            edit_settings(lambda s: s["data"].__setitem__("max_history", "20")),
            "'data.max_history' must be an integer >= 1, got '20'",
        ),
        damaged(
            "settings-max-history-zero",
            edit_settings(lambda s: s["data"].__setitem__("max_history", 0)),
            "'data.max_history' must be",
        ),
        damaged(
            "settings-data-not-object",
            edit_settings(lambda s: s.__setitem__("data", [])),
            "'data.max_history' must be an integer",
        ),
        damaged(
            "settings-k-text",
            edit_settings(lambda s: s["train"].__setitem__("k", "ten")),
            "'train.k' must be an integer >= 1, got 'ten'",
            command="evaluate",
        ),
        damaged(
            "settings-column-not-text",
            edit_settings(lambda s: s["data"].__setitem__("user_col", 5)),
            "'data.user_col' has the wrong type",
            command="evaluate",
        ),
        # -- export --------------------------------------------------------------------------
        Case(
            "cli/export/model-missing",
            call(lambda: ["export", "--model", fresh(), "--out", fresh()]),
            check=fails("export", "model directory '[^']+' does not exist"),
        ),
        Case(
            "cli/export/out-holds-other-files",
            call(lambda: ["export", "--model", model(), "--out", directory_with("a")]),
            check=fails("export", "is not empty .*pass --overwrite"),
        ),
        Case(
            "cli/export/overwrite-other-files",
            call(
                lambda: ["export", "--model", model(), "--overwrite", "--out", directory_with("a")]
            ),
            check=fails("export", r"not part of a SavedModel \(a\); --overwrite only replaces"),
        ),
        Case(
            "cli/export/out-is-file",
            call(lambda: ["export", "--model", model(), "--out", log_file("x")]),
            check=fails("export", "is a file, not a directory"),
        ),
        Case(
            "cli/export/k-too-large",
            call(lambda: ["export", "--model", model(), "--k", "100000", "--out", fresh()]),
            check=before_training(
                fails("export", "--k 100000 is larger than", "or --include-seen")
            ),
        ),
        damaged(
            "model-keras-truncated",
            truncate("model.keras"),
            "is not a readable Keras model",
            command="export",
        ),
        Case(
            "cli/export/writes-then-refuses-then-overwrites",
            lambda: _export_three_times(),
            check=lambda r: expect(r == [0, 1, 0], f"exit statuses {r}, want [0, 1, 0]"),
        ),
    ]
)
