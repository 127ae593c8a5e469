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


class Timings:
    """Samples of several callables timed in interleaved rounds."""

    def __init__(self, names, repeats):
        self.repeats = repeats
        self.samples = {n: [] for n in names}

    def stats(self, name):
        """(median, min, max) seconds over every repeat of every round."""
        s = self.samples[name]
        return statistics.median(s), min(s), max(s)

    def ratio(self, baseline, name):
        """Median over rounds of (baseline's round median / name's round
        median): each ratio compares runs made back to back, so slow drifts
        of the machine cancel instead of landing on one side."""
        r = self.repeats
        a, b = self.samples[baseline], self.samples[name]
        per_round = [
            statistics.median(a[i : i + r]) / statistics.median(b[i : i + r])
            for i in range(0, len(a), r)
        ]
        return statistics.median(per_round)


def copy_bandwidth_gbs(mb=128, repeats=5):
    """One thread's copy bandwidth, GB/s (reads and writes counted): the
    memory floor. The fastest of repeated copies of a `mb` MB float32 array:
    a floor is what the machine can do, and on a shared VM noise only ever
    adds time (a median let one noisy run put ops above 100% of it)."""
    import numpy as np

    src = np.ones(mb * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return 2 * src.nbytes / min(times) / 1e9


def matmul_gflops(n=1024, repeats=20, dtype="float32"):
    """`dtype` [n, n] x [n, n] in TensorFlow (all threads), GFLOP/s: the
    compute floor of dot-product work in that dtype (bfloat16: oneDNN's
    bf16 matmul, on AMX where the CPU has it). The fastest of `repeats`
    runs, for the reason given at copy_bandwidth_gbs."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal([n, n]), dtype)
    f = tf.function(lambda: tf.matmul(a, a))
    f().numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f().numpy()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / min(times) / 1e9


_FLOORS = {}


def floors():
    """`(copy GB/s, matmul GFLOP/s)` of this machine, measured once per
    process (a benchmark's tables divide by the figures of its own run)."""
    if not _FLOORS:
        _FLOORS["floors"] = (copy_bandwidth_gbs(), matmul_gflops())
    return _FLOORS["floors"]


def floor_seconds(nbytes=0, flops=0, gflops=None):
    """The machine's floor for `nbytes` moved and `flops` done: the larger
    of bytes / copy bandwidth and flops / matmul rate (float32's, or the
    `gflops` given: another dtype's)."""
    gbs, f32_gflops = floors()
    return max(nbytes / (gbs * 1e9), flops / ((gflops or f32_gflops) * 1e9))


def percent_of_floor(seconds, nbytes=0, flops=0, gflops=None):
    """How close a run of `seconds` is to the machine's floor for `nbytes`
    moved and `flops` done (at `gflops`, see floor_seconds): floor time /
    measured time, as "NN%"."""
    return f"{100 * floor_seconds(nbytes, flops, gflops) / seconds:.0f}%"


def rss_mb():
    """This process's resident set, MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextlib.contextmanager
def peak_rss_growth(out):
    """Inside the block a thread polls the resident set every 0.2 ms; on exit
    `out["mb"]` is its peak minus the resident set at entry: the working
    memory the block needed (ru_maxrss cannot say this: it keeps the peak of
    everything before, imports and input data included)."""
    import threading

    base, peak, done = rss_mb(), [0.0], threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.0002)

    watcher = threading.Thread(target=poll)
    watcher.start()
    try:
        yield out
    finally:
        done.set()
        watcher.join()
        out["mb"] = max(peak[0], rss_mb()) - base


def time_interleaved(fns, warmup=5, rounds=5, repeats=10):
    """Times several callables in alternating rounds (A B C, B C A, ...) so
    a drift in machine state hits all of them alike.

    Returns:
        Timings with the samples of every callable.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    timings = Timings(fns, repeats)
    names = list(fns)
    with no_gc():
        for r in range(rounds):
            # Rotate the order: whoever runs right after a cache-thrashing
            # path pays for it, so that seat must not always be the same.
            for name in names[r % len(names) :] + names[: r % len(names)]:
                fn = fns[name]
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn()
                    timings.samples[name].append(time.perf_counter() - t0)
    return timings


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
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
        commit += " + uncommitted changes" if dirty else ""
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
        new = old[: old.index(begin)] + body + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip() + "\n\n" + body + "\n"
    with open(path, "w") as f:
        f.write(new)


def publish(title, notes, header, rows, section, module, results_path):
    """Prints a benchmark's markdown report (title, machine, notes, table)
    and, given `results_path`, rewrites its section of that file with the
    command that made it."""
    import sys

    info = machine_info()
    report = "\n".join(
        [
            f"### {title}",
            "",
            "; ".join(f"{k}: {v}" for k, v in info.items()),
            "",
            *notes,
            "",
            markdown_table(header, rows),
            "",
        ]
    )
    print(report)
    record = os.environ.get("YDNN_BENCH_JSON")
    if record:  # the suite (python -m bench) collects every table for its plots
        import json

        with open(record, "a") as f:
            f.write(
                json.dumps(
                    {
                        "section": section,
                        "header": header,
                        "rows": [[str(c) for c in r] for r in rows],
                    }
                )
                + "\n"
            )
    if results_path:
        command = f"python -m {module} " + " ".join(sys.argv[1:])
        write_section(results_path, section, report, command)
