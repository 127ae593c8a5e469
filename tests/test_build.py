"""What the build promises: the TF version it targets is recorded and
enforced, no -march=native in a default build, and a CUDA build carries its
CUDA runtime privately (static, symbols hidden from TF's own runtime), and the
kernels format their error messages without iostreams."""

import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from ydnn_kernels import _loader, build_info


def test_build_records_the_tensorflow_it_targets():
    info = build_info()
    assert info["WITH_TF"] and info["TF_VERSION"] == tf.__version__


def test_other_tensorflow_version_is_refused_with_rebuild_hint():
    with pytest.raises(ImportError) as err:
        _loader.check_tf_version("2.20.0")
    msg = str(err.value)
    assert f"built against TensorFlow {tf.__version__}" in msg
    assert "TensorFlow 2.20.0 is installed" in msg
    assert "pip install --no-build-isolation --force-reinstall --no-deps ." in msg


def test_import_fails_under_another_tensorflow(tmp_path):
    # A fresh interpreter whose package metadata reports another TF version.
    code = (
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda d: '2.99.0' if d == 'tensorflow' else real(d)\n"
        "import ydnn_kernels\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode != 0
    assert "TensorFlow 2.99.0 is installed" in res.stderr


def test_default_build_is_portable():
    assert "-march=native" not in build_info()["CXX_FLAGS"]


@pytest.mark.skipif(not build_info()["WITH_CUDA"], reason="CPU-only build")
@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf not available")
@pytest.mark.parametrize("stem", ["_ydnn_tf_ops", "_ydnn_py"])
def test_cuda_runtime_is_static_and_hidden(stem):
    path = _loader._find(stem)
    dynamic = subprocess.run(["readelf", "-d", "-W", path], capture_output=True, text=True).stdout
    assert "libcudart" not in dynamic, "cudart must be linked statically"
    exported = subprocess.run(
        ["readelf", "--dyn-syms", "-W", path], capture_output=True, text=True
    ).stdout
    defined = [line for line in exported.splitlines() if " UND " not in line]
    assert not any(" cudaMalloc" in line or " cudaLaunchKernel" in line for line in defined), (
        "CUDA runtime symbols must not be exported (they would clash with TF's runtime)"
    )


def test_kernels_build_messages_without_iostreams():
    # On the GPU box the compiler (a /opt/gcc g++ wrapper) links libstdc++
    # statically into _ydnn_py, and there formatting a number through an
    # ostringstream segfaulted in its locale facets: every bad-input error
    # crashed instead of raising. Messages go through StrCat (status.h).
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc")
    offenders = []
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name)) as f:
                text = f.read()
            for needle in (
                "<sstream>",
                "<iostream>",
                "<ostream>",
                "stringstream",
                "std::cout",
                "std::cerr",
            ):
                if needle in text:
                    offenders.append(
                        f"{os.path.relpath(os.path.join(folder, name), root)}: {needle}"
                    )
    assert not offenders, offenders
