"""Port check (DESIGN.md §3): derive what the wiring implies, reject what contradicts it.

- denoiser in_channels = latent c + Σ concat channels; out_channels = latent c
- every crossattn conditioner's D == denoiser context_dim (their tokens are concatenated)
- Σ vector D == denoiser vector_dim
- concat conditioners come out at the latent resolution
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from ..ports import WIRING_PORTS, Context, Latent, Port, Spatial, Vector


@dataclass
class Wiring:
    """What the port check found; the builder and tools read it."""

    latent: Latent
    conditioner_ports: dict[str, Port] = field(default_factory=dict)
    in_channels: int = 0
    out_channels: int = 0
    context_dim: int | None = None
    vector_dim: int | None = None


def _conditioner_ports(spec: Any, latent: Latent, name: str) -> dict[str, Port]:
    ports: dict[str, Port] = {}
    for cname, node in spec.conditioners.items():
        where = f"{name}: conditioners.{cname}"
        try:
            port = node.params.output_port(node.wiring, latent)
        except (ValueError, NotImplementedError) as exc:
            raise SpecError(f"{where}: {exc}") from None
        expected = WIRING_PORTS[node.wiring]
        if not isinstance(port, expected):
            raise SpecError(
                f"{where}: wiring '{node.wiring}' needs a {expected.__name__} output, "
                f"'{node.type}' gives {type(port).__name__}"
            )
        if isinstance(port, Spatial) and port.factor != latent.factor:
            raise SpecError(
                f"{where}: output at 1/{port.factor} resolution, latent is at 1/{latent.factor}"
            )
        if node.null == "learned" and isinstance(port, Spatial):
            raise SpecError(f"{where}.null: 'learned' is not available for concat wiring")
        ports[cname] = port
    return ports


def _derive(wiring: Wiring, params: Any, field_name: str, derived: int | None, why: str, name: str):
    given = getattr(params, field_name, None)
    if given is None:
        setattr(params, field_name, derived)
    elif derived is None:
        raise SpecError(f"{name}: denoiser.params.{field_name} is {given} but {why}")
    elif given != derived:
        raise SpecError(f"{name}: denoiser.params.{field_name} {given} != {derived} ({why})")
    setattr(wiring, field_name, getattr(params, field_name))


def check_wiring(spec: Any, name: str = "<spec>") -> Wiring:
    """Check ports and fill the denoiser's derived params in place; return what was found."""
    latent = spec.first_stage.params.latent_port()
    ports = _conditioner_ports(spec, latent, name)
    wiring = Wiring(latent=latent, conditioner_ports=ports)
    contexts = {n: p for n, p in ports.items() if isinstance(p, Context)}
    concat = sum(p.channels for p in ports.values() if isinstance(p, Spatial))
    vectors = [p.dim for p in ports.values() if isinstance(p, Vector)]

    dims = {p.dim for p in contexts.values()}
    given_ctx = getattr(spec.denoiser.params, "context_dim", None)
    for cname, port in contexts.items():
        if given_ctx is not None and port.dim != given_ctx:
            raise SpecError(
                f"{name}: conditioners.{cname}: context dim {port.dim} != "
                f"denoiser.params.context_dim {given_ctx}"
            )
    if len(dims) > 1:
        listed = ", ".join(f"{n}={p.dim}" for n, p in contexts.items())
        raise SpecError(f"{name}: conditioners: crossattn context dims differ ({listed})")

    params = spec.denoiser.params
    _derive(wiring, params, "in_channels", latent.channels + concat,
            f"latent {latent.channels} + concat {concat}", name)
    _derive(wiring, params, "out_channels", latent.channels, f"latent {latent.channels}", name)
    _derive(wiring, params, "context_dim", dims.pop() if dims else None,
            "no conditioner is wired crossattn", name)
    _derive(wiring, params, "vector_dim", sum(vectors) if vectors else None,
            "no conditioner is wired vector" if not vectors else f"vector dims {vectors}", name)
    _check_data_keys(spec, name)
    return wiring


def _check_data_keys(spec: Any, name: str) -> None:
    """Every key the task and conditioners read must come from the dataset or the task."""
    if spec.training is None:
        return
    available = spec.training.dataset.params.provided_keys() | spec.task.params.added_keys()
    wanted = {k: "task" for k in spec.task.params.required_keys()}
    wanted |= {node.input: f"conditioners.{c}.input" for c, node in spec.conditioners.items()}
    for key, who in wanted.items():
        if key not in available:
            raise SpecError(
                f"{name}: {who}: batch key '{key}' is not provided by training.dataset "
                f"'{spec.training.dataset.type}' (provides: {', '.join(sorted(available))})"
            )
