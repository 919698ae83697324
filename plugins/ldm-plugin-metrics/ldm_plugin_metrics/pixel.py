"""PSNR and SSIM on images in [0, 1] (data range 1)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def psnr(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Per image: 10 log10(1 / MSE); +inf where the images are identical."""
    mse = (real.double() - fake.double()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)  # mse == 0 -> inf


def _gauss(sigma: float, size: int, like: torch.Tensor) -> torch.Tensor:
    x = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(real: torch.Tensor, fake: torch.Tensor, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Per image SSIM (Wang et al. 2004), mean over channels and valid window positions.

    Local statistics use a Gaussian window (11 taps for sigma 1.5, fewer on tiny images):
    SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)).
    """
    x, y = real.double(), fake.double()
    c = x.shape[1]
    size = min(2 * int(3.5 * sigma + 0.5) + 1, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2  # odd
    g = _gauss(sigma, size, x)
    win = (g[:, None] * g[None, :]).expand(c, 1, size, size)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = k1**2, k2**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)
