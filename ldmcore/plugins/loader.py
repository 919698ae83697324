"""Load plugins from entry points (group `ldmcore`) into a Registry.

One broken plugin is reported and skipped unless LDMCORE_STRICT_PLUGINS=1; plugins named in
LDMCORE_DISABLE_PLUGINS (comma-separated entry-point or distribution names) are not loaded at
all, and a name there that matches no installed plugin is warned about.

Precedence (registry.PRECEDENCE): ldmcore's own distributions load first and keep their names;
a third-party registration of a name already taken is rejected (that registration only: the
plugin's other components load) and listed by `ldm plugins`, naming both distributions.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

import pluggy

from ..errors import PluginError
from ..registry import PluginFailure, PluginInfo, Registry
from . import hookspecs

GROUP = "ldmcore"

#: ldmcore's first-party plugin distributions (plugins/ in its repository)
FIRST_PARTY = frozenset({
    "ldm-plugin-autoencoders", "ldm-plugin-conditioners", "ldm-plugin-data",
    "ldm-plugin-metrics", "ldm-plugin-samplers", "ldm-plugin-shapes", "ldm-plugin-tasks",
    "ldm-plugin-unet",
})


class PluginWarning(UserWarning):
    """A plugin setting that does nothing (an unknown name in LDMCORE_DISABLE_PLUGINS)."""


def normalise(name: str) -> str:
    """PEP 503 name normalisation: `LDM_Plugin.Mine` -> `ldm-plugin-mine`."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def is_first_party(distribution: str) -> bool:
    return normalise(distribution) in FIRST_PARTY


def _strict() -> bool:
    return os.environ.get("LDMCORE_STRICT_PLUGINS", "") not in ("", "0", "false")


def _disabled() -> set[str]:
    raw = os.environ.get("LDMCORE_DISABLE_PLUGINS", "").split(",")
    return {normalise(n) for n in raw if n.strip()}


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
        if staged.conflicts and _strict():
            raise PluginError(staged.conflicts[0].describe())
    except Exception as exc:  # noqa: BLE001 - any plugin error is reported, not fatal
        _fail(registry, info, exc)
        return
    registry.components = staged.components
    registry.conflicts += staged.conflicts
    registry.spec_cache = None
    registry.plugins.append(info)


def _entry_points() -> Iterable[Any]:
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def _dist_name(ep: Any) -> str:
    return ep.dist.metadata["Name"] if ep.dist else "?"


def _load_order(eps: Iterable[Any]) -> list[Any]:
    """First-party plugins first (their names take precedence), each group by name."""
    return sorted(eps, key=lambda ep: (not is_first_party(_dist_name(ep)), ep.name))


def load_registry() -> Registry:
    """A fresh registry with every installed, enabled plugin loaded."""
    registry = Registry()
    disabled = _disabled()
    eps = _load_order(_entry_points())
    known = {normalise(ep.name) for ep in eps} | {normalise(_dist_name(ep)) for ep in eps}
    unknown = sorted(disabled - known)
    if unknown:
        # one line on stderr ("LDMCORE_DISABLE_PLUGINS:0: PluginWarning: ..."), no source line
        warnings.warn_explicit(
            f"no installed plugin or distribution named {', '.join(unknown)} (installed: "
            f"{', '.join(sorted(ep.name for ep in eps)) or 'none'})",
            PluginWarning, "LDMCORE_DISABLE_PLUGINS", 0, module=__name__)
    for ep in eps:
        if normalise(ep.name) in disabled or normalise(_dist_name(ep)) in disabled:
            registry.disabled.append(ep.name)
            continue
        dist = ep.dist
        info = PluginInfo(
            ep.name,
            _dist_name(ep),
            dist.version if dist else "?",
            first_party=is_first_party(_dist_name(ep)),
        )
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - an import error is a plugin failure
            _fail(registry, info, exc)
            continue
        register_plugin(registry, plugin, info)
    for conflict in registry.conflicts:  # one line each; `ldm plugins` lists them too
        where = f"plugin {conflict.rejected.name}"
        warnings.warn_explicit(conflict.describe(), PluginWarning, where, 0, module=__name__)
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (loaded once)."""
    return load_registry()
