"""The KL autoencoder's posterior q(z|x) = N(mean, diag(exp(logvar))) (paper Sec. 3.1)."""

from __future__ import annotations

import torch


class DiagonalGaussian:
    """Built from the encoder's 2c-channel `moments` = cat[mean, logvar] along dim 1."""

    def __init__(self, moments: torch.Tensor) -> None:
        self.mean, logvar = torch.chunk(moments, 2, dim=1)
        # clamp as CompVis does, so exp() never over/underflows
        self.logvar = torch.clamp(logvar, -30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, eps ~ N(0, I) (reparameterised, differentiable)."""
        if generator is None:
            eps = torch.randn_like(self.mean)
        else:
            eps = torch.randn(self.mean.shape, generator=generator, device=generator.device,
                              dtype=self.mean.dtype).to(self.mean.device)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample, summed over c, h, w: 0.5 sum(mu^2 + var - 1 - logvar)."""
        return 0.5 * torch.sum(self.mean**2 + self.var - 1.0 - self.logvar, dim=[1, 2, 3])
