"""Runs one case module's cases in order, a line per start and end.

    python -m tests.robustness.worker MODULE FIRST

prints `BEGIN i` before case i and `END i {"passed": .., "detail": ..}`
after it, flushing each line, from case FIRST on. The parent
(`tests.robustness.runner`) restarts it after the case that killed it.
"""

import importlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(module, first):
    # The protocol owns the real stdout; what the cases print goes to stderr.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    cases = importlib.import_module(module).CASES
    for i in range(first, len(cases)):
        out.write(f"BEGIN {i}\n")
        out.flush()
        passed, detail = cases[i].evaluate()
        out.write(f"END {i} {json.dumps({'passed': passed, 'detail': detail})}\n")
        out.flush()
    out.write("DONE\n")
    out.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
