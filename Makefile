# ydnn developer entry points. Each target installs what it needs into .venv.
#   make test    build (CPU kernels always, CUDA kernels when nvcc is found) and run the tests
#   make lint    ruff (lint + format check), clang-format check of csrc/, mypy of the public API
#   make format  apply ruff format and clang-format
#   make demo    train + evaluate on a synthetic log, next to the most-popular baseline
#   make bench   the fused-vs-stock benchmarks, rewriting bench/RESULTS.md sections
#   make bench-quick   the same, short (about two minutes), into build/RESULTS-quick.md
#   make bench-pytest  pytest-benchmark entries per op (compare across commits)
#   make gpu-build  the TF-free CUDA module only (what bench/gpu/run.sh does on a GPU box)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.ydnn-deps

.PHONY: all build test lint format demo bench bench-quick bench-pytest gpu-build clean

all: test

# Build, run and test dependencies, read from pyproject.toml (its one list):
# the build requirements, the dependencies and the `test` extra. TensorFlow is
# pinned there to the minor version the op library targets (custom ops are
# tied to TF's C++ ABI). The package itself is built in place, not installed.
REQUIREMENTS := build/requirements.txt
$(DEPS): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	mkdir -p build
	$(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
		print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"] + \
		p["project"]["optional-dependencies"]["test"]))' > $(REQUIREMENTS)
	$(PY) -m pip install -q -r $(REQUIREMENTS)
	touch $@

# In-place incremental build: objects are cached under build/ by flag hash.
build: $(DEPS)
	$(PY) setup.py -q build_ext --inplace

# Lint tools, from pyproject's `lint` extra (pinned: a new release would
# change what "formatted" means under everyone's feet).
LINT_DEPS := $(VENV)/.ydnn-lint
$(LINT_DEPS): pyproject.toml $(DEPS)
	$(PY) -c 'import tomllib; \
		print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["lint"]))' \
		> build/requirements-lint.txt
	$(PY) -m pip install -q -r build/requirements-lint.txt
	touch $@

CXX_FILES = $(shell git ls-files 'csrc/*.h' 'csrc/*.cc' 'csrc/*.cu' 'csrc/*.cuh')

lint: $(LINT_DEPS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/clang-format --dry-run --Werror $(CXX_FILES)
	$(VENV)/bin/mypy

format: $(LINT_DEPS)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/clang-format -i $(CXX_FILES)

test: build
	$(PY) -m pytest tests -q

# About a minute on 2 cores: 144k training examples, 4 epochs, then the saved
# model is evaluated again from its directory (the round trip a user makes).
DEMO_DIR ?= build/demo-model
demo: build
	$(PY) -m ydnn train --synthetic --out $(DEMO_DIR) --overwrite
	$(PY) -m ydnn evaluate --model $(DEMO_DIR)

bench: build
	$(PY) -m pip install -q matplotlib
	$(PY) -m bench --results bench/RESULTS.md

bench-quick: build
	$(PY) -m pip install -q matplotlib
	$(PY) -m bench --quick

bench-pytest: build
	$(PY) -m pytest bench/test_pytest_benchmarks.py --benchmark-only \
		--benchmark-group-by=group --benchmark-columns=min,median,max,rounds

gpu-build:
	YDNN_TF=0 YDNN_CUDA=1 $(PYTHON) setup.py -q build_ext --inplace

clean:
	rm -rf build ydnn_kernels/*.so ydnn_kernels/_build_info.py
