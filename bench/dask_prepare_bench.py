"""prepare_sequences_dask on a log larger than the memory it may use, beside the in-memory path.

A synthetic log is written as Parquet files of `--file-rows` rows, one file
at a time (never whole in memory): `user_id`, `item_id`, `timestamp` int64;
users drawn by a lognormal activity weight (a few heavy users, some below
the 3-interaction minimum), items by popularity `rank^-0.8` over a random
relabelling of the ids, times uniform (rows in no order). Sizes: `rows / 50`
users, `rows / 100` items.

Each run is its own process; this one polls the child's resident set every
few milliseconds and kills it once it passes `--limit-mb`, and reads the
child's peak resident set from the kernel when it ends (`wait4`'s
`ru_maxrss`), so a spike between two polls still shows: a run holds the
limit only if that peak is below it. The peak counts everything the
process holds, TensorFlow included (importing `ydnn` loads it: the "after
imports" column). Dask runs on its default threaded scheduler (one thread per
core); the shuffle spills beside the output, under `--dir`. Rows/s counts input rows
over the call's wall time (for the in-memory path: `pd.read_parquet` plus
`prepare_sequences`, which writes nothing; the Dask path writes its Parquet
splits). The in-memory path then runs on the large log under the same limit,
to show the limit binds.

Run: python -m bench.dask_prepare_bench [--rows 100000000] [--small-rows 10000000]
         [--limit-mb 2000] [--dir DIR] [--results bench/RESULTS.md]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.harness import publish

FILE_ROWS = 1_000_000
POLL_S = 0.005
KILLED = "killed at the limit"


def write_log(directory, rows, file_rows, seed=0):
    """The synthetic log as Parquet files in `directory`; returns bytes on disk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    users, items = max(rows // 50, 1), max(rows // 100, 1)
    user_cdf = np.cumsum(rng.lognormal(0.0, 1.0, users))
    item_cdf = np.cumsum(np.arange(1, items + 1) ** -0.8)
    labels = rng.permutation(items).astype(np.int64) + 1
    os.makedirs(directory)
    for i, start in enumerate(range(0, rows, file_rows)):
        n = min(file_rows, rows - start)
        draw = np.random.default_rng([seed, i])
        user = np.searchsorted(user_cdf, draw.random(n) * user_cdf[-1], side="right")
        item = np.searchsorted(item_cdf, draw.random(n) * item_cdf[-1], side="right")
        table = pa.table(
            {
                "user_id": np.minimum(user, users - 1).astype(np.int64) + 1,
                "item_id": labels[np.minimum(item, items - 1)],
                "timestamp": draw.integers(0, 2**31, n, dtype=np.int64),
            }
        )
        pq.write_table(table, os.path.join(directory, f"part-{i:05d}.parquet"))
    return disk_bytes(directory)


def disk_bytes(directory):
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(directory) for n in ns)


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args):
    """One run in this process; prints its figures as one JSON line."""
    import pandas as pd

    import ydnn

    after_imports = rss_mb()
    start = time.perf_counter()
    if args.child == "dask":
        summary = ydnn.data.prepare_sequences_dask(args.log, args.out).summary()
    else:
        data = ydnn.data.prepare_sequences(pd.read_parquet(args.log))
        summary = data.summary()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "after_imports_mb": after_imports, **summary}))


def run_limited(mode, log, out, work, limit_mb):
    """Runs `child(mode)` in a subprocess under `limit_mb` of resident set (None:
    no limit); returns its figures, its peak RSS and whether it was killed."""
    argv = [sys.executable, "-m", "bench.dask_prepare_bench", "--child", mode]
    argv += ["--log", log, "--out", out]
    stdout, stderr = os.path.join(work, "child.out"), os.path.join(work, "child.err")
    with open(stdout, "w") as o, open(stderr, "w") as e:
        proc = subprocess.Popen(argv, stdout=o, stderr=e)
    statm, page = f"/proc/{proc.pid}/statm", os.sysconf("SC_PAGE_SIZE")
    killed, start = False, time.perf_counter()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            with open(statm) as f:
                rss = int(f.read().split()[1]) * page / 2**20
        except (OSError, IndexError, ValueError):  # exiting between wait4 and the read
            rss = 0
        if limit_mb is not None and rss > limit_mb and not killed:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(POLL_S)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    result = {"peak_mb": usage.ru_maxrss / 1024, "wall_s": time.perf_counter() - start}
    if killed:
        return dict(result, status=KILLED)
    if proc.returncode != 0:
        with open(stderr) as f:
            raise RuntimeError(f"{mode} run failed ({proc.returncode}):\n{f.read()[-3000:]}")
    with open(stdout) as f:
        result.update(json.loads(f.read().strip().splitlines()[-1]))
    held = limit_mb is None or result["peak_mb"] <= limit_mb
    return dict(result, status="done" if held else "done, peak above the limit")


