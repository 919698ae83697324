"""Plugin loading: broken plugins are reported and skipped, duplicates name both sides."""

import types

import pytest

from ldmcore.errors import PluginError
from ldmcore.params import Params
from ldmcore.plugins import hookimpl, loader
from ldmcore.registry import PluginInfo, Registry


def plugin_registering(*names, kind="guider"):
    class Plugin:
        @hookimpl
        def ldmcore_register_components(self, register):
            for name in names:
                register(kind, name, Params, lambda p, ctx: None)

    return Plugin()


class FakeEntryPoint:
    def __init__(self, name, target, dist="ldm-plugin-fake"):
        self.name, self._target = name, target
        self.dist = types.SimpleNamespace(metadata={"Name": dist}, version="1.2.3")

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def fake_entry_points(monkeypatch):
    def install(*eps):
        monkeypatch.setattr(loader, "_entry_points", lambda: list(eps))

    return install


def test_broken_plugin_is_reported_and_others_load(fake_entry_points):
    fake_entry_points(
        FakeEntryPoint("good", plugin_registering("g1")),
        FakeEntryPoint("bad", ImportError("No module named 'missing_dep'"), "ldm-plugin-bad"),
    )
    registry = loader.load_registry()
    assert registry.names("guider") == ["g1"]
    [failure] = registry.failures
    assert failure.describe() == (
        "plugin 'bad' (ldm-plugin-bad 1.2.3) failed: ImportError: No module named 'missing_dep'"
    )


def test_strict_mode_raises(fake_entry_points, monkeypatch):
    fake_entry_points(FakeEntryPoint("bad", RuntimeError("boom")))
    monkeypatch.setenv("LDMCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="plugin 'bad'.*boom"):
        loader.load_registry()


def test_disabled_plugins_are_not_loaded(fake_entry_points, monkeypatch):
    fake_entry_points(FakeEntryPoint("a", plugin_registering("ga")),
                      FakeEntryPoint("b", RuntimeError("never imported")))
    monkeypatch.setenv("LDMCORE_DISABLE_PLUGINS", "b")
    registry = loader.load_registry()
    assert registry.names("guider") == ["ga"] and not registry.failures


def test_duplicate_component_names_both_distributions():
    registry = Registry()
    loader.register_plugin(registry, plugin_registering("same"), PluginInfo("one", "dist-one", "1"))
    loader.register_plugin(registry, plugin_registering("same"), PluginInfo("two", "dist-two", "1"))
    [failure] = registry.failures
    assert "duplicate guider 'same'" in failure.error
    assert "dist-one" in failure.error and "dist-two" in failure.error


def test_failed_plugin_registers_nothing():
    class HalfBroken:
        @hookimpl
        def ldmcore_register_components(self, register):
            register("guider", "first", Params, lambda p, ctx: None)
            raise ValueError("second registration failed")

    registry = Registry()
    loader.register_plugin(registry, HalfBroken(), PluginInfo("half", "dist-half", "1"))
    assert registry.names("guider") == []
    assert registry.failures and registry.plugins == []


def test_unknown_kind_is_a_plugin_failure():
    registry = Registry()
    loader.register_plugin(registry, plugin_registering("x", kind="widget"),
                           PluginInfo("w", "dist-w", "1"))
    assert "unknown kind 'widget'" in registry.failures[0].error


def test_hook_with_unknown_argument_fails_check_pending():
    class Wrong:
        @hookimpl
        def ldmcore_register_components(self, register, not_a_hook_arg):
            pass

    registry = Registry()
    loader.register_plugin(registry, Wrong(), PluginInfo("wrong", "dist-wrong", "1"))
    assert registry.failures and "not_a_hook_arg" in registry.failures[0].error
