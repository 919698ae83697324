"""Fixtures: a registry with the toy components (tests/core/toy_plugin.py) and our samplers."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))

import toy_plugin  # noqa: E402
from ldm_plugin_samplers import plugin as samplers_plugin  # noqa: E402

from ldmcore.plugins.loader import register_plugin  # noqa: E402
from ldmcore.registry import PluginInfo, Registry  # noqa: E402


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    register_plugin(reg, toy_plugin, PluginInfo("toy", "ldm-plugin-toy", "0.0"))
    register_plugin(reg, samplers_plugin, PluginInfo("samplers", "ldm-plugin-samplers", "0.1.0"))
    assert not reg.failures, reg.failures
    return reg


@pytest.fixture
def spec_dict() -> dict:
    spec = copy.deepcopy(toy_plugin.TOY_SPEC)
    spec["sampler"] = {"type": "ddim", "params": {"steps": 5}}
    spec["guider"] = {"type": "cfg", "params": {"scale": 2.0}}
    return spec
