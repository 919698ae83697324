"""Ports: what a component produces, declared from its params before any weights exist.

The builder checks a graph with these alone (DESIGN.md §3), so nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Latent:
    """First-stage output z in R^{c × H/f × W/f}."""

    channels: int
    factor: int


@dataclass(frozen=True)
class Context:
    """A token sequence tau_theta(y) in R^{M × D} for cross-attention."""

    tokens: int
    dim: int


@dataclass(frozen=True)
class Spatial:
    """An image-like map with `channels` channels at 1/`factor` of the image resolution."""

    channels: int
    factor: int


@dataclass(frozen=True)
class Vector:
    """A flat vector added to the time embedding (the UNet's `label_emb` path)."""

    dim: int


Port = Union[Latent, Context, Spatial, Vector]

#: Which port type each conditioner wiring consumes.
WIRING_PORTS: dict[str, type] = {"crossattn": Context, "concat": Spatial, "vector": Vector}
