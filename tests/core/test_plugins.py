"""Plugin loading: broken plugins are reported and skipped; a name collision rejects that one
registration, naming both distributions, with first-party names taking precedence."""

import types

import pytest

from ldmcore.errors import PluginError, SpecError
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
    loader.register_plugin(registry, plugin_registering("same", "other"),
                           PluginInfo("two", "dist-two", "1"))
    assert not registry.failures
    [conflict] = registry.conflicts
    assert conflict.kept.distribution == "dist-one" and conflict.rejected.distribution == "dist-two"
    msg = conflict.describe()
    assert "guider 'same'" in msg and "dist-one 1" in msg and "dist-two 1" in msg
    assert "first-party names take precedence" in msg
    # the second plugin keeps its other component; the name stays with the first
    assert registry.components["guider"]["same"].plugin.name == "one"
    assert registry.components["guider"]["other"].plugin.name == "two"


def test_third_party_sorting_first_cannot_take_a_first_party_name(fake_entry_points):
    """The reported failure: `aaa` (third-party) registers `bert_transformer`; before, the
    whole first-party conditioners plugin was dropped."""
    fake_entry_points(
        FakeEntryPoint("aaa", plugin_registering("bert_transformer", "mine", kind="conditioner"),
                       "ldm-plugin-evil"),
        FakeEntryPoint("conditioners", plugin_registering("bert_transformer", "layout_tokens",
                                                          kind="conditioner"),
                       "ldm-plugin-conditioners"),
    )
    with pytest.warns(loader.PluginWarning, match="ldm-plugin-evil.*rejected"):
        registry = loader.load_registry()
    assert not registry.failures
    assert {p.name for p in registry.plugins} == {"aaa", "conditioners"}
    comps = registry.components["conditioner"]
    assert comps["bert_transformer"].plugin.distribution == "ldm-plugin-conditioners"
    assert comps["layout_tokens"].plugin.name == "conditioners"
    assert comps["mine"].plugin.name == "aaa"
    [conflict] = registry.conflicts
    assert "ldm-plugin-evil" in conflict.describe()
    assert "ldm-plugin-conditioners" in conflict.describe()


def test_first_party_wins_whatever_the_registration_order():
    registry = Registry()
    loader.register_plugin(registry, plugin_registering("cfg"),
                           PluginInfo("x", "ldm-plugin-x", "1"))
    loader.register_plugin(registry, plugin_registering("cfg", "none"),
                           PluginInfo("samplers", "ldm-plugin-samplers", "0.1", first_party=True))
    assert registry.components["guider"]["cfg"].plugin.name == "samplers"
    assert registry.conflicts[0].rejected.name == "x"


def test_collision_in_strict_mode_raises_naming_both(fake_entry_points, monkeypatch):
    fake_entry_points(
        FakeEntryPoint("aaa", plugin_registering("cfg"), "ldm-plugin-evil"),
        FakeEntryPoint("samplers", plugin_registering("cfg"), "ldm-plugin-samplers"),
    )
    monkeypatch.setenv("LDMCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as err:
        loader.load_registry()
    assert "ldm-plugin-evil" in str(err.value) and "ldm-plugin-samplers" in str(err.value)


def test_same_plugin_registering_twice_is_its_failure():
    registry = Registry()
    loader.register_plugin(registry, plugin_registering("a", "a"), PluginInfo("p", "dist-p", "1"))
    assert "registers guider 'a' twice" in registry.failures[0].error


def test_disable_by_distribution_name_and_warn_on_unknown(fake_entry_points, monkeypatch):
    fake_entry_points(FakeEntryPoint("a", plugin_registering("ga"), "ldm-plugin-aa"),
                      FakeEntryPoint("b", plugin_registering("gb"), "LDM_Plugin.BB"))
    monkeypatch.setenv("LDMCORE_DISABLE_PLUGINS", "ldm-plugin-bb")
    registry = loader.load_registry()
    assert registry.names("guider") == ["ga"] and registry.disabled == ["b"]
    monkeypatch.setenv("LDMCORE_DISABLE_PLUGINS", "a, nosuch")
    with pytest.warns(loader.PluginWarning, match="no installed plugin or distribution named "
                                                  "nosuch") as caught:
        registry = loader.load_registry()
    assert caught[0].filename == "LDMCORE_DISABLE_PLUGINS"
    assert registry.names("guider") == ["gb"]


def test_unknown_type_mentions_failed_and_disabled_plugins(fake_entry_points, monkeypatch):
    fake_entry_points(FakeEntryPoint("good", plugin_registering("g1", kind="conditioner")),
                      FakeEntryPoint("bad", ImportError("no torch"), "ldm-plugin-bad"),
                      FakeEntryPoint("off", plugin_registering("g2", kind="conditioner")))
    monkeypatch.setenv("LDMCORE_DISABLE_PLUGINS", "off")
    registry = loader.load_registry()
    with pytest.raises(SpecError) as err:
        registry.get("conditioner", "layout_tokens", where="x.yaml: conditioners.l")
    msg = str(err.value)
    assert msg.startswith("x.yaml: conditioners.l: unknown conditioner type 'layout_tokens'")
    assert "'bad' (ldm-plugin-bad) failed to load and may provide it" in msg
    assert "disabled by LDMCORE_DISABLE_PLUGINS: off" in msg and "\n" not in msg
    clean = Registry()
    with pytest.raises(SpecError) as err:
        clean.get("guider", "x")
    assert "failed" not in str(err.value)


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
