"""The sparse optimizer updates' CUDA kernels timed on CuPy, without
TensorFlow.

    python3 bench/gpu/sparse_optim_gpu_bench.py     # from the repo root

One step of SGD, Adagrad, row-wise Adagrad and lazy Adam on a float32
[V, 64] table, V = 10^4 / 10^6 / 10^7, from N = 16,384 gradient rows whose
ids are Zipf-distributed (duplicates summed first: sort, segment, update),
and from the same number of sorted unique ids with `indices_unique=True`
(no sort). The step must cost the same at every V: the last column is the
step time over the same row's time at V = 10^4 (issue 5 asks for <= 1.5x on
the CPU). Row-wise Adagrad and lazy Adam also run on a float16 table with
stochastic rounding (the model's `table_dtype`; CuPy has no bfloat16): each
lane draws its element's Philox bits, so these rows show what the rounding
costs next to the float32 ones.

Each kind is first checked (one step on a 10^4-row table, Zipf ids): the
GPU's error against the float64 reference must stay within twice the CPU
kernels' on the same inputs, or the kind is marked FAILED, untimed. Times:
CUDA events around `arrays.sparse_apply`, id check (one sync) and workspace
allocation included; the table and its slots are updated in
place on every repeat, as in training.

Bytes that must move, U unique rows of D float32: the N gradient rows and
ids read; each touched table row read and written; each slot row read and
written (Adagrad one [D] row, row-wise Adagrad one float, lazy Adam two [D]
rows). Sorting the ids is counted too: N (8-byte key, 4-byte index) pairs
read and written per 8-bit digit of V - 1.
"""

import math
import os
import sys

import cupy as cp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
from gpu_common import REPEAT, WARMUP, Log, ceilings, fmt_t, guarded, header, save, time_ms  # noqa: E402

from tests.sparse_optim.reference import sparse_step  # noqa: E402
from ydnn_kernels import arrays  # noqa: E402

D, N = 64, 16384
SIZES = (10**4, 10**6, 10**7)
SLOT_FLOATS = {"sgd": 0, "adagrad": D, "rowwise_adagrad": 1, "lazy_adam": 2 * D}
log = Log()


def slots_for(kind, V, xp):
    if kind == "sgd":
        return []
    if kind == "rowwise_adagrad":
        return [xp.full((V,), 0.1, np.float32)]
    if kind == "adagrad":
        return [xp.full((V, D), 0.1, np.float32)]
    return [xp.zeros((V, D), np.float32), xp.full((V, D), 0.01, np.float32)]


def zipf_ids(rng, V, n):
    ranks = np.minimum(rng.zipf(1.2, n) - 1, V - 1)
    return rng.permutation(V)[ranks]  # popular rows scattered over the table


def gate(rng, kind):
    """None when the GPU step is as accurate as the CPU's, else why not.

    Both are judged against the float64 reference. They cannot be compared
    with each other at fp32 rounding: a Zipf id repeated ~3000 times has its
    gradient rows summed in another order on each (the CPU in id order, the
    GPU in chunks of 256), and the CPU alone is ~4e-5 off in relative terms
    on the Adagrad accumulator. Allowed: twice the CPU's largest error, plus
    1e-6 of the largest value. A chunk lost or counted twice moves a summed
    row by ~16 (256 unit normals), orders of magnitude past that.
    """
    V = 10**4
    table = rng.standard_normal((V, D)).astype(np.float32)
    ids = zipf_ids(rng, V, N)
    grad = rng.standard_normal((N, D)).astype(np.float32)
    cpu_t, cpu_s = table.copy(), slots_for(kind, V, np)
    ref_t, ref_s = sparse_step(kind, table, cpu_s, ids, grad, 0.01, step=3)
    arrays.sparse_apply(kind, cpu_t, cpu_s, ids, grad, 0.01, step=3)
    gpu_t, gpu_s = cp.asarray(table), slots_for(kind, V, cp)
    arrays.sparse_apply(kind, gpu_t, gpu_s, cp.asarray(ids), cp.asarray(grad), 0.01, step=3)
    names = ["table"] + [f"slot {i}" for i in range(len(ref_s))]
    errors = []
    for name, ref, cpu, gpu in zip(names, [ref_t, *ref_s], [cpu_t, *cpu_s], [gpu_t, *gpu_s]):
        cpu_err = float(np.abs(cpu - ref).max())
        gpu_err = float(np.abs(gpu.get() - ref).max())
        errors.append(f"{name} {gpu_err:.2e} (CPU {cpu_err:.2e})")
        if not gpu_err <= 2 * cpu_err + 1e-6 * float(np.abs(ref).max()):
            return "GPU step less accurate than the CPU's: " + ", ".join(errors)
    log(f"gate {kind}: largest error against float64, " + ", ".join(errors))
    return None


