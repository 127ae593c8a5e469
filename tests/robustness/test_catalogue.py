"""The bad-input catalogue, one pytest item per case (see catalogue.py).

Each case module runs once per session in worker subprocesses; a case
passes when its input gave the error it names (type and text) or, for
valid input, the right result, with no crash and no hang.
"""

import importlib

import pytest

from tests.robustness.catalogue import check_names
from tests.robustness.runner import run_module

MODULES = [
    "tests.robustness.cases_arrays",
    "tests.robustness.cases_arrays_tables",
    "tests.robustness.cases_tf_ops",
    "tests.robustness.cases_model",
    "tests.robustness.cases_model_calls",
    "tests.robustness.cases_cli",
    "tests.robustness.cases_io",
]


def _params():
    params = []
    for module in MODULES:
        cases = importlib.import_module(module).CASES
        for name in check_names(cases):
            params.append(pytest.param(module, name, id=name))
    return params


_results = {}


def _results_of(module):
    if module not in _results:
        cases = importlib.import_module(module).CASES
        _results[module] = run_module(module, [c.timeout for c in cases], check_names(cases))
    return _results[module]


def test_catalogue_size():
    """At least 359 classes of input (the count of the first probe)."""
    total = sum(len(importlib.import_module(m).CASES) for m in MODULES)
    assert total >= 359, total


@pytest.mark.parametrize("module,name", _params())
def test_case(module, name):
    passed, detail = _results_of(module)[name]
    assert passed, detail
