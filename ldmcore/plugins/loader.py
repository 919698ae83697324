"""Load plugins from entry points (group `ldmcore`) into a Registry.

One broken plugin is reported and skipped unless LDMCORE_STRICT_PLUGINS=1; plugins named in
LDMCORE_DISABLE_PLUGINS (comma-separated entry-point names) are not loaded at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

import pluggy

from ..errors import PluginError
from ..registry import PluginFailure, PluginInfo, Registry
from . import hookspecs

GROUP = "ldmcore"


def _strict() -> bool:
    return os.environ.get("LDMCORE_STRICT_PLUGINS", "") not in ("", "0", "false")


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get("LDMCORE_DISABLE_PLUGINS", "").split(",") if n}


def _fail(registry: Registry, info: PluginInfo, exc: BaseException) -> None:
    error = f"{type(exc).__name__}: {exc}"
    failure = PluginFailure(info.name, info.distribution, info.version, error)
    if _strict():
        raise PluginError(failure.describe()) from exc
    registry.failures.append(failure)


def register_plugin(registry: Registry, plugin: Any, info: PluginInfo) -> None:
    """Run one plugin object's hook into `registry` (also how tests register a fixture plugin)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    staged = Registry()  # register into a scratch registry first: all or nothing per plugin
    staged.components = {k: dict(v) for k, v in registry.components.items()}
    try:
        pm.register(plugin, name=info.name)
        pm.check_pending()
        pm.hook.ldmcore_register_components(register=staged.register_callback(info))
    except Exception as exc:  # noqa: BLE001 - any plugin error is reported, not fatal
        _fail(registry, info, exc)
        return
    registry.components = staged.components
    registry.spec_cache = None
    registry.plugins.append(info)


def _entry_points() -> Iterable[Any]:
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def load_registry() -> Registry:
    """A fresh registry with every installed, enabled plugin loaded."""
    registry = Registry()
    disabled = _disabled()
    for ep in _entry_points():
        if ep.name in disabled:
            continue
        dist = ep.dist
        info = PluginInfo(
            ep.name,
            dist.metadata["Name"] if dist else "?",
            dist.version if dist else "?",
        )
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - an import error is a plugin failure
            _fail(registry, info, exc)
            continue
        register_plugin(registry, plugin, info)
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (loaded once)."""
    return load_registry()
