"""`ydnn export --index`: the approximate index beside the SavedModel.

One tiny synthetic run (200 users, 2,000 items, id 0 reserved for padding,
2 epochs) is trained once per module. The exported index is loaded with
`AnnIndex.load` and searched with the model's own query embeddings; its
top-10 must match the SavedModel's exact top-10 (recall >= RECALL, 0.95:
the HNSW graph is all but exact at this size, so a wrong table, `post` or
id mapping fails it). Without faiss, the command and `import ydnn` must
behave as documented.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("faiss", reason="the ANN tests need pip install 'ydnn[ann]'")

from tests.cli_tiny import tiny_train_args
from ydnn.cli import main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECALL = 0.95
K = 10
TINY = tiny_train_args(items=2000)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli_ann") / "model")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", open(os.devnull, "w"))
        assert main(["train"] + TINY + ["--out", out]) == 0
    return out


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli_ann") / "serving")
    with pytest.MonkeyPatch.context() as mp:
        path = str(tmp_path_factory.mktemp("cli_ann") / "stdout")
        with open(path, "w") as f:
            mp.setattr(sys, "stdout", f)
            status = main(["export", "--model", model_dir, "--out", out, "--index", "--json"])
    assert status == 0
    with open(path) as f:
        lines = f.read().strip().splitlines()
    return out, json.loads(lines[-1]), "\n".join(lines[:-1])


def test_export_index_then_load_and_search(model_dir, exported):
    import tensorflow as tf

    from ydnn.ann_index import AnnIndex
    from ydnn.trained_model import INDEX_DIR, TrainedModel

    out, result, text = exported
    assert INDEX_DIR in os.listdir(out) and "saved_model.pb" in os.listdir(out)
    assert f"approximate index in {os.path.join(out, INDEX_DIR)}" in text
    index = AnnIndex.load(os.path.join(out, INDEX_DIR))
    trained = TrainedModel.load(model_dir)
    assert index.size == result["index"]["size"] == trained.num_items  # ids 1..num_items
    assert index.ids.min() == 1 and index.ids.max() == trained.num_items
    assert result["index"]["recall_at_k"] >= RECALL and result["index"]["k"] == K
    assert index.metadata["check"]["recall_at_k"] == result["index"]["recall_at_k"]
    # The users' histories through the model, then the index vs the SavedModel.
    H = trained.max_history
    history = np.zeros((len(trained.user_ids), H), np.int32)
    for u in range(len(trained.user_ids)):
        recent = trained.sequence(u)[-H:]
        history[u, : len(recent)] = recent
    served = tf.saved_model.load(out).signatures["serving_default"](history=tf.constant(history))
    query = trained.model({trained.model.candidate.name: tf.constant(history)}, training=False)
    scores, ids = index.search(query.numpy(), K, exclude=list(history))
    exact = served["ids"].numpy()
    recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(ids, exact)]) / K
    assert recall >= RECALL
    assert not (ids[:, :, None] == history[:, None, :]).any()  # seen items excluded
    # Model ids decode through the export's item mapping like the served ones.
    with open(os.path.join(out, "assets", "items.txt")) as f:
        items = np.array(f.read().split())
    np.testing.assert_array_equal(items[exact - 1], served["item_ids"].numpy().astype(str))
    # The exported index is the model's: recommend can use it.
    trained.attach_index(index)
    found, _ = trained.recommend(trained.user_ids[0], K, approximate=True)
    assert len(found) == K


def test_index_options_and_overwrite(model_dir, tmp_path, capsys):
    from ydnn.trained_model import INDEX_DIR

    out = str(tmp_path / "s")
    assert main(["export", "--model", model_dir, "--out", out]) == 0
    argv = ["export", "--model", model_dir, "--out", out, "--index", "--json"]
    argv += ["--index-m", "8", "--index-ef-construction", "40", "--index-ef-search", "128"]
    assert main(argv) == 1  # --out holds a SavedModel
    assert "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["index"]["m"], result["index"]["ef_construction"]) == (8, 40)
    with open(os.path.join(out, INDEX_DIR, "ann.json")) as f:
        params = json.load(f)
    assert (params["m"], params["ef_construction"], params["ef_search"]) == (8, 40, 128)
    # Without --index an overwrite drops the old index with the old export.
    assert main(["export", "--model", model_dir, "--out", out, "--overwrite"]) == 0
    assert INDEX_DIR not in os.listdir(out)


@pytest.mark.parametrize("option", ["--index-m", "--index-ef-search", "--index-ef-construction"])
def test_index_options_need_index(option, model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["export", "--model", model_dir, "--out", str(tmp_path / "s"), option, "8"])
    assert stop.value.code == 2
    assert f"argument {option}: only applies with --index" in capsys.readouterr().err


def test_export_index_without_faiss(model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    out = str(tmp_path / "s")
    assert main(["export", "--model", model_dir, "--out", out, "--index"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ydnn export: error: approximate search needs faiss")
    assert "pip install 'ydnn[ann]'" in err
    assert not os.path.exists(out)


def test_ydnn_imports_without_faiss():
    """The rest of ydnn imports and works without faiss; only the index asks for it."""
    code = (
        "import sys; sys.modules['faiss'] = None\n"
        "import numpy as np, ydnn, ydnn.ann_index, ydnn.cli_run, ydnn.export, "
        "ydnn.trained_model\n"
        "try:\n"
        "    ydnn.ann_index.AnnIndex.build(np.ones((4, 2), np.float32))\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "pip install 'ydnn[ann]'" in run.stdout