def step_bytes(kind, V, U, unique, elem=4):
    sort = 0 if unique else N * 12 * 2 * math.ceil((V - 1).bit_length() / 8)
    return N * (D * elem + 8) + U * (2 * D * elem + 2 * SLOT_FLOATS[kind] * 4) + sort


def bench_row(rng, kind, V, unique, copy_gbs, dtype="float32"):
    shape = f"V={V:.0e} N={N} D={D} " + ("unique sorted ids" if unique else "Zipf ids")
    half = dtype != "float32"
    name = f"sparse_apply {kind}" + (f" {dtype} stochastic rounding" if half else "")
    row = dict(kernel=name, shape=shape, V=V, unique=unique)
    table = cp.random.standard_normal((V, D), dtype=cp.float32).astype(dtype)
    slots = slots_for(kind, V, cp)
    sets = []
    for _ in range(8):
        ids = np.sort(rng.choice(V, min(N, V), replace=False)) if unique else zipf_ids(rng, V, N)
        grad = rng.standard_normal((len(ids), D)).astype(dtype)
        sets.append((cp.asarray(ids), cp.asarray(grad)))
    U = np.mean([np.unique(s[0].get()).size for s in sets])

    def step(i):
        ids, grad = sets[i % len(sets)]
        arrays.sparse_apply(
            kind,
            table,
            slots,
            ids,
            grad,
            1e-3,
            step=i + 1,
            indices_unique=unique,
            stochastic_rounding=half,
            seed=1,
        )

    row["t"] = time_ms(step)
    row["ms"] = row["t"][0]
    row["U"] = U
    row["gbs"] = step_bytes(kind, V, U, unique, table.dtype.itemsize) / row["ms"] / 1e6
    row["pct"] = 100 * row["gbs"] / copy_gbs
    row["bound"] = "memory"
    row["status"] = "ok"
    log(f"{name} {shape}: {row['ms']:.4f} ms, {row['gbs']:.0f} GB/s, U={U:.0f}")
    return row


def table_md(rows, ceil):
    base = {
        (r["kernel"], r["unique"]): r["ms"]
        for r in rows
        if r["status"] == "ok" and r["V"] == SIZES[0]
    }
    out = header("sparse_apply", ceil) + [
        f"One step, float32 (float16 where named) [V, {D}] table, N = {N:,} gradient rows. "
        "ms: median (min-max) of "
        f"{REPEAT} after {WARMUP} warm-up, CUDA events, id check and allocation included. "
        "GB/s: bytes that must move (module docstring) over the median; % copy is of the "
        f"copy's GB/s. vs V=1e4: the step time over the same kind's at V = {SIZES[0]:,}.",
        "",
        "| kernel | shape | ms | GB/s | % copy | U | vs V=1e4 | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["kernel"], r["shape"]]
        if r["status"] == "ok":
            ratio = (
                r["ms"] / base[(r["kernel"], r["unique"])]
                if (r["kernel"], r["unique"]) in base
                else float("nan")
            )
            cells += [
                fmt_t(r["t"]),
                f"{r['gbs']:.0f}",
                f"{r['pct']:.0f}%",
                f"{r['U']:.0f}",
                f"{ratio:.2f}x",
            ]
        else:
            cells += [""] * 5
        out.append("| " + " | ".join(cells + [r["status"]]) + " |")
    return "\n".join(out)


def main():
    rng = np.random.default_rng(0)
    ceil = ceilings()
    rows = []
    for kind in SLOT_FLOATS:
        failure = guarded_gate(rng, kind)
        for unique in (False, True):
            for V in SIZES:
                shape = f"V={V:.0e} unique={unique}"
                if failure:
                    rows.append(
                        dict(
                            kernel=f"sparse_apply {kind}",
                            shape=shape,
                            V=V,
                            unique=unique,
                            status="FAILED: " + failure,
                        )
                    )
                    continue
                guarded(
                    log,
                    rows,
                    f"sparse_apply {kind}",
                    shape,
                    lambda: bench_row(rng, kind, V, unique, ceil["copy_gbs"]),
                )
                cp.get_default_memory_pool().free_all_blocks()
    for kind in ("rowwise_adagrad", "lazy_adam"):
        for V in SIZES:
            guarded(
                log,
                rows,
                f"sparse_apply {kind} float16 stochastic rounding",
                f"V={V:.0e} unique=False",
                lambda: bench_row(rng, kind, V, False, ceil["copy_gbs"], "float16"),
            )
            cp.get_default_memory_pool().free_all_blocks()
    return save(log, table_md(rows, ceil), rows)


def guarded_gate(rng, kind):
    try:
        failure = gate(rng, kind)
    except Exception as e:
        failure = f"{type(e).__name__}: {e}"[:200]
    if failure:
        log(f"FAILED sparse_apply {kind}: {failure}")
    return failure


if __name__ == "__main__":
    sys.exit(main())
