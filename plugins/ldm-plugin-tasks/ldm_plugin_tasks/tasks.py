"""The seven tasks. A task checks the keys it reads and derives the ones it adds.

Keys already in the batch are kept: a user-given `lowres` or `mask` (e.g. at sampling time)
is used as is, and only what is missing is derived.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ldmcore.errors import DataError
from ldmcore.interfaces import Task

from .masks import random_masks
from .params import InpaintingParams, LabelledParams, SuperResParams, UnconditionalParams


def _image(batch: dict, key: str = "image") -> torch.Tensor:
    if key not in batch:
        raise DataError(f"batch has no '{key}' key (keys: {', '.join(sorted(batch))})")
    x = batch[key]
    if not torch.is_tensor(x) or x.ndim != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise DataError(f"'{key}': expected a float (B, C, H, W) tensor, got {shape}")
    return x


class Unconditional(Task):
    def __init__(self, params: UnconditionalParams) -> None:
        self.evaluation = params.evaluation


class Labelled(Task):
    """class2img / txt2img / layout2img / semantic2img: the label comes from the dataset."""

    def __init__(self, params: LabelledParams) -> None:
        self.key = params.key
        self.evaluation = params.evaluation

    def prepare(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        if self.key not in batch:
            raise DataError(
                f"task needs batch key '{self.key}' (keys: {', '.join(sorted(batch))})"
            )
        value = batch[self.key]
        if isinstance(value, (list, tuple)) and not value:
            raise DataError(f"'{self.key}': empty list")
        return batch


class SuperRes(Task):
    """y = bicubic_down_x4(x) in [-1, 1] (the paper's degradation for SR on ImageNet)."""

    def __init__(self, params: SuperResParams) -> None:
        self.factor, self.mode, self.antialias = params.factor, params.mode, params.antialias
        self.key = params.key
        self.evaluation = params.evaluation

    def degrade(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.factor or w % self.factor:
            raise DataError(f"'image': size {h}x{w} is not divisible by factor {self.factor}")
        size = (h // self.factor, w // self.factor)
        smooth = self.mode in ("bicubic", "bilinear")
        y = F.interpolate(
            x, size=size, mode=self.mode, align_corners=False if smooth else None,
            antialias=self.antialias and smooth,
        )
        return y.clamp(-1, 1)  # bicubic overshoots; keep the data range

    def prepare(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        if self.key in batch:
            return batch
        return {**batch, self.key: self.degrade(_image(batch))}


class Inpainting(Task):
    """mask ~ random box / stroke (1 = fill); masked_image = image * (1 - mask) + fill * mask."""

    def __init__(self, params: InpaintingParams) -> None:
        self.p = params
        self.evaluation = params.evaluation

    def masks(
        self, n: int, h: int, w: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        p = self.p
        return random_masks(
            n, h, w, list(p.kinds), box=(p.box_min, p.box_max), vertices=p.stroke_vertices,
            width=p.stroke_width, step=p.stroke_step, generator=generator,
        )

    def prepare(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        x = _image(batch)
        mask: Any = batch.get(self.p.mask_key)
        if mask is None:
            mask = self.masks(x.shape[0], x.shape[-2], x.shape[-1], generator)
        mask = torch.as_tensor(mask)
        if mask.ndim == 3:
            mask = mask[:, None]
        if mask.shape != (x.shape[0], 1, *x.shape[-2:]):
            raise DataError(
                f"'{self.p.mask_key}': expected shape {(x.shape[0], 1, *x.shape[-2:])}, "
                f"got {tuple(mask.shape)}"
            )
        mask = mask.to(device=x.device, dtype=x.dtype)
        masked = x * (1 - mask) + self.p.masked_fill * mask  # holes at masked_fill
        return {**batch, self.p.mask_key: mask, self.p.masked_key: masked}
