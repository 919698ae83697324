import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import toy_plugin  # noqa: E402

from ldmcore.plugins.loader import register_plugin  # noqa: E402
from ldmcore.registry import PluginInfo, Registry  # noqa: E402


@pytest.fixture
def registry() -> Registry:
    """A registry holding only the toy plugin (registered as a fixture, not installed)."""
    reg = Registry()
    register_plugin(reg, toy_plugin, PluginInfo("toy", "ldm-plugin-toy", "0.0"))
    assert not reg.failures, reg.failures
    return reg


@pytest.fixture
def spec_dict() -> dict:
    return copy.deepcopy(toy_plugin.TOY_SPEC)
