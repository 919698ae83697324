"""Tiled application of an encoder or decoder to inputs larger than memory allows.

The input is cut into square tiles that overlap by `overlap` = 2 * margin + fade pixels. In each
tile's output, the outer `margin` on every side that borders another tile gets weight 0 (those
pixels saw the tile's zero padding instead of their real neighbours), the next `fade` pixels a
linear ramp, the rest weight 1; image borders keep weight 1. Neighbouring ramps sum to 1, so
tiles cross-fade smoothly (no visible seams), and the weighted sum is normalised by the weights.
Limitation (shared by every tiled VAE): GroupNorm statistics are per tile, so a tiled result
equals the untiled one only approximately; larger tiles get closer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def tile_starts(size: int, tile: int, stride: int, align: int) -> list[int]:
    """Start offsets covering [0, size): every `stride` (multiples of `align`), the last one flush
    with the end."""
    if size <= tile:
        return [0]
    last = size - tile
    return sorted({s - s % align for s in range(0, last, stride)} | {last})


def _weights(n: int, margin: int, fade: int, lead: bool, trail: bool,
             like: torch.Tensor) -> torch.Tensor:
    """1-D blend weights of length n (see module docstring)."""
    w = torch.ones(n, dtype=like.dtype, device=like.device)
    ramp = (torch.arange(fade, dtype=like.dtype, device=like.device) + 0.5) / max(fade, 1)
    if lead:
        w[:margin] = 0
        w[margin:margin + fade] = ramp
    if trail:
        w[n - margin - fade:n - margin] = ramp.flip(0)
        w[n - margin:] = 0
    return w


def split_overlap(overlap: int, align: int = 1) -> tuple[int, int]:
    """overlap -> (margin, fade): a quarter on each side is discarded, the middle cross-fades."""
    margin = overlap // 4 // align * align
    return margin, overlap - 2 * margin


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int,
    scale: float,
    align: int = 1,
) -> torch.Tensor:
    """fn over overlapping `tile`-sized tiles of x (B, C, H, W), blended as described above.

    `scale` is the output/input size ratio of fn (1/f for an encoder, f for a decoder); tile
    starts, `overlap` and the margins are multiples of `align` so that encoder tiles fall on
    whole latent pixels.
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap {overlap} must be in [0, tile={tile})")
    h, w = x.shape[-2:]
    margin, fade = split_overlap(overlap, align)
    stride = max(tile - overlap, align)
    ys, xs = tile_starts(h, tile, stride, align), tile_starts(w, tile, stride, align)
    o_margin, o_fade = int(round(margin * scale)), int(round(fade * scale))
    out = weight = None
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            part = fn(x[..., y0:y0 + tile, x0:x0 + tile])
            if out is None:
                oh, ow = int(round(h * scale)), int(round(w * scale))
                out = part.new_zeros(*part.shape[:-2], oh, ow)
                weight = part.new_zeros(oh, ow)
            ph, pw = part.shape[-2:]
            oy, ox = int(round(y0 * scale)), int(round(x0 * scale))
            wy = _weights(ph, o_margin, o_fade, iy > 0, iy < len(ys) - 1, part)
            wx = _weights(pw, o_margin, o_fade, ix > 0, ix < len(xs) - 1, part)
            m = wy[:, None] * wx[None, :]
            out[..., oy:oy + ph, ox:ox + pw] += part * m
            weight[oy:oy + ph, ox:ox + pw] += m
    return out / weight
