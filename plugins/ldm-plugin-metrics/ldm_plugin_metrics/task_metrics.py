"""Task-specific pixel metrics that read the task's input from batch=:

    bicubic_baseline  super-resolution: PSNR / SSIM of bicubic upsampling of batch['lowres']
                      against the same real images (the paper's Table 5 baseline row), so a
                      model's psnr / ssim can be read against what interpolation gets for free
    known_region      inpainting: mean |sample - real| in [0, 1] units outside the mask
                      (batch['mask'], 1 = fill): the known region should come back unchanged
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ldmcore.errors import DataError
from ldmcore.interfaces import Evaluator

from .images import image_batch, paired, to01
from .pixel import psnr, ssim


def _batch_tensor(inputs: dict, key: str, who: str) -> torch.Tensor:
    batch = inputs.get("batch") or {}
    if key not in batch:
        raise DataError(f"{who}: batch has no '{key}' (keys: {', '.join(sorted(batch))})")
    return torch.as_tensor(batch[key]).float()


def bicubic_upsample(lowres: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, h, w) in [-1, 1] -> (N, C, *size), bicubic, clamped to the data range."""
    return F.interpolate(lowres, size=size, mode="bicubic", align_corners=False).clamp(-1, 1)


class BicubicBaseline(Evaluator):
    notes = {"psnr": "PSNR (dB) of bicubic upsampling of the low-res input (baseline)",
             "ssim": "SSIM of bicubic upsampling of the low-res input (baseline)"}

    def __init__(self, key: str, sigma: float):
        self.key, self.sigma = key, sigma

    def __call__(self, **inputs: Any) -> dict[str, float]:
        real = image_batch(inputs.get("real"), "real")
        low = image_batch(_batch_tensor(inputs, self.key, "bicubic_baseline"), self.key)
        if len(low) != len(real) or low.shape[1] != real.shape[1]:
            raise DataError(f"bicubic_baseline: '{self.key}' {tuple(low.shape)} does not match "
                            f"'real' {tuple(real.shape)}")
        up = bicubic_upsample(low.to(real), tuple(real.shape[-2:]))
        r, u = to01(real), to01(up)
        return {"psnr": float(psnr(r, u).mean()), "ssim": float(ssim(r, u, self.sigma).mean())}


class KnownRegion(Evaluator):
    notes = {"known_error": "mean absolute error in [0, 1] units between sample and real "
                            "image outside the mask (the known region), over pixels and channels"}

    def __init__(self, mask_key: str):
        self.mask_key = mask_key

    def __call__(self, **inputs: Any) -> dict[str, float]:
        real, fake = paired(inputs.get("real"), inputs.get("fake"))
        mask = _batch_tensor(inputs, self.mask_key, "known_region")
        if mask.ndim == 3:
            mask = mask[:, None]
        if mask.shape != (len(real), 1, *real.shape[-2:]):
            raise DataError(f"known_region: '{self.mask_key}' {tuple(mask.shape)} does not "
                            f"match the images {tuple(real.shape)}")
        keep = (mask < 0.5).to(real).expand_as(real)
        if keep.sum() == 0:
            raise DataError(f"known_region: '{self.mask_key}' masks every pixel")
        err = (to01(fake) - to01(real)).abs()
        return {"known_error": float((err * keep).sum() / keep.sum())}
