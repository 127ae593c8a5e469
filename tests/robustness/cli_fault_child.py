"""`ydnn` that signals itself at a chosen point of the model directory's save.

    python -m tests.robustness.cli_fault_child SIGNAL POINT=DIR [POINT=DIR ...] -- ARGV...

For each POINT=DIR, runs `ydnn.cli.main(ARGV)` with `{out}` in ARGV replaced
by DIR, and sends SIGNAL (SIGKILL, SIGINT) to this process when the save
reaches POINT (`ydnn.atomic_dir.fault_hook`; "never" runs to the end).
After each run that returns, prints one JSON line `{"point", "status"}`.
SIGKILL ends the process at its first point, so it takes one pair.
"""

import json
import os
import signal
import sys


def main(argv):
    split = argv.index("--")
    sig = getattr(signal, argv[0])
    pairs = [item.split("=", 1) for item in argv[1:split]]
    template = argv[split + 1 :]

    from ydnn import atomic_dir
    from ydnn.cli import main as ydnn_main

    for point, out in pairs:

        def hook(reached, point=point):
            if reached == point:
                os.kill(os.getpid(), sig)

        atomic_dir.fault_hook = hook
        status = ydnn_main([out if a == "{out}" else a for a in template])
        print(json.dumps({"point": point, "status": status}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
