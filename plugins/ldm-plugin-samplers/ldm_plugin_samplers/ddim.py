"""DDIM (Song et al. 2021), eq. 12 with σ_t from eq. 16.

For each visited t with next visited step s (after the last: ᾱ_s per `final_alpha`):
    x̂0  = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t                              "predicted x0"
    σ_t = η √((1−ᾱ_s)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)
    z_s = √ᾱ_s x̂0 + √(1 − ᾱ_s − σ_t²) ε̂ + σ_t ε                 "direction pointing to x_t"
η = 0 is the deterministic sampler (an ODE solver); η = 1 matches DDPM's posterior variance.
"""

from __future__ import annotations

import torch

from .base import Loop, Sampler, randn_like


def ddim_step(
    z: torch.Tensor,
    eps: torch.Tensor,
    a_t: float,
    a_s: float,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    x0 = (z - (1 - a_t) ** 0.5 * eps) / a_t**0.5
    sigma = eta * ((1 - a_s) / (1 - a_t)) ** 0.5 * (1 - a_t / a_s) ** 0.5
    z = a_s**0.5 * x0 + max(1 - a_s - sigma**2, 0.0) ** 0.5 * eps
    if sigma > 0:
        z = z + sigma * randn_like(z, generator)
    return z


class DDIM(Sampler):
    name = "ddim"

    def run(self, loop: Loop) -> torch.Tensor:
        z, ts, p = loop.z, loop.ts, loop.params
        a_final = loop.final_alpha(p.final_alpha)
        for i, t in enumerate(ts):
            z = loop.replace(z, t)
            eps = loop.eps(z, t)
            a_s = loop.alpha(ts[i + 1]) if i + 1 < len(ts) else a_final
            z = ddim_step(z, eps, loop.alpha(t), a_s, p.eta, loop.generator)
            loop.bar.update()
        return loop.finish(z)
