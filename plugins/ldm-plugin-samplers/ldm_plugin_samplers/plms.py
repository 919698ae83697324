"""PLMS: pseudo linear multistep (Liu et al. 2022, "PNDM"), as in CompVis / diffusers.

The update is DDIM's deterministic transfer z_t → z_s (the "pseudo" numerical method, PNDM
eq. 9 = DDIM eq. 12 with η = 0) driven by a linear-multistep estimate ε' of ε̂:
    step 0:  ε' = ½ (ε_t + ε(z̃_s, s)),  z̃_s = transfer(z_t, ε_t)      pseudo improved Euler
    step 1:  ε' = (3 ε_t − ε_{t+1}) / 2                                Adams–Bashforth 2
    step 2:  ε' = (23 ε_t − 16 ε_{t+1} + 5 ε_{t+2}) / 12               Adams–Bashforth 3
    then:    ε' = (55 ε_t − 59 ε_{t+1} + 37 ε_{t+2} − 9 ε_{t+3}) / 24   Adams–Bashforth 4
(ε_{t+k} is the model output k visited steps earlier.) NFE = S + 1.
"""

from __future__ import annotations

import torch

from .base import Loop, Sampler
from .ddim import ddim_step


def multistep_eps(eps: torch.Tensor, old: list[torch.Tensor]) -> torch.Tensor:
    """Adams–Bashforth combination of the current and previous ε̂ (old[-1] most recent)."""
    if len(old) == 1:
        return (3 * eps - old[-1]) / 2
    if len(old) == 2:
        return (23 * eps - 16 * old[-1] + 5 * old[-2]) / 12
    return (55 * eps - 59 * old[-1] + 37 * old[-2] - 9 * old[-3]) / 24


class PLMS(Sampler):
    name = "plms"

    def run(self, loop: Loop) -> torch.Tensor:
        z, ts = loop.z, loop.ts
        a_final = loop.final_alpha(loop.params.final_alpha)
        old: list[torch.Tensor] = []
        for i, t in enumerate(ts):
            z = loop.replace(z, t)
            a_t = loop.alpha(t)
            a_s = loop.alpha(ts[i + 1]) if i + 1 < len(ts) else a_final
            eps = loop.eps(z, t)
            if old:
                eps_prime = multistep_eps(eps, old)
            elif i + 1 < len(ts):
                z_pred = ddim_step(z, eps, a_t, a_s)
                eps_prime = (eps + loop.eps(z_pred, ts[i + 1])) / 2
            else:
                eps_prime = eps  # a single step: nothing to average with
            z = ddim_step(z, eps_prime, a_t, a_s)
            old = (old + [eps])[-3:]
            loop.bar.update()
        return loop.finish(z)
