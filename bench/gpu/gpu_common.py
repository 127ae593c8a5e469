"""What every GPU benchmark in bench/gpu shares: CUDA-event timing, the
card's two measured ceilings, and the report files.

The ceilings are measured once per `run.sh` call (the first script to ask
caches them in a JSON file beside the report) so that every table is placed
on the same numbers:

* copy: a 1 GiB cudaMemcpy device to device, GB/s counting bytes read plus
  bytes written (the memory floor of any kernel that streams its bytes);
* matmul: an 8192^3 float32 cuBLAS product through CuPy, TFLOP/s (CuPy keeps
  TF32 off unless CUPY_TF32=1, so this is the plain fp32 rate).

Report files (under $OUT when the device tool sets it, else /tmp): every
script appends its markdown table to `gpu_bench.md` and one JSON line per
timed row to `rows.jsonl`; `roofline.py` prints the summary from the latter.
"""

import json
import os

import cupy as cp
import numpy as np

WARMUP, REPEAT = 3, 25
OUT_DIR = os.environ.get("OUT") or "/tmp"


class Log:
    """Prints lines as they come and keeps them for the report file."""

    def __init__(self):
        self.lines = []

    def __call__(self, *parts):
        line = " ".join(str(p) for p in parts)
        self.lines.append(line)
        print(line, flush=True)


def time_ms(fn, warmup=WARMUP, repeat=REPEAT):
    """(median, min, max) milliseconds of fn(i) between CUDA events on the
    current stream; i is the repeat index, for rotating inputs. A call that
    syncs inside (to read a count back) is timed whole, sync included."""
    for i in range(warmup):
        fn(i)
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    times = []
    for i in range(repeat):
        start.record()
        fn(i)
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return float(np.median(times)), min(times), max(times)


def fmt_t(t):
    """'median (min-max)' of a time_ms triple."""
    return f"{t[0]:.4f} ({t[1]:.4f}-{t[2]:.4f})"


def _copy_gbs():
    n = 1 << 30
    src = cp.arange(n // 4, dtype=cp.uint32).view(cp.uint8)
    dst = cp.empty_like(src)
    stream = cp.cuda.get_current_stream().ptr

    def run(_):
        cp.cuda.runtime.memcpyAsync(
            dst.data.ptr, src.data.ptr, n, cp.cuda.runtime.memcpyDeviceToDevice, stream
        )

    med, _, _ = time_ms(run)
    if not bool((dst[-4:] == src[-4:]).all()):
        raise RuntimeError("the device copy did not copy")
    return 2 * n / med / 1e6


def _matmul_tflops(n=8192):
    a = cp.random.standard_normal((n, n), dtype=cp.float32)
    b = cp.random.standard_normal((n, n), dtype=cp.float32)
    c = cp.empty_like(a)
    med, _, _ = time_ms(lambda _: cp.matmul(a, b, out=c), repeat=10)
    return 2 * n**3 / med / 1e9


def card():
    """The card's name, its L2 bytes, and the versions the report states."""
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return dict(
        name=name,
        l2=props["l2CacheSize"],
        sms=props["multiProcessorCount"],
        cupy=cp.__version__,
        runtime=cp.cuda.runtime.runtimeGetVersion(),
        driver=cp.cuda.runtime.driverGetVersion(),
    )


def ceilings():
    """{'copy_gbs', 'matmul_tflops'}: measured on the first call of a run,
    then read back from OUT_DIR/ceilings.json by the later scripts."""
    path = os.path.join(OUT_DIR, "ceilings.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    result = dict(copy_gbs=_copy_gbs())
    cp.get_default_memory_pool().free_all_blocks()
    result["matmul_tflops"] = _matmul_tflops()
    cp.get_default_memory_pool().free_all_blocks()
    with open(path, "w") as f:
        json.dump(result, f)
    return result


def header(title, ceil):
    c = card()
    return [
        f"## {title} on {c['name']}",
        "",
        f"CuPy {c['cupy']}, CUDA runtime {c['runtime']}, driver {c['driver']}, "
        f"{c['sms']} SMs, L2 {c['l2'] / 2**20:.0f} MiB. Device-to-device copy "
        f"{ceil['copy_gbs']:.0f} GB/s (read + write); fp32 matmul 8192^3 "
        f"{ceil['matmul_tflops']:.1f} TFLOP/s.",
        "",
    ]


ROOF_KEYS = ("kernel", "shape", "ms", "gbs", "tflops", "gdraws", "bound", "status")


def save(log, md, rows):
    """Prints the table, appends log + table to gpu_bench.md and one line
    per row to rows.jsonl for roofline.py: a row's "roofline" list when it
    has one (a row that times several passes), else its ROOF_KEYS. Returns
    the script's exit status: 1 if any row is not ok."""
    print("\n" + md, flush=True)
    with open(os.path.join(OUT_DIR, "gpu_bench.md"), "a") as f:
        f.write("\n".join(log.lines) + "\n\n" + md + "\n\n")
    with open(os.path.join(OUT_DIR, "rows.jsonl"), "a") as f:
        for r in rows:
            for line in r.get("roofline") or [{k: r[k] for k in ROOF_KEYS if k in r}]:
                f.write(json.dumps(line, default=float) + "\n")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def guarded(log, rows, kernel, shape, fn):
    """Runs one benchmark row; an exception becomes an ERROR row instead of
    hiding the rows after it."""
    try:
        rows.append(fn())
    except Exception as e:
        log(f"ERROR {kernel} {shape}: {type(e).__name__}: {e}")
        rows.append(
            dict(kernel=kernel, shape=shape, status=f"ERROR: {type(e).__name__}: {e}"[:200])
        )
