"""Builds ydnn's two native libraries.

* ``ydnn_kernels/_ydnn_tf_ops*.so``: the TensorFlow custom ops (CPU kernels
  always, CUDA kernels in a CUDA build), flags from ``tf.sysconfig``.
* ``ydnn_kernels/_ydnn_py*.so``: a pybind11 module exposing the same kernels
  on NumPy arrays and, in a CUDA build, on CuPy arrays.

Switches (environment variables):
  YDNN_CUDA=0|1       0 skips CUDA, 1 makes a missing nvcc an error; unset
                      builds CUDA kernels whenever nvcc is found.
  YDNN_TF=0|1         0 skips the TensorFlow op library (the TF-free build
                      used on machines without TensorFlow, e.g. the GPU box);
                      unset builds it when TensorFlow is importable.
  YDNN_CUDA_ARCHS     SASS targets, default "80;90" (+ PTX of the last).
  YDNN_NATIVE=1       adds -march=native (never in a default build: the
                      AVX2/AVX-512 paths are chosen at run time anyway).
  MAX_JOBS            parallel compile jobs (default: CPU count).
"""

import concurrent.futures
import glob
import hashlib
import os
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")


def _switch(name):
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("0", "false", "off", "no"):
        return False
    if value in ("1", "true", "on", "yes"):
        return True
    raise SystemExit(f"{name} must be 0, 1 or unset, got {value!r}")


def _find_nvcc():
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and os.path.exists(os.path.join(home, "bin", "nvcc")):
        return os.path.join(home, "bin", "nvcc")
    return shutil.which("nvcc")


def _tf_flags():
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return {
        "version": tf.__version__,
        "cflags": tf.sysconfig.get_compile_flags(),
        "lflags": tf.sysconfig.get_link_flags(),
    }


def _sources(pattern):
    return sorted(glob.glob(os.path.join(CSRC, pattern)))


CORE = _sources("common/*.cc") + [
    s
    for s in _sources("*/*.cc")
    if not s.startswith(os.path.join(CSRC, "tf"))
    and not s.startswith(os.path.join(CSRC, "py"))
    and not s.startswith(os.path.join(CSRC, "common"))
]
HEADERS = _sources("*/*.h") + _sources("*/*.cuh")
CUDA_SOURCES = _sources("*/*.cu")

WANT_CUDA = _switch("YDNN_CUDA")
NVCC = _find_nvcc() if WANT_CUDA is not False else None
if WANT_CUDA and NVCC is None:
    raise SystemExit("YDNN_CUDA=1 but nvcc was not found (set CUDA_HOME or PATH)")
WITH_CUDA = NVCC is not None

WANT_TF = _switch("YDNN_TF")
TF = _tf_flags() if WANT_TF is not False else None
if WANT_TF and TF is None:
    raise SystemExit("YDNN_TF=1 but tensorflow is not importable in the build env")

BASE_FLAGS = [
    "-std=c++17",
    "-O3",
    "-DNDEBUG",
    "-fvisibility=hidden",
    "-fno-math-errno",
    "-Wall",
    "-Wno-deprecated-declarations",
    "-Wno-sign-compare",
]
if _switch("YDNN_NATIVE"):
    BASE_FLAGS.append("-march=native")
if TF is not None:
    # Same C++ ABI as the TF wheel everywhere: Status/std::function cross
    # between the kernel objects and the TF adapter.
    BASE_FLAGS += [f for f in TF["cflags"] if f.startswith("-D_GLIBCXX_USE_CXX11_ABI")]
if WITH_CUDA:
    BASE_FLAGS.append("-DYDNN_WITH_CUDA=1")


def _cuda_lib_dir():
    """The folder holding libcudart_static.a (nvcc may be a wrapper script)."""
    homes = [
        os.environ.get("CUDA_HOME"),
        os.environ.get("CUDA_PATH"),
        os.path.dirname(os.path.dirname(os.path.realpath(NVCC))),
        "/usr/local/cuda",
    ]
    for home in filter(None, homes):
        for sub in ("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib"):
            if os.path.exists(os.path.join(home, sub, "libcudart_static.a")):
                return os.path.join(home, sub)
    raise SystemExit("found nvcc but not libcudart_static.a: set CUDA_HOME")


def _nvcc_version():
    out = subprocess.run([NVCC, "--version"], capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1] if out else "unknown"


def _git_commit():
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
            or "unknown"
        )
    except OSError:
        return "unknown"


