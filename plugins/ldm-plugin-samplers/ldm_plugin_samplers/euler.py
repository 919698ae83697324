"""Euler and Euler-ancestral samplers (Karras et al. 2022, Alg. 1; k-diffusion), VP-wrapped.

In the variance-exploding view x = z_t / √ᾱ_t with σ_t = √((1−ᾱ_t)/ᾱ_t) the probability-flow
ODE is dx/dσ = (x − D(x; σ)) / σ = ε̂(z_t, t): the model still sees the VP latent
z_t = x / √(1 + σ²). Starting from z_T ~ N(0, I) means x = z_T √(1 + σ_T²).
    Euler:            x ← x + (σ_next − σ) ε̂
    Euler-ancestral:  σ_up = min(σ_next, η √(σ_next² (σ² − σ_next²) / σ²)),
                      σ_down = √(σ_next² − σ_up²)
                      x ← x + (σ_down − σ) ε̂ + σ_up · n,  n ~ N(0, I)
The last step goes to σ = 0, so x is then the clean sample z_0.
"""

from __future__ import annotations

import torch

from .base import Loop, Sampler, randn_like


class Euler(Sampler):
    name = "euler"
    ancestral = False

    def sigma(self, loop: Loop, i: int) -> float:
        return float(loop.schedule.sigmas[loop.ts[i]]) if i < len(loop.ts) else 0.0

    def run(self, loop: Loop) -> torch.Tensor:
        ts = loop.ts
        x = loop.z * (1 + self.sigma(loop, 0) ** 2) ** 0.5
        for i, t in enumerate(ts):
            sigma, sigma_next = self.sigma(loop, i), self.sigma(loop, i + 1)
            scale = (1 + sigma**2) ** 0.5  # x = z_t · √(1 + σ²)
            z = x / scale
            if loop.known is not None:  # inpainting: replace in the VP latent, map back
                z = loop.replace(z, t)
                x = z * scale
            eps = loop.eps(z, t)
            if not self.ancestral:
                x = x + (sigma_next - sigma) * eps
            else:
                eta = loop.params.eta
                up = eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5
                up = min(sigma_next, up)
                down = (sigma_next**2 - up**2) ** 0.5
                x = x + (down - sigma) * eps
                x = x + up * randn_like(x, loop.generator)
            loop.bar.update()
        return loop.finish(x)


class EulerAncestral(Euler):
    name = "euler_ancestral"
    ancestral = True
