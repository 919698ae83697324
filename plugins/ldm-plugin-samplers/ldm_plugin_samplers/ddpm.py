"""DDPM ancestral sampling (Ho et al. 2020, Alg. 2), over all T steps or a spaced subset.

Between visited steps t → s (s = the next visited step, ᾱ_s = 1 after the last):
    x̂0  = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t
    β   = 1 − ᾱ_t / ᾱ_s                                        (the effective β of the jump)
    μ̃   = √ᾱ_s β / (1−ᾱ_t) · x̂0 + √(ᾱ_t/ᾱ_s) (1−ᾱ_s) / (1−ᾱ_t) · z_t      (eq. 7)
    z_s = μ̃ + σ ε,  σ² = β̃ = (1−ᾱ_s)/(1−ᾱ_t) · β ("small")  or  β ("large")
With every step visited this is exactly q(z_{t−1} | z_t, x̂0) of the schedule.
"""

from __future__ import annotations

import torch

from .base import Loop, Sampler, randn_like


class DDPM(Sampler):
    name = "ddpm"

    def run(self, loop: Loop) -> torch.Tensor:
        z, ts = loop.z, loop.ts
        for i, t in enumerate(ts):
            z = loop.replace(z, t)
            eps = loop.eps(z, t)
            a_t = loop.alpha(t)
            a_s = loop.alpha(ts[i + 1]) if i + 1 < len(ts) else 1.0
            x0 = (z - (1 - a_t) ** 0.5 * eps) / a_t**0.5
            beta = 1 - a_t / a_s
            c0 = a_s**0.5 * beta / (1 - a_t)
            ct = (a_t / a_s) ** 0.5 * (1 - a_s) / (1 - a_t)
            z = c0 * x0 + ct * z  # μ̃
            small = loop.params.variance == "small"
            var = max((1 - a_s) / (1 - a_t) * beta, 1e-20) if small else beta
            if i + 1 < len(ts):  # no noise on the final step to z_0
                z = z + var**0.5 * randn_like(z, loop.generator)
            loop.bar.update()
        return loop.finish(z)
