"""The `identity` first stage: the diffusion model runs in pixel space (LDM-1, f = 1)."""

from __future__ import annotations

import torch

from ldmcore.interfaces import FirstStage

from .params import IdentityParams


class IdentityFirstStage(FirstStage):
    """z = x and x = z; scale/shift buffers still apply in the assembled model."""

    def __init__(self, p: IdentityParams) -> None:
        super().__init__()
        self.params = p
        self.scale_factor.fill_(p.scale_factor)
        self.shift_factor.fill_(p.shift_factor)

    def encode(
        self, x: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z
