"""Weight-free substitute for LPIPS, used when no LPIPS weights are given.

Perceptual losses need pretrained features, which cannot be downloaded here. Instead of a
(meaningless) randomly initialised VGG, this compares local structure at three scales
(full, 1/2, 1/4 via 2x2 average pooling):

    d(x, y) = sum_s [ mean |grad x_s - grad y_s|  +  mean (1 - SSIM(x_s, y_s)) / 2 ]

with finite-difference image gradients and SSIM (Wang et al. 2004) over 3x3 windows, constants
for a dynamic range of 2 (images in [-1, 1]). Like LPIPS it returns one distance per sample,
shape (B, 1, 1, 1), is 0 for identical inputs, and penalises blur and lost edges that L1 alone
tolerates.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

C1, C2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2


def _ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    def pool(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(t, (1, 1, 1, 1), mode="replicate"), 3, 1)

    mx, my = pool(x), pool(y)
    vx, vy, cxy = pool(x * x) - mx**2, pool(y * y) - my**2, pool(x * y) - mx * my
    return ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2))


def _grad_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    dx = (x.diff(dim=-1) - y.diff(dim=-1)).abs().mean(dim=(1, 2, 3))
    dy = (x.diff(dim=-2) - y.diff(dim=-2)).abs().mean(dim=(1, 2, 3))
    return dx + dy


class StructuralLoss(nn.Module):
    """Multi-scale gradient + SSIM distance, (B, C, H, W) x2 -> (B, 1, 1, 1). No weights."""

    def __init__(self, scales: int = 3) -> None:
        super().__init__()
        self.scales = scales

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = x.new_zeros(x.shape[0])
        for s in range(self.scales):
            if s:
                if min(x.shape[-2:]) < 4:
                    break
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
            total = total + _grad_l1(x, y) + (1 - _ssim(x, y)).mean(dim=(1, 2, 3)) / 2
        return total.reshape(-1, 1, 1, 1)
