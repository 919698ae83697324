"""ResBlock: two 3x3 convs with the time embedding injected in between (CompVis names)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .layers import Downsample, Upsample, maybe_checkpoint, normalization, zero_module


class ResBlock(nn.Module):
    """h = conv(SiLU(GN(x))); h += W emb (or GN(h)(1+s)+b); out = skip(x) + conv(SiLU(GN(h)))."""

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float = 0.0,
        out_channels: int | None = None,
        *,
        use_scale_shift_norm: bool = False,
        up: bool = False,
        down: bool = False,
        groups: int = 32,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.use_checkpoint = use_checkpoint
        self.in_layers = nn.Sequential(
            normalization(channels, groups),
            nn.SiLU(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.updown = up or down
        self.h_upd: nn.Module | None = None
        self.x_upd: nn.Module | None = None
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels),
        )
        self.out_layers = nn.Sequential(
            normalization(out_channels, groups),
            nn.SiLU(),
            nn.Dropout(dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(
        self, x: torch.Tensor, emb: torch.Tensor, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        return maybe_checkpoint(self.use_checkpoint, self._forward, x, emb, size)

    def _resample(self, layer: nn.Module, x: torch.Tensor, size) -> torch.Tensor:
        return layer(x, size) if isinstance(layer, Upsample) else layer(x)

    def _forward(self, x: torch.Tensor, emb: torch.Tensor, size) -> torch.Tensor:
        # in-place SiLU / adds only touch fresh tensors autograd does not save (fewer copies)
        norm, _, conv = self.in_layers
        h = F.silu(norm(x), inplace=True)
        if self.updown:
            h = self._resample(self.h_upd, h, size)
            x = self._resample(self.x_upd, x, size)
        h = conv(h)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        out_norm, _, out_drop, out_conv = self.out_layers
        if self.use_scale_shift_norm:
            scale, shift = e.chunk(2, dim=1)
            h = torch.addcmul(shift, out_norm(h), 1 + scale)  # GN(h)(1 + s) + b
        else:
            h = out_norm(h.add_(e))
        h = out_conv(out_drop(F.silu(h, inplace=True)))
        return h.add_(self.skip_connection(x))
