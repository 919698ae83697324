"""Encoder E and decoder D of the first stage (paper Sec. 3.1), CompVis module tree.

    encoder: conv_in, down.i.{block.j, attn.j, downsample}, mid.{block_1, attn_1, block_2},
             norm_out, conv_out
    decoder: conv_in, mid.*, up.i.{block.j, attn.j, upsample} (up.0 = highest resolution,
             built from the lowest up), norm_out, conv_out

E maps (B, in_channels, H, W) -> (B, z_channels * (2 if double_z else 1), H/f, W/f) with
f = 2^(len(ch_mult)-1); D maps (B, z_channels, h, w) -> (B, out_ch, h*f, w*f).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import AttnBlock, Downsample, ResnetBlock, Upsample, normalize
from .params import AutoencoderParams


class _Level(nn.Module):
    """One resolution level: `block` (resnets), `attn` (optional), then down/upsample."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()

    def run(self, h: torch.Tensor) -> torch.Tensor:
        for j, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[j](h)
        return h


class _Mid(nn.Module):
    def __init__(self, channels: int, p: AutoencoderParams) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, p.dropout, p.norm_groups)
        self.attn_1 = AttnBlock(channels, p.norm_groups) if p.mid_attention else None
        self.block_2 = ResnetBlock(channels, channels, p.dropout, p.norm_groups)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.block_1(h)
        if self.attn_1 is not None:
            h = self.attn_1(h)
        return self.block_2(h)


class Encoder(nn.Module):
    def __init__(self, p: AutoencoderParams, double_z: bool) -> None:
        super().__init__()
        g = p.norm_groups
        self.conv_in = nn.Conv2d(p.in_channels, p.ch, 3, padding=1)
        self.down = nn.ModuleList()
        block_in, res = p.ch, p.resolution
        for i, mult in enumerate(p.ch_mult):
            level = _Level()
            block_out = p.ch * mult
            for _ in range(p.num_res_blocks):
                level.block.append(ResnetBlock(block_in, block_out, p.dropout, g))
                block_in = block_out
                if res in p.attn_resolutions:
                    level.attn.append(AttnBlock(block_in, g))
            if i != len(p.ch_mult) - 1:
                level.downsample = Downsample(block_in)
                res //= 2
            self.down.append(level)
        self.mid = _Mid(block_in, p)
        self.norm_out = normalize(block_in, g)
        self.conv_out = nn.Conv2d(block_in, p.z_channels * (2 if double_z else 1), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level.run(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, p: AutoencoderParams) -> None:
        super().__init__()
        g = p.norm_groups
        n = len(p.ch_mult)
        block_in = p.ch * p.ch_mult[-1]
        res = p.resolution // 2 ** (n - 1)
        self.conv_in = nn.Conv2d(p.z_channels, block_in, 3, padding=1)
        self.mid = _Mid(block_in, p)
        levels: list[_Level] = []
        for i in reversed(range(n)):  # lowest resolution first; stored so that up.0 is highest
            level = _Level()
            block_out = p.ch * p.ch_mult[i]
            for _ in range(p.num_res_blocks + 1):
                level.block.append(ResnetBlock(block_in, block_out, p.dropout, g))
                block_in = block_out
                if res in p.attn_resolutions:
                    level.attn.append(AttnBlock(block_in, g))
            if i != 0:
                level.upsample = Upsample(block_in)
                res *= 2
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = normalize(block_in, g)
        self.conv_out = nn.Conv2d(block_in, p.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level.run(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
