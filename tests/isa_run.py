"""Runs a script in a fresh interpreter under one CPU vector path.

The vector path (`YDNN_CPU_ISA`) and the NumPy module's thread pool
(`YDNN_NUM_THREADS`) are fixed at their first use in a process, so every
path and thread count a test compares runs in an interpreter of its own:
the payload goes in on stdin as JSON, the script prints its result as JSON.
"""

import json
import os
import subprocess
import sys


def run_json(script, payload, isa, threads=None):
    """`script`'s JSON output for `payload` under vector path `isa` (and
    `threads` pool threads, else the default)."""
    env = dict(os.environ, YDNN_CPU_ISA=isa)
    if threads is not None:
        env["YDNN_NUM_THREADS"] = str(threads)
    res = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(res.stdout)
