"""The bad-input catalogue: cases as data, run in a worker subprocess.

A case is one input given to one public entry point (arrays API, TF op,
Keras model, command line) and what must come of it: a clear error (the
exception type and a regex its message must match, which names the argument)
or, for valid input, a result that `check` accepts. Cases of one module run
in order in a worker process (`tests.robustness.worker`); the parent reads
a line as each case starts and ends, so a case that kills the worker
(SIGSEGV, abort) or outlives its timeout is recorded as a crash or a hang of
that case, and a new worker carries on with the next one. One TensorFlow
import serves a whole module.

Example:

```python
CASES = [
    Case("arrays/embedding_pool/ids-float", lambda: embedding_pool(t, np.ones((2, 3))),
         raises=ValueError, match=r"ids must be int32 or int64, got float64"),
    Case("arrays/embedding_pool/read-only-table", lambda: embedding_pool(ro, ids),
         check=lambda out: np.testing.assert_allclose(out, expected)),
]
```
"""

import dataclasses
import re
from typing import Any, Callable, Optional


@dataclasses.dataclass(frozen=True)
class Case:
    """One input and what must come of it.

    Attributes:
        name: unique, `surface/entry/what` (the pytest id).
        run: takes no argument; returns the result.
        raises: exception type (or tuple) a bad input must raise; None for
            valid input.
        match: regex searched (re.S) in `str(exception)`; required with
            `raises`, so every error's text is pinned.
        check: for valid input, called with the result; raises
            AssertionError when it is wrong. None: any return is right.
        timeout: seconds before the case counts as a hang.
    """

    name: str
    run: Callable[[], Any]
    raises: Any = None
    match: Optional[str] = None
    check: Optional[Callable[[Any], None]] = None
    timeout: float = 120.0

    def __post_init__(self):
        if self.raises is not None and not self.match:
            raise ValueError(f"case {self.name}: an expected error needs `match`")
        if self.raises is not None and self.check is not None:
            raise ValueError(f"case {self.name}: `check` is for valid input only")

    def evaluate(self):
        """(passed, detail): runs the case in this process."""
        try:
            result = self.run()
        except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt are findings too
            text = f"{type(e).__name__}: {e}"
            if self.raises is None:
                return False, f"valid input refused: {text}"[:2000]
            if not isinstance(e, self.raises):
                return False, f"expected {_names(self.raises)}, got {text}"[:2000]
            if not re.search(self.match, str(e), re.S):
                return False, f"message does not match {self.match!r}: {text}"[:2000]
            return True, text[:2000]
        if self.raises is not None:
            return False, f"expected {_names(self.raises)}, got a result: {_short(result)}"
        if self.check is not None:
            try:
                self.check(result)
            except AssertionError as e:
                return False, f"wrong result: {e}"[:2000]
        return True, "ok"


def _names(types):
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def _short(value):
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."


def check_names(cases):
    """The cases' names, which must be unique (they are the pytest ids)."""
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate case names: {dup}")
    return names
