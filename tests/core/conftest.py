import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import toy_plugin  # noqa: E402

from ldmcore.registry import Registry  # noqa: E402


@pytest.fixture
def registry() -> Registry:
    """A registry holding only the toy plugin (registered as a fixture, not installed)."""
    return toy_plugin.toy_registry()


@pytest.fixture
def spec_dict() -> dict:
    return copy.deepcopy(toy_plugin.TOY_SPEC)
