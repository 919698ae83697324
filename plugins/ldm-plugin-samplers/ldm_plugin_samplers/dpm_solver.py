"""DPM-Solver++(2M) (Lu et al. 2022, Alg. 2, data-prediction multistep, "midpoint" form).

With α_t = √ᾱ_t, σ_t = √(1−ᾱ_t), λ_t = log(α_t / σ_t) and the data prediction
D_t = x̂0(z_t) = (z_t − σ_t ε̂) / α_t, a step t → s with h = λ_s − λ_t is
    first order:  z_s = (σ_s/σ_t) z_t − α_s (e^{−h} − 1) D_t                (= DDIM, η = 0)
    second order: r = h_prev / h,  D' = (1/r)(D_t − D_prev)
                  z_s = (σ_s/σ_t) z_t − α_s (e^{−h} − 1) D_t − ½ α_s (e^{−h} − 1) D'
The first step has no history (first order). The last step goes to σ = 0 (the clean sample,
h = ∞, e^{−h} = 0), where only the first-order update is defined ("lower order final").
"""

from __future__ import annotations

import math

import torch

from .base import Loop, Sampler


class DPMSolverPP(Sampler):
    name = "dpm_solver_pp"

    def run(self, loop: Loop) -> torch.Tensor:
        z, ts = loop.z, loop.ts
        D_prev, lam_prev = None, None
        for i, t in enumerate(ts):
            z = loop.replace(z, t)
            a = loop.alpha(t)
            alpha_t, sigma_t, lam_t = a**0.5, (1 - a) ** 0.5, 0.5 * math.log(a / (1 - a))
            D = (z - sigma_t * loop.eps(z, t)) / alpha_t
            if i + 1 == len(ts):
                z = D  # σ_s = 0: z_s = D_t
            else:
                a_s = loop.alpha(ts[i + 1])
                alpha_s, sigma_s = a_s**0.5, (1 - a_s) ** 0.5
                h = 0.5 * math.log(a_s / (1 - a_s)) - lam_t
                phi = math.expm1(-h)  # e^{−h} − 1
                z = (sigma_s / sigma_t) * z - (alpha_s * phi) * D
                if loop.params.order == 2 and D_prev is not None:
                    r = (lam_t - lam_prev) / h
                    z = z - 0.5 * (alpha_s * phi) * ((D - D_prev) / r)
            D_prev, lam_prev = D, lam_t
            loop.bar.update()
        return loop.finish(z)
