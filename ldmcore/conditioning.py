"""The conditioning a denoiser receives: cross-attention context, concat channels, vector."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Conditioning:
    context: torch.Tensor | None = None  # (B, M, D): K/V of cross-attention
    concat: torch.Tensor | None = None  # (B, C, h, w): stacked onto z_t along channels
    vector: torch.Tensor | None = None  # (B, D): added to the time embedding

    def kwargs(self) -> dict[str, torch.Tensor | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def map(self, fn) -> Conditioning:
        return Conditioning(**{k: None if v is None else fn(v) for k, v in self.kwargs().items()})

    def cat(self, other: Conditioning) -> Conditioning:
        """Batch-concatenate (used by CFG to run [uncond, cond] in one call)."""
        out = {}
        for k, a in self.kwargs().items():
            b = getattr(other, k)
            if (a is None) != (b is None):
                raise ValueError(f"cannot batch conditionings: '{k}' present in only one")
            out[k] = None if a is None else torch.cat([a, b])
        return Conditioning(**out)

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.kwargs().values())