class BuildExt(build_ext):
    """Compiles sources in parallel, CUDA once for both libraries."""

    def run(self):
        self._cuda_objects = None
        super().run()
        self._write_build_info()

    def _jobs(self):
        return int(os.environ.get("MAX_JOBS", os.cpu_count() or 1))

    def _compile_cuda(self):
        if self._cuda_objects is not None or not WITH_CUDA:
            return self._cuda_objects or []
        archs = os.environ.get("YDNN_CUDA_ARCHS", "80;90").replace(",", ";").split(";")
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
        gencode.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
        abi = [f for f in BASE_FLAGS if f.startswith("-D_GLIBCXX")]
        key = hashlib.sha1(" ".join(BASE_FLAGS + gencode).encode()).hexdigest()[:10]
        out_dir = os.path.join(self.build_temp, "cuda", key)
        os.makedirs(out_dir, exist_ok=True)

        def one(src):
            obj = os.path.join(out_dir, os.path.basename(src) + ".o")
            cmd = [
                NVCC,
                "-std=c++17",
                "-O3",
                "-DNDEBUG",
                "-DYDNN_WITH_CUDA=1",
                f"-I{CSRC}",
                "--expt-relaxed-constexpr",
                "-Xcompiler=-fPIC,-fvisibility=hidden",
                *abi,
                *gencode,
                "-c",
                src,
                "-o",
                obj,
            ]
            if _stale(obj, [src] + HEADERS):
                print(" ".join(cmd), flush=True)
                subprocess.check_call(cmd)
            return obj

        with concurrent.futures.ThreadPoolExecutor(self._jobs()) as pool:
            self._cuda_objects = list(pool.map(one, CUDA_SOURCES))
        return self._cuda_objects

    def build_extension(self, ext):
        flags = BASE_FLAGS + ext.extra_compile_args
        # Python's own -g / -O2 off (the flags above set the level): the
        # C++ command line is compiler_so_cxx in setuptools >= 72's distutils.
        for attr in ("compiler_so", "compiler_so_cxx"):
            if hasattr(self.compiler, attr):
                setattr(
                    self.compiler,
                    attr,
                    [f for f in getattr(self.compiler, attr) if f not in ("-g", "-O2")],
                )
        # Objects live under a hash of their flags, so switching YDNN_CUDA or
        # the TF version never links a stale object; within one flag set a
        # source is recompiled only when it or a header is newer.
        command = self.compiler.compiler_so + getattr(self.compiler, "compiler_so_cxx", [])
        key = hashlib.sha1(" ".join(command + flags).encode()).hexdigest()[:10]
        out_dir = os.path.join(self.build_temp, ext.name.split(".")[-1], key)

        def one(src):
            obj = self.compiler.object_filenames([src], output_dir=out_dir)[0]
            if not _stale(obj, [src] + HEADERS):
                return obj
            return self.compiler.compile(
                [src], output_dir=out_dir, include_dirs=ext.include_dirs, extra_postargs=flags
            )[0]

        with concurrent.futures.ThreadPoolExecutor(self._jobs()) as pool:
            objects = list(pool.map(one, ext.sources))
        objects += self._compile_cuda()
        link = list(ext.extra_link_args)
        if WITH_CUDA:
            # Static cudart, symbols hidden: our CUDA 13 runtime must not
            # interpose on (or be interposed by) the cu12 runtime TF loads.
            link = [
                f"-L{_cuda_lib_dir()}",
                "-lcudart_static",
                "-ldl",
                "-lrt",
                "-lpthread",
                "-Wl,--exclude-libs,libcudart_static.a",
            ] + link
        self.compiler.link_shared_object(
            objects, self.get_ext_fullpath(ext.name), extra_postargs=link, target_lang="c++"
        )

    def _write_build_info(self):
        info = {
            "TF_VERSION": TF["version"] if TF else None,
            "WITH_TF": TF is not None,
            "WITH_CUDA": WITH_CUDA,
            "NVCC": _nvcc_version() if WITH_CUDA else None,
            "CUDA_ARCHS": os.environ.get("YDNN_CUDA_ARCHS", "80;90") if WITH_CUDA else None,
            "CXX_FLAGS": " ".join(BASE_FLAGS),
            "COMMIT": _git_commit(),
        }
        text = '"""Written by setup.py at build time: what this build contains."""\n\n'
        text += "".join(f"{k} = {v!r}\n" for k, v in info.items())
        targets = [os.path.join(self.build_lib, "ydnn_kernels", "_build_info.py")]
        if self.inplace:
            targets.append(os.path.join(ROOT, "ydnn_kernels", "_build_info.py"))
        for path in targets:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)


def _stale(target, deps):
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(d) > t for d in deps)


def _extensions():
    import pybind11

    exts = [
        Extension(
            "ydnn_kernels._ydnn_py",
            CORE + _sources("py/*.cc"),
            include_dirs=[CSRC, pybind11.get_include()],
            language="c++",
        )
    ]
    if TF is not None:
        tf_cflags = [f for f in TF["cflags"] if not f.startswith("--std")]
        tf_cflags.append("-Wno-interference-size")  # Eigen headers, not ours
        exts.append(
            Extension(
                "ydnn_kernels._ydnn_tf_ops",
                CORE + _sources("tf/*.cc"),
                include_dirs=[CSRC],
                extra_compile_args=tf_cflags,
                extra_link_args=TF["lflags"],
                language="c++",
            )
        )
    return exts


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
