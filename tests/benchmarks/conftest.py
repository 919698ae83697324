"""Benchmark smoke tests import their script (benchmarks/*.py is not a package)."""

from __future__ import annotations

import importlib.util
import sys

import pytest


@pytest.fixture(scope="module")
def bench(request):
    """The script the test module names in its SCRIPT path, imported once per module."""
    path = request.module.SCRIPT
    spec = importlib.util.spec_from_file_location(f"{path.stem}_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
