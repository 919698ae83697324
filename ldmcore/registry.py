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


@dataclass(frozen=True)
class PluginFailure:
    name: str
    distribution: str
    version: str
    error: str

    def describe(self) -> str:
        return f"plugin '{self.name}' ({self.distribution} {self.version}) failed: {self.error}"


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
            raise PluginError(
                f"duplicate {info.kind} '{info.name}': registered by "
                f"{existing.plugin.distribution} and by {info.plugin.distribution}"
            )
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
            raise SpecError(f"{prefix}unknown {kind} type '{name}' (known: {known})") from None
