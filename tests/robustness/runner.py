"""Runs a case module in worker subprocesses; a crash or hang fails one case.

`run_module(name)` returns `{case name: (passed, detail)}`. A worker that
dies during case i (signal or exit) records i as a crash with its exit
status and the tail of its stderr, and a new worker resumes at i + 1; a
case that outlives its timeout is killed and recorded as a hang.
"""

import json
import os
import queue
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _reader(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_module(module, timeouts, names):
    """Results of every case of `module` (`timeouts[i]`: case i's seconds)."""
    results = {}
    first = 0
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    while first < len(names):
        err = open(_errfile(module), "w+")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.robustness.worker", module, str(first)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        lines = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        current = None
        while True:
            # Between cases: the import of the module and TensorFlow.
            limit = 300.0 if current is None else timeouts[current]
            try:
                line = lines.get(timeout=limit)
            except queue.Empty:
                proc.kill()
                proc.wait()
                if current is None:
                    raise RuntimeError(
                        f"{module}: the worker did not start in {limit:.0f} s"
                    ) from None
                results[names[current]] = (False, f"hang: no result in {limit:.0f} s")
                first = current + 1
                break
            if line is None:  # the worker's stdout closed: it exited
                code = proc.wait()
                if current is None:  # between cases: the module or its imports failed
                    raise RuntimeError(
                        f"{module}: the worker exited ({code}) outside a case: {_tail(err)}"
                    )
                results[names[current]] = (
                    False,
                    f"crash: worker exited with {code} (negative: signal): {_tail(err)}",
                )
                first = current + 1
                break
            word, _, rest = line.strip().partition(" ")
            if word == "BEGIN":
                current = int(rest)
            elif word == "END":
                i, _, payload = rest.partition(" ")
                outcome = json.loads(payload)
                results[names[int(i)]] = (outcome["passed"], outcome["detail"])
                current = None
                first = int(i) + 1
            elif word == "DONE":
                proc.wait()
                first = len(names)
                break
        err.close()
    return results


def _errfile(module):
    path = os.path.join(ROOT, "build", "robustness")
    os.makedirs(path, exist_ok=True)
    return os.path.join(path, module.rsplit(".", 1)[-1] + ".stderr")


def _tail(err):
    err.flush()
    err.seek(0)
    text = err.read()
    return text[-1500:]
