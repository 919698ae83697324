"""Fixtures of the trainer's tests: a registry holding the test-local toy plugin."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def load_toys():
    if "ldm_train_toys" not in sys.modules:
        spec = importlib.util.spec_from_file_location("ldm_train_toys", HERE / "train_toys.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["ldm_train_toys"] = module
        spec.loader.exec_module(module)
    return sys.modules["ldm_train_toys"]


@pytest.fixture
def toys():
    return load_toys()


@pytest.fixture
def registry(toys):
    return toys.make_registry()
