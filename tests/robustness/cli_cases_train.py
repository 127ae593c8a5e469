"""`ydnn train` refusing --out, the catalog, divergence and bad logs; valid edge logs.

Cases for `cases_cli`: every refusal comes before training where it can
(`before_training` checks that nothing was trained or written) and leaves an
existing --out untouched.
"""

import importlib.util
import json
import os

from tests.robustness.catalogue import Case
from tests.robustness.cli_fixtures import (
    GARBAGE,
    TINY,
    before_training,
    call,
    cli,
    directory_with,
    expect,
    fails,
    fresh,
    log_file,
    model_copy,
    nothing_written,
    rows,
    succeeds,
    synthetic_log,
    train,
    untouched,
)


def train_into(make_dir, *extra):
    """Lazy (argv, [--out]) of a tiny training into the directory `make_dir()` gives."""

    def make():
        out = make_dir()
        return ["train"] + TINY + [str(a) for a in extra] + ["--out", out], [out]

    return make


def train_log(text=None, frame=None, sep=",", suffix=".csv"):
    """Lazy argv of training on a log file written at run time."""
    return lambda: [
        "train",
        "--interactions",
        log_file(text, frame, sep, suffix),
        "--sep",
        sep,
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--out",
        fresh(),
    ]


def log_error(what, *patterns, **log):
    """A log refused before training, in one line naming its file."""
    return Case(
        f"cli/train/{what}",
        call(train_log(**log)),
        check=before_training(fails("train", r"'[^']+\.(csv|parquet)'", *patterns)),
    )


def _non_numeric_time():
    return rows(lines=[f"{u},{i},day{t}" for u in range(3) for i, t in ((1, 1), (2, 2), (3, 3))])


def _unwritable_parent():
    """A directory nobody can create entries in (a read-only /sys as root)."""
    if os.geteuid() != 0:
        path = directory_with(stem="read-only")
        os.chmod(path, 0o555)
        return path
    return "/sys"


def _unicode_log():
    """Users named in several scripts, huge integer item ids, ';'-separated."""
    names = ["Zoë", "用户", "Ωmega", "user with space", "😀", "naïve", "Ирина", "x"]
    lines = [f"{n};{2**62 + (k + t) % 9};{t}" for k, n in enumerate(names) for t in range(6)]
    return rows(header="user_id;item_id;timestamp", lines=lines)


def _check_unicode(result, out):
    assert result["command"] == "train" and result["data"]["users"] == 8, result["data"]


def _recommend_unicode():
    """Trains on the unicode log and recommends for a user named in Chinese."""
    out = fresh()
    code, _, err = cli(
        [
            "train",
            "--interactions",
            log_file(_unicode_log()),
            "--sep",
            ";",
            "--epochs",
            "1",
            "--embedding-dim",
            "8",
            "--top-block",
            "8",
            "--num-sampled",
            "3",
            "--k",
            "2",
            "--verbose",
            "0",
            "--out",
            out,
        ]
    )
    assert code == 0, err
    return cli(["recommend", "--model", out, "--user", "用户", "--k", "2", "--json"]) + ({},)


def _check_recommend_unicode(result, out):
    assert result["user"] == "用户" and len(result["items"]) == 2, result
    assert all(int(i) >= 2**62 for i in result["items"]), result["items"]


def _parquet():
    path = fresh("log") + ".parquet"
    if importlib.util.find_spec("pyarrow"):
        synthetic_log().iloc[:3000].to_parquet(path)
    else:
        open(path, "wb").write(b"PAR1")
    return path


