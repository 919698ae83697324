"""Fixtures: a registry with the toy components (tests/core/toy_plugin.py) and our samplers."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))

import toy_plugin  # noqa: E402
from ldm_plugin_samplers import plugin as samplers_plugin  # noqa: E402

from ldmcore.registry import Registry  # noqa: E402


@pytest.fixture
def registry() -> Registry:
    return toy_plugin.toy_registry(samplers_plugin)


@pytest.fixture
def spec_dict() -> dict:
    spec = copy.deepcopy(toy_plugin.TOY_SPEC)
    spec["sampler"] = {"type": "ddim", "params": {"steps": 5}}
    spec["guider"] = {"type": "cfg", "params": {"scale": 2.0}}
    return spec
