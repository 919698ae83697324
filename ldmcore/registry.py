"""The component registry: (kind, name) -> params model + factory + the plugin that gave it.

Pure bookkeeping; loading plugins into it is ldmcore.plugins.loader's job. No torch here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .errors import PluginError, SpecError

KINDS = (
    "first_stage",
    "conditioner",
    "denoiser",
    "scheduler",
    "guider",
    "task",
    "dataset",
    "evaluator",
)

#: factory(params, ctx) -> component; ctx is an ldmcore.builder.BuildContext
Factory = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str
    #: one of ldmcore's own distributions (plugins/ in its repository): its names take
    #: precedence over any third-party registration of the same kind and name
    first_party: bool = False

    def label(self) -> str:
        return f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class PluginFailure:
    name: str
    distribution: str
    version: str
    error: str

    def describe(self) -> str:
        return f"plugin '{self.name}' ({self.distribution} {self.version}) failed: {self.error}"


@dataclass(frozen=True)
class PluginConflict:
    """A registration refused because another plugin holds the name (see PRECEDENCE)."""

    kind: str
    name: str
    kept: PluginInfo
    rejected: PluginInfo

    def describe(self) -> str:
        return (f"{self.kind} '{self.name}' of plugin '{self.rejected.name}' "
                f"({self.rejected.label()}) rejected: the name is registered by "
                f"{self.kept.label()}; {PRECEDENCE}")


PRECEDENCE = ("first-party names take precedence over third-party ones, and among "
              "third-party plugins the first by entry-point name keeps it")


@dataclass(frozen=True)
class ComponentInfo:
    kind: str
    name: str
    params_model: type[BaseModel]
    factory: Factory
    plugin: PluginInfo
    description: str = ""


@dataclass
class Registry:
    components: dict[str, dict[str, ComponentInfo]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    conflicts: list[PluginConflict] = field(default_factory=list)
    #: entry-point names skipped by LDMCORE_DISABLE_PLUGINS
    disabled: list[str] = field(default_factory=list)
    #: the Spec model built from these components (ldmcore.spec.models); reset on change
    spec_cache: Any = field(default=None, repr=False, compare=False)

    def register_callback(self, plugin: PluginInfo) -> Callable[..., None]:
        """The `register` a plugin's hook receives, bound to that plugin."""

        def register(
            kind: str,
            name: str,
            params_model: type[BaseModel],
            factory: Factory,
            *,
            description: str = "",
        ) -> None:
            self.add(ComponentInfo(kind, name, params_model, factory, plugin, description))

        return register

    def add(self, info: ComponentInfo) -> None:
        if info.kind not in KINDS:
            raise PluginError(
                f"plugin '{info.plugin.name}' registers unknown kind '{info.kind}' "
                f"(kinds: {', '.join(KINDS)})"
            )
        if not (isinstance(info.params_model, type) and issubclass(info.params_model, BaseModel)):
            raise PluginError(
                f"plugin '{info.plugin.name}': {info.kind} '{info.name}' params must be a "
                "pydantic model class"
            )
        existing = self.components[info.kind].get(info.name)
        if existing is not None:
            if existing.plugin == info.plugin:
                raise PluginError(f"plugin '{info.plugin.name}' registers {info.kind} "
                                  f"'{info.name}' twice")
            if not (info.plugin.first_party and not existing.plugin.first_party):
                # the registration only: the plugin's other components stay
                self.conflicts.append(PluginConflict(info.kind, info.name, existing.plugin,
                                                     info.plugin))
                return
            self.conflicts.append(PluginConflict(info.kind, info.name, info.plugin,
                                                 existing.plugin))
        self.components[info.kind][info.name] = info
        self.spec_cache = None

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def get(self, kind: str, name: str, *, where: str = "") -> ComponentInfo:
        try:
            return self.components[kind][name]
        except KeyError:
            known = ", ".join(self.names(kind)) or "none installed"
            prefix = f"{where}: " if where else ""
            raise SpecError(f"{prefix}unknown {kind} type '{name}' (known: {known})"
                            f"{self._maybe_missing()}") from None

    def _maybe_missing(self) -> str:
        """Why a name may be missing: plugins that failed to load or were disabled."""
        parts = []
        if self.failures:
            failed = ", ".join(f"'{f.name}' ({f.distribution})" for f in self.failures)
            parts.append(f"plugin(s) {failed} failed to load and may provide it: see "
                         "`ldm plugins`")
        if self.disabled:
            parts.append(f"disabled by LDMCORE_DISABLE_PLUGINS: {', '.join(self.disabled)}")
        return f"; {'; '.join(parts)}" if parts else ""
