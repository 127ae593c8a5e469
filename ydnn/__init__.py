"""ydnn: YouTube-DNN retrieval on Keras 3, on the fused kernels of ydnn_kernels.

`import ydnn` loads the layers and the model, which registers them with
Keras, so `keras.models.load_model` finds them after a bare `import ydnn`
(as Merlin's import does for its classes). The one exception is the `ydnn`
command itself (console script or `python -m ydnn`): there the names load
on first use (PEP 562), so `ydnn --help` and argument errors answer without
importing TensorFlow, and the commands import what they need.
"""

import importlib
import os
import sys

from ydnn_kernels._version import __version__ as __version__

_SUBMODULES = ("data", "io", "metrics", "optimizers", "presets", "transforms")
_NAMES = {
    "BackupAndRestore": "ydnn.backup_and_restore",
    "Dataset": "ydnn.io",
    "Loader": "ydnn.io",
    "InputBlock": "ydnn.layers",
    "L2Norm": "ydnn.layers",
    "MLPBlock": "ydnn.layers",
    "TopKEncoder": "ydnn.model",
    "YoutubeDNNRetrievalModelV2": "ydnn.model",
    "ColumnSchema": "ydnn.schema",
    "Schema": "ydnn.schema",
    "Tags": "ydnn.schema",
    "SequencePredictLast": "ydnn.transforms",
    "SequencePredictRandom": "ydnn.transforms",
}

__all__ = [
    "BackupAndRestore",
    "ColumnSchema",
    "Dataset",
    "InputBlock",
    "L2Norm",
    "Loader",
    "MLPBlock",
    "Schema",
    "SequencePredictLast",
    "SequencePredictRandom",
    "Tags",
    "TopKEncoder",
    "YoutubeDNNRetrievalModelV2",
    "data",
    "io",
    "metrics",
    "optimizers",
    "presets",
    "transforms",
]


def __getattr__(name):
    if name in _SUBMODULES:
        value = importlib.import_module(f"ydnn.{name}")
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'ydnn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _started_as_the_command():
    """True while this package is imported to run the `ydnn` command: the
    console script's argv[0] is the `ydnn` executable, and `python -m ydnn`
    imports the package while argv[0] is still "-m" (see `python -m`)."""
    first = sys.argv[0] if getattr(sys, "argv", None) else ""
    return first == "-m" or os.path.splitext(os.path.basename(first))[0] == "ydnn"


if not _started_as_the_command():
    for _name in __all__:
        __getattr__(_name)