TRAIN_CASES = [
    # -- train: --out, checked before anything is trained ------------------------
    Case(
        "cli/train/out-holds-other-files",
        call(train_into(lambda: directory_with("notes.txt"))),
        check=untouched(
            fails(
                "train",
                "output directory '[^']+' is not empty .*pass "
                "--overwrite to replace it, or choose another --out",
            )
        ),
    ),
    Case(
        "cli/train/out-holds-model",
        call(train_into(model_copy)),
        check=untouched(
            fails(
                "train",
                r"is not empty \(it holds a ydnn model\): pass "
                "--overwrite",
            )
        ),
    ),
    Case(
        "cli/train/overwrite-other-files",
        call(train_into(lambda: directory_with("model.keras", "notes.txt"), "--overwrite")),
        check=untouched(
            fails(
                "train",
                "holds files that are not part of a ydnn model "
                r"\(notes.txt\); --overwrite only replaces",
            )
        ),
    ),
    Case(
        "cli/train/out-is-file",
        call(train_into(lambda: log_file("x"))),
        check=fails("train", "output directory '[^']+' is a file, not a directory"),
    ),
    Case(
        "cli/train/out-under-a-file",
        call(train_into(lambda: os.path.join(log_file("x"), "model"))),
        check=fails(
            "train",
            "cannot create output directory '[^']+': '[^']+' is a file; choose another --out",
        ),
    ),
    Case(
        "cli/train/out-parent-unwritable",
        call(train_into(lambda: os.path.join(_unwritable_parent(), "ydnn-model"))),
        check=fails("train", "cannot write output directory .* is not writable .*another --out"),
    ),
    # -- train: against the catalog, before training ------------------------------
    Case(
        "cli/train/k-larger-than-catalog",
        call(train("--k", "5000")),
        check=before_training(
            fails("train", r"--k 5000 is larger than the catalog \(\d+ items", r"give --k <= \d+")
        ),
    ),
    Case(
        "cli/train/num-sampled-larger-than-catalog",
        call(train("--num-sampled", "100000")),
        check=before_training(
            fails("train", "--num-sampled 100000 is larger than the", r"give --num-sampled <= \d+")
        ),
    ),
    Case(
        "cli/train/min-sampled-id-beyond-catalog",
        call(train("--min-sampled-id", "100000")),
        check=before_training(
            fails("train", "--min-sampled-id 100000 leaves no item", "lower --min-sampled-id")
        ),
    ),
    Case(
        "cli/train/max-history-huge",
        call(train("--max-history", "2000000000")),
        check=before_training(fails("train", "out of memory", "lower --max-history")),
    ),
    # -- train: divergence ----------------------------------------------------------
    Case(
        "cli/train/diverges",
        call(train("--learning-rate", "1e30")),
        check=nothing_written(
            fails(
                "train",
                "training diverged: the loss became (nan|inf|non-finite) in epoch 1",
                r"lower --learning-rate \(e.g. 1e\+29\)",
                "nothing was written",
            )
        ),
    ),
    Case(
        "cli/train/diverges-stock-ops",
        call(train("--learning-rate", "1e30", "--ops", "stock")),
        check=nothing_written(
            fails("train", "training diverged: the loss became", "lower --learning-rate")
        ),
    ),
    Case(
        "cli/train/diverges-keeps-old-model",
        call(train_into(model_copy, "--learning-rate", "1e30", "--overwrite")),
        check=untouched(fails("train", "training diverged")),
    ),
    # -- train: bad logs (refused before training) -------------------------------------
    Case(
        "cli/train/log-missing",
        call(lambda: ["train", "--interactions", fresh() + ".csv", "--out", fresh()]),
        check=fails("train", "interaction log '[^']+' does not exist: check --interactions"),
    ),
    Case(
        "cli/train/log-is-directory",
        call(lambda: ["train", "--interactions", directory_with("a.csv"), "--out", fresh()]),
        check=fails("train", "is a directory without Parquet files: give a CSV file"),
    ),
    log_error("log-empty-file", "is empty: give a CSV with a header", text=""),
    log_error(
        "log-header-only", r"has no rows \(only a header\)", text="user_id,item_id,timestamp\n"
    ),
    log_error(
        "log-wrong-columns",
        r"has no column\(s\) \['user_id'\].*--user-col",
        text=rows(header="userId,item_id,timestamp"),
    ),
    log_error(
        "log-wrong-separator", r"has no column\(s\).*separator ','", text=rows().replace(",", "\t")
    ),
    log_error(
        "log-time-not-numeric",
        "time column 'timestamp' must be numeric or datetime",
        text=_non_numeric_time(),
    ),
    log_error(
        "log-time-missing",
        "time column 'timestamp' has 1 missing values: drop or fill",
        text=rows(lines=["1,1,1", "1,2,", "1,3,3"]),
    ),
    log_error(
        "log-user-missing",
        "column 'user_id' has 1 missing values: drop or fill",
        text=rows(lines=["1,1,1", ",2,2", "1,3,3"]),
    ),
    log_error(
        "log-item-missing",
        "column 'item_id' has 1 missing values",
        text=rows(lines=["1,1,1", "1,,2", "1,3,3"]),
    ),
    log_error("log-binary-garbage", "is not a readable CSV with separator ','", text=GARBAGE),
    log_error(
        "log-too-short", "no user has at least 3 interactions", text=rows(users=5, per_user=2)
    ),
    log_error(
        "log-parquet-garbage",
        "needs pyarrow" if importlib.util.find_spec("pyarrow") is None else "is not a Parquet file",
        text=GARBAGE,
        suffix=".parquet",
    ),
    # -- train: valid edge inputs -------------------------------------------------------
    Case(
        "cli/train/unicode-users-huge-items-semicolon",
        call(
            lambda: [
                "train",
                "--interactions",
                log_file(_unicode_log()),
                "--sep",
                ";",
                "--epochs",
                "1",
                "--embedding-dim",
                "8",
                "--top-block",
                "8",
                "--num-sampled",
                "3",
                "--k",
                "2",
                "--verbose",
                "0",
                "--json",
                "--out",
                fresh(),
            ]
        ),
        check=succeeds(_check_unicode),
    ),
    Case(
        "cli/recommend/unicode-user", _recommend_unicode, check=succeeds(_check_recommend_unicode)
    ),
    Case(
        "cli/train/k-equals-catalog",
        call(
            lambda: [
                "train",
                "--interactions",
                log_file(rows()),
                "--epochs",
                "1",
                "--embedding-dim",
                "4",
                "--top-block",
                "4",
                "--num-sampled",
                "3",
                "--k",
                "6",
                "--verbose",
                "0",
                "--json",
                "--out",
                fresh(),
            ]
        ),
        check=succeeds(lambda r, _: expect(r["data"]["items"] == 6, r["data"])),
    ),
    Case(
        "cli/train/parquet",
        call(
            lambda: [
                "train",
                "--interactions",
                _parquet(),
                "--epochs",
                "1",
                "--verbose",
                "0",
                "--json",
                "--out",
                fresh(),
            ]
        ),
        check=(
            succeeds()
            if importlib.util.find_spec("pyarrow")
            else fails("train", "needs pyarrow: pip install")
        ),
    ),
    Case(
        "cli/train/overwrite-replaces-model",
        call(train_into(model_copy, "--overwrite", "--seed", "1", "--json")),
        check=succeeds(
            lambda r, _: expect(
                r["train"]["seed"] == 1
                and json.load(open(os.path.join(r["out"], "ydnn.json")))["train"]["seed"] == 1,
                r,
            )
        ),
    ),
]
