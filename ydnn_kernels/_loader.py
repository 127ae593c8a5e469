"""Finds and loads ydnn's native libraries, checking they fit this install."""

import glob
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
REBUILD_HINT = (
    "Rebuild ydnn from its source tree with the TensorFlow you have now: "
    "`pip install --no-build-isolation --force-reinstall --no-deps .` "
    "(or `make build` for an in-place build)."
)


def _find(stem):
    paths = sorted(glob.glob(os.path.join(_HERE, stem + "*.so")))
    return paths[0] if paths else None


def build_info():
    """What this build contains: a dict of the values setup.py recorded.

    Raises:
        ImportError: if the package was never built.
    """
    try:
        from ydnn_kernels import _build_info
    except ImportError as e:
        raise ImportError(
            "ydnn_kernels has no compiled libraries: install it with "
            "`pip install .` or build in place with `make build`."
        ) from e
    return {k: v for k, v in vars(_build_info).items() if k.isupper()}


def installed_tf_version():
    """TensorFlow's version from package metadata (no TF import), or None."""
    from importlib import metadata

    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_tf_version(installed=None):
    """Fails if the TF op library was built for another TensorFlow.

    Args:
        installed: the TensorFlow version to check against; default: the
            installed one. Nothing is checked when TensorFlow is absent or
            the build has no TF ops (TF-free use through `ydnn_kernels.arrays`).

    Raises:
        ImportError: naming both versions and how to rebuild.
    """
    info = build_info()
    installed = installed or installed_tf_version()
    if installed is None or not info["WITH_TF"]:
        return
    if info["TF_VERSION"] != installed:
        raise ImportError(
            f"ydnn_kernels was built against TensorFlow {info['TF_VERSION']} but "
            f"TensorFlow {installed} is installed; its custom ops are tied to the "
            "TF version they were compiled for. " + REBUILD_HINT
        )


def load_tf_ops():
    """Loads the TensorFlow op library after checking the TF version.

    Returns:
        The module object returned by `tf.load_op_library`.

    Raises:
        ImportError: if the library is missing or was built against another
            TensorFlow version (custom ops are tied to TF's C++ ABI).
    """
    import tensorflow as tf

    info = build_info()
    if not info["WITH_TF"]:
        raise ImportError(
            "ydnn_kernels was built without its TensorFlow ops (YDNN_TF=0). " + REBUILD_HINT
        )
    check_tf_version(tf.__version__)
    path = _find("_ydnn_tf_ops")
    if path is None:
        raise ImportError("ydnn_kernels/_ydnn_tf_ops*.so is missing. " + REBUILD_HINT)
    return tf.load_op_library(path)


def load_py_module():
    """Imports the TF-free pybind11 module (NumPy and CUDA-array kernels)."""
    from ydnn_kernels import _ydnn_py

    return _ydnn_py
