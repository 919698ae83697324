"""Guiders: how ε̂ is formed from the denoiser at each step.

    none        ε̂ = ε(z_t, c)
    cfg         ε̂ = ε(z_t, ∅) + w (ε(z_t, c) − ε(z_t, ∅))     (Ho & Salimans; one batched call)
                optionally only for σ_t in `interval` (Kynkäänniemi et al. 2024), else ε(z_t, c)
    classifier  ε̂ = ε(z_t, c) − s √(1−ᾱ_t) ∇_{z_t} log p(y | z_t)
    image_l2    the same with log p(y | z_t) = −½ ‖y − T(D(ẑ0(z_t)))‖²      (LDM Appendix C,
                image_guidance.py)

Sign: the score is ∇ log p_t(z) = −ε / √(1−ᾱ_t), so adding ∇ log p(y | z_t) to the score
subtracts √(1−ᾱ_t) ∇ log p(y | z_t) from ε (Dhariwal & Nichol 2021, Alg. 2).

Inputs only known when sampling (the classifier's log-probability, the target image y and the
model's decode, which includes the latent scale factor) are given by `bind(...)`, which returns
a new guider; `LatentDiffusion.sample(guidance={...})` calls it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from ldmcore.errors import SamplingError
from ldmcore.interfaces import Guider


def _sqrt_one_minus_alpha(schedule: Any, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    a = schedule.alphas_cumprod.to(t.device)[t.long()].to(like.dtype)
    return (1 - a).sqrt().reshape(-1, *([1] * (like.ndim - 1)))


class BoundGuider(Guider):
    """A guider that may take sampling-time inputs through `bind`."""

    name = "guider"
    #: names of the sampling-time inputs, and which of them are required
    inputs: tuple[str, ...] = ()
    required: tuple[str, ...] = ()

    def bind(self, *, decode: Callable | None = None, **inputs: Any) -> BoundGuider:
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            takes = ", ".join(self.inputs) or "none"
            raise SamplingError(
                f"guider '{self.name}' got unknown guidance input(s) {unknown} (takes: {takes})"
            )
        missing = [k for k in self.required if inputs.get(k) is None]
        if missing:
            raise SamplingError(
                f"guider '{self.name}' needs guidance={{'{missing[0]}': ...}} at sampling time"
            )
        bound = copy.copy(self)
        bound.decode = decode
        for key, value in inputs.items():
            setattr(bound, key, value)
        return bound


class NoGuidance(BoundGuider):
    name = "none"

    def __call__(self, predict, z, t, cond, uncond, schedule):
        return predict(z, t, cond)


class ClassifierFree(BoundGuider):
    """CFG, optionally limited to noise levels σ_t ∈ [σ_lo, σ_hi] (guidance interval).

    Outside the interval ε̂ = ε(z_t, c): one conditional call instead of the batched pair.
    """

    name = "cfg"
    needs_uncond = True

    def __init__(self, scale: float, interval: tuple[float, float] | None = None) -> None:
        self.scale = scale
        self.interval = interval
        self._batched: tuple | None = None

    def _batch(self, uncond, cond):
        """[uncond, cond] concatenated once per `sample()` call, not at every step: the UNet's
        K/V cache then finds the same context tensor by identity, with no value comparison (a
        host sync per layer on a GPU)."""
        memo = self._batched
        if memo is None or memo[0] is not uncond or memo[1] is not cond:
            memo = self._batched = (uncond, cond, uncond.cat(cond))
        return memo[2]

    def _guided(self, t: torch.Tensor, schedule: Any) -> torch.Tensor | None:
        """Per-sample mask of σ_t inside the interval (None = no interval: all guided)."""
        if self.interval is None:
            return None
        sigma = schedule.sigmas.to(t.device)[t.long()]
        return (sigma >= self.interval[0]) & (sigma <= self.interval[1])

    def __call__(self, predict, z, t, cond, uncond, schedule):
        if self.scale == 1.0:
            return predict(z, t, cond)
        inside = self._guided(t, schedule)
        if inside is not None and not bool(inside.any()):
            return predict(z, t, cond)
        # one batched call of [uncond, cond]
        e_u, e_c = predict(torch.cat([z, z]), torch.cat([t, t]), self._batch(uncond, cond)).chunk(2)
        guided = e_u + self.scale * (e_c - e_u)
        if inside is None or bool(inside.all()):
            return guided
        return torch.where(inside.reshape(-1, *([1] * (z.ndim - 1))), guided, e_c)


class GradientGuider(BoundGuider):
    """ε̂ = ε − s √(1−ᾱ_t) ∇_{z_t} log p(y | z_t)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def log_prob_of(self, z: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: Any):
        raise NotImplementedError

    def __call__(self, predict, z, t, cond, uncond, schedule):
        with torch.enable_grad():
            z_in = z.detach().requires_grad_(True)
            eps = predict(z_in, t, cond)
            log_p = self.log_prob_of(z_in, t, eps, schedule)
            grad = torch.autograd.grad(log_p.sum(), z_in, allow_unused=True)[0]
        if grad is None:
            grad = torch.zeros_like(z)
        return eps.detach() - self.scale * _sqrt_one_minus_alpha(schedule, t, z) * grad


class ClassifierGuidance(GradientGuider):
    """log p(y | z_t) from a noisy-latent classifier: guidance={'log_prob': fn(z_t, t) -> (B,)}."""

    name = "classifier"
    inputs = required = ("log_prob",)
    log_prob: Callable | None = None

    def log_prob_of(self, z, t, eps, schedule):
        out = self.log_prob(z, t)
        if out.ndim != 1 or out.shape[0] != z.shape[0]:
            raise SamplingError(
                f"guider 'classifier': log_prob must return shape ({z.shape[0]},), "
                f"got {tuple(out.shape)}"
            )
        return out
