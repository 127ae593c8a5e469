"""embedding_pool's pybind11 entry point on NumPy arrays: the same reference
checks as the TF op, every CPU vector path (scalar / AVX2 / AVX-512, chosen
at run time) and thread-count independence. No TensorFlow: bench/gpu/run.sh
runs this file on a TF-free GPU box. Bad input: test_errors.py."""

import numpy as np
import pytest

from tests.embedding_pool.cases import (
    COMBINERS,
    DTYPES,
    EDGES,
    ID_DTYPES,
    LAYOUTS,
    PAD,
    WEIGHTED,
    check_pool_results,
    edge_cases,
    layout_kwargs,
    make_case,
)
from tests.embedding_pool.reference import embedding_pool_grad_ref, embedding_pool_ref
from tests.isa_run import run_json
from tests.tolerance import assert_close_to_ref
from ydnn_kernels import arrays


def run_arrays(case, combiner, layout):
    kw = layout_kwargs(case, layout)
    out = arrays.embedding_pool(case.table, combiner=combiner, **kw)
    up = np.random.default_rng(1).standard_normal(out.shape).astype(case.table.dtype)
    grads = arrays.embedding_pool_grad(case.table, pooled=out, grad=up, combiner=combiner, **kw)
    return out, up, grads


def check(case, combiner, layout):
    out, up, grads = run_arrays(case, combiner, layout)
    check_pool_results(case, combiner, layout, out, up, *grads)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("weighted", WEIGHTED)
@pytest.mark.parametrize("id_dtype", ID_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_matches_reference(rng, combiner, dtype, id_dtype, weighted, layout):
    case = make_case(rng, B=9, L=7, V=70, D=37, dtype=dtype, id_dtype=id_dtype, weighted=weighted)
    check(case, combiner, layout)


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("combiner", COMBINERS)
def test_edge_cases(rng, combiner, layout, edge):
    check(edge_cases(rng, weighted=True)[edge], combiner, layout)


def test_zero_bags(rng):
    table = rng.standard_normal((5, 3)).astype(np.float32)
    out = arrays.embedding_pool(table, np.zeros((0, 4), np.int64), lengths=np.zeros(0, np.int64))
    assert out.shape == (0, 3)
    out = arrays.embedding_pool(table, np.zeros(0, np.int32), row_splits=np.array([0]))
    assert out.shape == (0, 3)


_SUBPROCESS = """
import json, sys
import numpy as np
from ydnn_kernels import arrays, _ydnn_py
c = json.loads(sys.stdin.read())
t = np.array(c["table"], np.float32).astype(c["dtype"])
ids, lengths, w = np.array(c["ids"]), np.array(c["lengths"]), np.array(c["weights"], np.float32)
out = arrays.embedding_pool(t, ids, lengths=lengths, weights=w, combiner="sqrtn")
u, rows, gw = arrays.embedding_pool_grad(t, ids, out, np.ones_like(out), lengths=lengths,
                                         weights=w, combiner="sqrtn")
print(json.dumps({"isa": _ydnn_py.cpu_isa(), "threads": _ydnn_py.num_threads(),
                  "out": out.astype(np.float64).tolist(), "rows": rows.astype(np.float64).tolist(),
                  "gw": gw.astype(np.float64).tolist()}))
"""


def _cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512bw " in f.read()
    except OSError:
        return False


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("isa, threads", [("scalar", 1), ("avx2", 2), ("avx512", 2), ("avx512", 1)])
def test_every_vector_path_gives_the_same_answer(rng, isa, threads, dtype):
    if isa == "avx512" and not _cpu_has_avx512():
        pytest.skip("this CPU has no AVX-512")
    # D = 100: full 64-wide tiles, a 36 tail, 16-wide f16 conversion + tail.
    case = make_case(rng, B=40, L=9, V=30, D=100, dtype=dtype, weighted=True)
    payload = dict(
        table=case.table.astype(np.float32).tolist(),
        dtype=dtype,
        ids=case.ids.tolist(),
        lengths=case.lengths.tolist(),
        weights=case.weights.tolist(),
    )
    got = run_json(_SUBPROCESS, payload, isa, threads)
    assert got["isa"] == isa and got["threads"] == threads
    assert_close_to_ref(
        got["out"],
        embedding_pool_ref(case.table, case.bags, "sqrtn"),
        dtype,
        case.scale,
        f"{isa} forward",
    )
    ones = np.ones((case.ids.shape[0], case.table.shape[1]))
    table_grad, weight_grads = embedding_pool_grad_ref(case.table, case.bags, "sqrtn", ones)
    want_rows = [table_grad[i] for i in sorted(table_grad)]
    assert_close_to_ref(got["rows"], want_rows, dtype, case.scale, f"{isa} table gradient")
    gw = np.array(got["gw"])
    flat = [g for bag in weight_grads for g in bag]
    # The subprocess's out was rounded to the table dtype before g.out.
    assert_close_to_ref(
        gw[case.ids != PAD], flat, dtype, case.table.shape[1] * case.scale, f"{isa} weight gradient"
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_large_batch(rng, layout):
    # Tens of thousands of ids, duplicates across many bags and both radix
    # passes busy (V = 3000 needs 12 bits: two 11-bit digits).
    case = make_case(
        rng, B=2048, L=16, V=3000, D=8, weighted=True, lengths=rng.integers(8, 17, size=2048)
    )
    assert int(case.lengths.sum()) >= 16384
    check(case, "mean", layout)
