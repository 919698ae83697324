"""The noise schedule: beta_t, alpha-bar_t, q(z_t | z_0), posterior, prediction conversions, loss.

Held in float64 as CompVis does; tensors handed out follow the input's device and dtype.
Samplers get a NoiseSchedule, never a model's buffers.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def make_betas(
    schedule: str, timesteps: int, linear_start: float, linear_end: float, cosine_s: float = 8e-3
) -> torch.Tensor:
    T = timesteps
    if schedule in ("linear", "scaled_linear"):
        # CompVis "linear" (= diffusers "scaled_linear"): linspace of square roots, squared.
        return torch.linspace(linear_start**0.5, linear_end**0.5, T, dtype=torch.float64) ** 2
    if schedule == "sqrt_linear":
        return torch.linspace(linear_start, linear_end, T, dtype=torch.float64)
    if schedule == "cosine":
        # Nichol & Dhariwal: alpha-bar(t) = cos²((t/T + s)/(1 + s) · π/2), betas clipped at 0.999.
        steps = torch.arange(T + 1, dtype=torch.float64) / T + cosine_s
        f = torch.cos(steps / (1 + cosine_s) * math.pi / 2) ** 2
        alphas_cumprod = f / f[0]
        return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(0, 0.999)
    raise ValueError(f"unknown schedule '{schedule}'")


def _gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped (B, 1, 1, ...) to broadcast against `like`."""
    out = values.to(t.device)[t.long()].to(like.dtype)
    return out.reshape(-1, *([1] * (like.ndim - 1)))


class NoiseSchedule:
    def __init__(
        self,
        betas: torch.Tensor,
        prediction: str = "eps",
        loss: str = "l2",
        weighting: str = "none",
        min_snr_gamma: float = 5.0,
    ) -> None:
        if prediction not in ("eps", "v", "x0"):
            raise ValueError(f"unknown prediction type '{prediction}' (eps, v, x0)")
        self.betas = betas.to(torch.float64)
        self.timesteps = len(betas)
        alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64),
                                              self.alphas_cumprod[:-1]])
        a, a_prev = self.alphas_cumprod, self.alphas_cumprod_prev
        # Posterior q(z_{t-1} | z_t, z_0) = N(μ̃_t, β̃_t I)  (DDPM eq. 6-7):
        #   β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t
        #   μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · z_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · z_t
        self.posterior_variance = (1 - a_prev) / (1 - a) * self.betas
        # log β̃ with β̃_0 = 0 replaced by β̃_1 (as CompVis "clipped")
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]])
        )
        self.posterior_mean_coef1 = a_prev.sqrt() * self.betas / (1 - a)
        self.posterior_mean_coef2 = alphas.sqrt() * (1 - a_prev) / (1 - a)
        # k-diffusion / Karras noise level of the same process: σ_t = √((1 − ᾱ_t) / ᾱ_t)
        self.sigmas = ((1 - a) / a).sqrt()
        self.prediction = prediction
        self.loss_type = loss
        self.weighting = weighting
        self.min_snr_gamma = min_snr_gamma

    @classmethod
    def from_spec(cls, diffusion: Any) -> NoiseSchedule:
        betas = make_betas(
            diffusion.schedule,
            diffusion.timesteps,
            diffusion.linear_start,
            diffusion.linear_end,
            diffusion.cosine_s,
        )
        return cls(
            betas,
            prediction=diffusion.prediction,
            loss=diffusion.loss,
            weighting=getattr(diffusion, "loss_weighting", "none"),
            min_snr_gamma=getattr(diffusion, "min_snr_gamma", 5.0),
        )

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> NoiseSchedule:
        """A named schedule (`sd`, `sd_v`, `ldm`), e.g. NoiseSchedule.preset("sd")."""
        from .presets import preset_fields

        fields = {"cosine_s": 8e-3, "loss": "l2", **preset_fields(name), **overrides}
        return cls.from_spec(type("Diffusion", (), fields))

    # q(z_t | z_0) = N(√ᾱ_t z_0, (1 − ᾱ_t) I)
    def q_sample(self, z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        a = _gather(self.alphas_cumprod, t, z0)
        return a.sqrt() * z0 + (1 - a).sqrt() * noise

    def q_posterior(
        self, z0: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ̃_t(z_t, z_0), β̃_t) of q(z_{t−1} | z_t, z_0)."""
        mean = (_gather(self.posterior_mean_coef1, t, z_t) * z0
                + _gather(self.posterior_mean_coef2, t, z_t) * z_t)
        return mean, _gather(self.posterior_variance, t, z_t)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t), float64, on t's device."""
        a = self.alphas_cumprod.to(t.device)[t.long()]
        return a / (1 - a)

    def target(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the denoiser is trained to output for this prediction type."""
        if self.prediction == "eps":
            return noise
        if self.prediction == "x0":
            return z0
        a = _gather(self.alphas_cumprod, t, z0)
        return a.sqrt() * noise - (1 - a).sqrt() * z0  # v = √ᾱ ε − √(1−ᾱ) x0

    def to_eps(self, out: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Convert a model output of this prediction type to ε̂."""
        if self.prediction == "eps":
            return out
        a = _gather(self.alphas_cumprod, t, z_t)
        if self.prediction == "x0":
            return (z_t - a.sqrt() * out) / (1 - a).sqrt()
        return a.sqrt() * out + (1 - a).sqrt() * z_t  # ε = √ᾱ v + √(1−ᾱ) z_t

    def to_x0(self, out: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Convert a model output of this prediction type to x̂0."""
        if self.prediction == "x0":
            return out
        a = _gather(self.alphas_cumprod, t, z_t)
        if self.prediction == "eps":
            return (z_t - (1 - a).sqrt() * out) / a.sqrt()
        return a.sqrt() * z_t - (1 - a).sqrt() * out  # x0 = √ᾱ z_t − √(1−ᾱ) v

    def eps_to_x0(self, eps: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # x̂0 = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t
        a = _gather(self.alphas_cumprod, t, z_t)
        return (z_t - (1 - a).sqrt() * eps) / a.sqrt()

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor | None:
        """Per-sample weight of the loss at t (None = uniform, the paper's L_simple).

        `min_snr` (Hang et al. 2023) weighs the x0-error by min(SNR, γ); expressed in each
        prediction's own units that is min(SNR, γ)/SNR for ε, min(SNR, γ)/(SNR + 1) for v and
        min(SNR, γ) for x0.
        """
        if self.weighting == "none":
            return None
        snr = self.snr(t)
        clipped = snr.clamp(max=self.min_snr_gamma)
        if self.prediction == "eps":
            return clipped / snr
        if self.prediction == "v":
            return clipped / (snr + 1)
        return clipped

    def loss(self, out: torch.Tensor, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
        """L = E_t[w_t ‖target − model output‖²] (or L1); w_t = 1 is the paper's L_simple."""
        target = self.target(z0, noise, t)
        diff = out.float() - target.float()
        per = diff.abs() if self.loss_type == "l1" else diff.pow(2)
        weight = self.loss_weight(t)
        if weight is None:
            return per.mean()
        per_sample = per.reshape(per.shape[0], -1).mean(1)
        return (weight.to(per_sample) * per_sample).mean()

    def sample_t(self, batch: int, device, generator: torch.Generator | None = None):
        """t ~ U{0, …, T−1} (drawn on the generator's device, as the loss's other draws are)."""
        where = generator.device if generator is not None else device
        return torch.randint(0, self.timesteps, (batch,), device=where,
                             generator=generator).to(device)
