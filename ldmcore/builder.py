"""`ldmcore.build`: a spec -> an assembled LatentDiffusion, every component from the registry.

Layer: builder. It may import the spec, registry and plugin layers and ldmcore.checkpoint (to
load the `checkpoint:` a node names); never training, evaluation, sources or the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import PluginError, SpecError
from .interfaces import KIND_BASES
from .registry import Registry
from .spec.resolve import resolve_spec
from .spec.wiring import Wiring, check_wiring


@dataclass
class BuildContext:
    """What a factory may look at besides its own params."""

    spec: Any
    wiring: Wiring
    registry: Registry
    first_stage: Any = None  # set once built, for conditioners that encode with it
    node: Any = None  # the spec node being built now (a conditioner reads its wiring here)
    port: Any = None  # its output port, for conditioners

    def instantiate(self, kind: str, node: Any, where: str, port: Any = None) -> Any:
        info = self.registry.get(kind, node.type, where=where)
        self.node, self.port = node, port
        component = info.factory(node.params, self)
        if not isinstance(component, KIND_BASES[kind]):
            raise PluginError(
                f"{where}: factory of {kind} '{node.type}' ({info.plugin.distribution}) returned "
                f"{type(component).__name__}, not a {KIND_BASES[kind].__name__}"
            )
        component.params = node.params
        return component


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from .plugins import default_registry

    return default_registry()


def build_from_spec(spec: Any, registry: Registry | None = None):
    """Instantiate every component of an already validated spec."""
    from .diffusion.schedule import NoiseSchedule
    from .model import ConditionerSlot, LatentDiffusion

    registry = _registry(registry)
    ctx = BuildContext(spec=spec, wiring=check_wiring(spec), registry=registry)
    ctx.first_stage = ctx.instantiate("first_stage", spec.first_stage, "first_stage")
    if spec.first_stage.checkpoint:  # before conditioners that encode with it are built
        from .checkpoint.first_stage import load_first_stage

        load_first_stage(ctx.first_stage, spec.first_stage.checkpoint, spec)
    slots = {
        name: ConditionerSlot(
            ctx.instantiate(
                "conditioner", node, f"conditioners.{name}", ctx.wiring.conditioner_ports[name]
            ),
            node,
            ctx.wiring.conditioner_ports[name],
        )
        for name, node in spec.conditioners.items()
    }
    model = LatentDiffusion(
        spec=spec,
        first_stage=ctx.first_stage,
        conditioners=slots,
        denoiser=ctx.instantiate("denoiser", spec.denoiser, "denoiser"),
        schedule=NoiseSchedule.from_spec(spec.diffusion),
        sampler=ctx.instantiate("scheduler", spec.sampler, "sampler"),
        guider=ctx.instantiate("guider", spec.guider, "guider"),
        task=ctx.instantiate("task", spec.task, "task"),
    )
    _load_node_checkpoints(model, spec)
    return model


def _load_node_checkpoints(model, spec) -> None:
    """`denoiser.checkpoint` / `conditioners.<name>.checkpoint`: any format (native, CompVis/SD,
    diffusers folder), strict for that part only."""
    from .checkpoint.loading import load_checkpoint

    if spec.denoiser.extend_inputs and not spec.denoiser.checkpoint:
        raise SpecError("denoiser.extend_inputs: extends the input layer of denoiser.checkpoint, "
                        "which is not set")
    if spec.denoiser.checkpoint:
        load_checkpoint(model, spec.denoiser.checkpoint, parts=["denoiser"],
                        extend_inputs=spec.denoiser.extend_inputs)
    for name, node in spec.conditioners.items():
        if node.checkpoint:
            load_checkpoint(model, node.checkpoint, parts=[f"conditioners.{name}"],
                            conditioner=name)


def build(
    source: str | Path | Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    registry: Registry | None = None,
    name: str | None = None,
):
    """Build the model a spec describes: `ldmcore.build("configs/layout2img.yaml")`. `name`
    names a dict spec in messages (the file it was stored in)."""
    registry = _registry(registry)
    spec = resolve_spec(source, overrides, registry=registry, name=name)
    return build_from_spec(spec, registry)