def row(name, rows, limit_mb, r, out_bytes=None):
    done = "seconds" in r
    return [
        name,
        f"{rows:,}",
        f"{limit_mb:,} MB" if limit_mb else "none",
        f"{r['seconds']:.1f}" if done else f"({r['wall_s']:.1f})",
        f"{rows / r['seconds']:,.0f}" if done else "-",
        f"{r['peak_mb']:,.0f}",
        f"{r['after_imports_mb']:,.0f}" if done else "-",
        f"{r['users']:,} / {r['items']:,} / {r['train_examples']:,}" if done else "-",
        f"{out_bytes / 2**30:.2f} GiB" if out_bytes else "-",
        r["status"],
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--small-rows", type=int, default=10_000_000)
    parser.add_argument("--file-rows", type=int, default=FILE_ROWS)
    parser.add_argument("--limit-mb", type=int, default=2000)
    parser.add_argument(
        "--dir", help="where the temporary work directory goes (default: the system's)"
    )
    parser.add_argument("--results", help="rewrite this benchmark's section of this file")
    parser.add_argument("--child", choices=["dask", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    work = tempfile.mkdtemp(prefix="ydnn-dask-bench-", dir=args.dir)
    limit, table = args.limit_mb, []
    try:
        sizes = {}
        for rows in (args.small_rows, args.rows):
            log = os.path.join(work, f"log-{rows}")
            sizes[rows] = write_log(log, rows, args.file_rows)
            print(f"wrote {rows:,} rows: {sizes[rows] / 2**30:.2f} GiB of Parquet", flush=True)
        for rows, mode, cap in (
            (args.small_rows, "memory", None),
            (args.small_rows, "dask", limit),
            (args.rows, "dask", limit),
            (args.rows, "memory", limit),
        ):
            out = os.path.join(work, f"out-{mode}-{rows}")
            r = run_limited(mode, os.path.join(work, f"log-{rows}"), out, work, cap)
            name = "prepare_sequences_dask" if mode == "dask" else "prepare_sequences (in memory)"
            table.append(row(name, rows, cap, r, disk_bytes(out) if mode == "dask" else None))
            print(" | ".join(table[-1]), flush=True)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    frame_gb = args.rows * 3 * 8 / 1e9
    notes = [
        f"Log: {args.rows:,} rows as {-(-args.rows // args.file_rows)} Parquet files of "
        f"{args.file_rows:,} rows ({sizes[args.rows] / 2**30:.2f} GiB on disk; {frame_gb:.1f} GB "
        f"as a pandas frame of 3 int64 columns), {args.rows // 50:,} users drawn by lognormal "
        f"activity, {args.rows // 100:,} items by popularity rank^-0.8, uniform times; the "
        f"small log is the same recipe at {args.small_rows:,} rows. H = 20, min 3 "
        f"interactions, output partitions = input files.",
        "Each run is a subprocess killed once its resident set passes the limit (polled every "
        f"{POLL_S * 1e3:.0f} ms); peak RSS is the kernel's ru_maxrss of the child, TensorFlow's "
        "import included (after imports); users / items / training examples are the prepared "
        "sizes; wall s in parentheses: time until the kill. Rows/s: input rows over the call "
        "(in memory: pd.read_parquet + prepare_sequences; Dask: three passes over the files, "
        "the shuffle through disk and the Parquet splits written).",
    ]
    header = [
        "path",
        "rows",
        "RSS limit",
        "wall s",
        "rows/s",
        "peak RSS MB",
        "after imports MB",
        "users / items / train examples",
        "output",
        "result",
    ]
    publish(
        "prepare_sequences_dask: a log larger than the memory limit",
        notes,
        header,
        table,
        "dask_prepare",
        "bench.dask_prepare_bench",
        args.results,
    )


if __name__ == "__main__":
    main()
