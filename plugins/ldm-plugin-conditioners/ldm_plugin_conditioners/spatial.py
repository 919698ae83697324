"""Spatially aligned conditioners for concat wiring (paper Sec. 4.3.2, 4.4, 4.5).

- SpatialRescale: the paper's SpatialRescaler: resize to the latent grid, then a 1x1 conv
  (a low-res image for super-resolution, a one-hot semantic map for semantic synthesis); or
  space-to-depth instead of the resize, so no pixel of a map is averaged away.
- SpatialFirstStage: E(masked image), scaled like the diffusion latents (inpainting); optionally
  beside the masked image's own pixels, space-to-depth (what E() averages within a cell).
- SpatialMask: the inpainting mask, downsampled to the latent grid, or space-to-depth.
All three take the output size from the input's own size (input_factor / f), so they follow
convolutional sampling beyond the training resolution.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.errors import DataError
from ldmcore.interfaces import Conditioner

from .params import SpatialFirstStageParams, SpatialMaskParams, SpatialRescaleParams


def _image_like(y: Any, key: str, channels: int | None = None) -> torch.Tensor:
    x = torch.as_tensor(y)
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise DataError(f"'{key}': expected shape {want}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise DataError(f"'{key}': expected a float tensor, got {x.dtype}")
    return x


def _target(x: torch.Tensor, input_factor: int, f: int, key: str) -> tuple[int, int]:
    """Latent-grid size of an input that arrives at 1/input_factor of the image resolution."""
    h, w = x.shape[-2] * input_factor, x.shape[-1] * input_factor
    if h % f or w % f:
        raise DataError(f"'{key}': image size {h}x{w} is not divisible by f={f}")
    return h // f, w // f


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    smooth = mode in ("bilinear", "bicubic")
    down = size[0] < x.shape[-2]
    return F.interpolate(
        x, size=size, mode=mode, align_corners=False if smooth else None,
        antialias=smooth and down,
    )


class SpatialRescale(Conditioner):
    def __init__(self, params: SpatialRescaleParams, f: int, key: str) -> None:
        super().__init__()
        self.key, self.f = key, f
        self.num_classes = params.num_classes
        self.channels = params.channels_in
        self.input_factor, self.mode = params.input_factor, params.mode
        self.n_stages, self.multiplier = params.n_stages, params.multiplier
        # space-to-depth factor: input pixels per latent cell along each side
        self.unshuffle = f // params.input_factor if params.mode == "unshuffle" else None
        if self.unshuffle is not None and self.unshuffle * params.input_factor != f:
            raise DataError(f"spatial_rescale: mode 'unshuffle' needs f={f} to be a multiple "
                            f"of input_factor={params.input_factor}")
        mapped = self.channels * (self.unshuffle or 1) ** 2
        self.channel_mapper = (
            nn.Conv2d(mapped, params.out_channels, 1, bias=params.bias)
            if params.channel_map else nn.Identity()
        )

    def _as_maps(self, y: Any) -> torch.Tensor:
        if self.num_classes is None:
            return _image_like(y, self.key, self.channels)
        ids = torch.as_tensor(y)
        if ids.ndim == 4 and ids.is_floating_point() and ids.shape[1] == self.num_classes:
            return ids  # already one-hot (B, num_classes, H, W), as CompVis' datasets give it
        if ids.ndim == 4 and ids.shape[1] == 1:
            ids = ids[:, 0]
        if ids.ndim != 3 or ids.is_floating_point():
            raise DataError(
                f"'{self.key}': expected int64 ids of shape (B, H, W), got "
                f"{tuple(ids.shape)} {ids.dtype}"
            )
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.num_classes):
            raise DataError(
                f"'{self.key}': ids must be in [0, {self.num_classes - 1}], got "
                f"{int(ids.min())}..{int(ids.max())}"
            )
        return F.one_hot(ids.long(), self.num_classes).permute(0, 3, 1, 2).float()

    def forward(self, y: Any) -> torch.Tensor:
        x = self._as_maps(y)
        ref = next(self.parameters(), None)
        if ref is not None:
            x = x.to(device=ref.device, dtype=ref.dtype)
        size = _target(x, self.input_factor, self.f, self.key)
        if self.unshuffle is not None:  # (B, C, rH, rW) -> (B, C*r*r, H, W), exact
            x = F.pixel_unshuffle(x, self.unshuffle)
        elif self.n_stages is None:
            x = _resize(x, size, self.mode)
        else:  # CompVis: n_stages x F.interpolate(scale_factor=multiplier), e.g. 2 x bilinear 0.5
            for _ in range(self.n_stages):
                x = F.interpolate(x, scale_factor=self.multiplier, mode=self.mode)
            if tuple(x.shape[-2:]) != size:
                raise DataError(f"'{self.key}': {self.n_stages} stages x {self.multiplier} give "
                                f"{tuple(x.shape[-2:])}, the latent grid is {size}")
        return self.channel_mapper(x)


class SpatialFirstStage(Conditioner):
    def __init__(self, params: SpatialFirstStageParams, first_stage: nn.Module, key: str,
                 f: int) -> None:
        super().__init__()
        self.key, self.sample, self.f = key, params.sample, f
        # a reference, not a submodule: the weights belong to (and are saved with) the model
        self._first_stage = (first_stage,)
        self.pixel_mapper = (nn.Conv2d(params.in_channels * f * f, params.pixels, 1, bias=False)
                             if params.pixels else None)

    @property
    def first_stage(self) -> nn.Module:
        return self._first_stage[0]

    def forward(self, y: Any) -> torch.Tensor:
        fs = self.first_stage
        ref = next(fs.parameters(), fs.scale_factor)
        x = _image_like(y, self.key).to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():  # the first stage is frozen
            z = fs.encode(x, sample=self.sample)
            # the same scaling LatentDiffusion.encode applies to z_0: (z - shift) * scale
            z = (z - fs.shift_factor.to(z)) * fs.scale_factor.to(z)
        if self.pixel_mapper is None:
            return z
        _target(x, 1, self.f, self.key)  # (B, C, fH, fW) -> (B, C*f*f, H, W), exact
        pixels = F.pixel_unshuffle(x.to(self.pixel_mapper.weight), self.f)
        return torch.cat([z, self.pixel_mapper(pixels).to(z)], dim=1)


class SpatialMask(Conditioner):
    def __init__(self, params: SpatialMaskParams, f: int, key: str) -> None:
        super().__init__()
        self.key, self.f = key, f
        self.input_factor, self.mode = params.input_factor, params.mode
        self.pm1 = params.values == "pm1"

    def forward(self, y: Any) -> torch.Tensor:
        m = torch.as_tensor(y)
        if m.ndim == 3:
            m = m[:, None]
        m = _image_like(m.float() if m.dtype == torch.bool else m, self.key, 1)
        if m.numel() and (m.min() < 0 or m.max() > 1):
            raise DataError(f"'{self.key}': mask values must lie in [0, 1]")
        size = _target(m, self.input_factor, self.f, self.key)
        if self.mode == "unshuffle":  # (B, 1, rH, rW) -> (B, r*r, H, W): every pixel kept
            m = F.pixel_unshuffle(m, self.f // self.input_factor)
        elif self.mode == "max":
            m = F.adaptive_max_pool2d(m, size)
        else:
            m = _resize(m, size, self.mode)
        return m * 2 - 1 if self.pm1 else m
