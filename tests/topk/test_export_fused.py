"""The SavedModel variant that serves with the topk_scores op
(`export_saved_model(fused_top_k=True)`, `ydnn export --fused-top-k`):
the same ids in the same order as the stock-op export, scores within
float32 summation-order error, the op really in its graph, and slots no
item can fill marked with id -1 and score -inf."""

import numpy as np
import pytest
import tensorflow as tf

import ydnn_kernels.topk_scores_op  # noqa: F401  (registers the op the SavedModel needs)
from tests.test_export import CASES, TOL, K, data, histories, served, trained  # noqa: F401
from ydnn import export


def op_types(path):
    sig = tf.saved_model.load(path).signatures["serving_default"]
    ops = {op.type for op in sig.graph.get_operations()}
    for f in sig.graph._functions.values():
        ops |= {node.op for node in f.definition.node_def}
    return ops


@pytest.mark.parametrize(
    "case", ["sqrtn", "sum-include-seen", "mean-separate-include-seen-min-id", "l2norm-sqrtn"]
)
def test_fused_export_serves_what_the_stock_export_serves(case, data, trained, rng, tmp_path):  # noqa: F811
    tm = trained(case)
    exclude_seen = CASES[case].get("exclude_seen", True)
    stock = export.export_saved_model(tm, str(tmp_path / "stock"), k=K, exclude_seen=exclude_seen)
    fused = export.export_saved_model(
        tm, str(tmp_path / "fused"), k=K, exclude_seen=exclude_seen, fused_top_k=True
    )
    history = histories(data, rng)
    got, want = served(fused, history), served(stock, history)
    np.testing.assert_allclose(got["scores"], want["scores"], **TOL)
    tied = np.zeros_like(want["scores"], bool)
    close = np.isclose(want["scores"][:, 1:], want["scores"][:, :-1], rtol=0, atol=1e-5)
    tied[:, 1:] |= close
    tied[:, :-1] |= close
    np.testing.assert_array_equal(got["ids"][~tied], want["ids"][~tied])
    np.testing.assert_array_equal(got["item_ids"], tm.item_ids[got["ids"]])
    assert "YdnnTopkScores" in op_types(fused) or "YdnnTopkScoresResource" in op_types(fused)
    assert not {"YdnnTopkScores", "YdnnTopkScoresResource"} & op_types(stock)


def test_a_slot_no_item_can_fill_is_minus_one(data, trained, tmp_path):  # noqa: F811
    tm = trained("sqrtn")
    out = export.export_saved_model(tm, str(tmp_path / "fused"), k=K, fused_top_k=True)
    catalog = np.arange(1, tm.model.max_id + 1, dtype=np.int32)
    history = np.zeros((1, len(catalog)), np.int32)
    history[0, : len(catalog) - 2] = catalog[2:]  # all but items 1 and 2
    sig = tf.saved_model.load(out).signatures["serving_default"]
    got = {n: v.numpy() for n, v in sig(history=tf.constant(history)).items()}
    free = [1, 2] if tm.model.min_sampled_id > 0 else [0, 1, 2]  # 0 is an id when min_id = 0
    n = len(free)
    assert sorted(got["ids"][0, :n]) == free
    assert (got["ids"][0, n:] == -1).all() and np.isneginf(got["scores"][0, n:]).all()


def test_cli_export_fused_top_k(tmp_path, capsys):
    from tests.test_cli import TINY
    from ydnn.cli import main

    model = str(tmp_path / "model")
    assert main(["train"] + TINY + ["--out", model]) == 0
    out = str(tmp_path / "serving")
    assert main(["export", "--model", model, "--out", out, "--fused-top-k"]) == 0
    assert "YdnnTopkScoresResource" in op_types(out) or "YdnnTopkScores" in op_types(out)
    capsys.readouterr()
