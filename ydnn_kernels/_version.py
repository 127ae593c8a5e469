"""The package version, in one place: pyproject.toml reads it (setuptools
`dynamic`), and `ydnn.__version__` and `ydnn_kernels.__version__` are it."""

__version__ = "0.1.0"
