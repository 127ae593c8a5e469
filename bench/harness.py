"""Timing and reporting shared by ydnn's benchmarks.

Every comparison runs fused and stock in one process, interleaved, so both
sides see the same machine state (caches, clocks, other load). Times are
medians over repeats after warm-up, with min and max beside them; ratios are
taken pair by pair, never against numbers from another run.
"""

import contextlib
import datetime
import gc
import os
import platform
import statistics
import subprocess
import time


@contextlib.contextmanager
def no_gc():
    """Python's cyclic GC off while timing, as timeit does: TF's eager calls
    allocate enough objects to trigger collections that land at random in
    either side of a comparison."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_fn(fn, warmup=5, repeats=30, min_seconds=0.5):
    """Runs fn() warmup times, then at least `repeats` times and at least
    `min_seconds`; returns (median, min, max) seconds per call."""
    with no_gc():
        return _time_fn(fn, warmup, repeats, min_seconds)


def _time_fn(fn, warmup, repeats, min_seconds):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 20 * repeats:
            break
    return statistics.median(times), min(times), max(times)


def time_interleaved(fns, warmup=5, rounds=5, repeats=10):
    """Times several callables in alternating rounds (A B C A B C ...) so a
    drift in machine state hits all of them alike. Returns {name: (median,
    min, max)} over all repeats of all rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    with no_gc():
        for _ in range(rounds):
            for name, fn in fns.items():
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - t0)
    return {n: (statistics.median(s), min(s), max(s)) for n, s in samples.items()}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info():
    """A dict describing where and what was measured."""
    import tensorflow as tf

    from ydnn_kernels import _ydnn_py, build_info

    info = build_info()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{_cpu_model()}, {os.cpu_count()} cores, ydnn vector path {_ydnn_py.cpu_isa()}",
        "tensorflow": tf.__version__,
        "build": f"{info['CXX_FLAGS']} (CUDA kernels: {info['WITH_CUDA']})",
        "commit": commit,
    }


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_ms(t):
    return f"{t * 1e3:.3f}"


def write_section(path, name, text, command):
    """Replaces (or appends) the section `name` of a markdown report, marked
    by HTML comments, so each benchmark regenerates only its own part."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    body = f"{begin}\nCommand: `{command}`\n\n{text.strip()}\n{end}"
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = "# ydnn benchmark results\n\nEach section is written by the command it names.\n"
    if begin in old and end in old:
        new = old[:old.index(begin)] + body + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + "\n\n" + body + "\n"
    with open(path, "w") as f:
        f.write(new)
