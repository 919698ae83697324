"""What every sampler shares: option checks, timesteps, img2img start, inpainting, progress.

A sampler subclass only writes `run(loop)`: the update rule over `loop.ts`. Latents are the VP
z_t of q(z_t | z_0) = N(√ᾱ_t z_0, (1 − ᾱ_t) I); `denoise(z_t, t)` returns ε̂ (guidance applied).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import ValidationError
from tqdm.auto import tqdm

from ldmcore.diffusion.spacing import SIGMA_SPACINGS, spaced_timesteps
from ldmcore.errors import SamplingError
from ldmcore.interfaces import Scheduler

from .params import SamplerParams


def randn_like(z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, I) shaped like z, drawn on the generator's device, then moved to z's."""
    device = generator.device if generator is not None else z.device
    return torch.randn(z.shape, generator=generator, dtype=z.dtype, device=device).to(z.device)


class KnownRegion:
    """Inpainting by mask replacement (LDM / CompVis `mask` + `x0`).

    mask = 1 marks the region to generate, 0 the region known from x0 (the batch convention of
    the inpainting task). Before each model call at t the known region is replaced by a fresh
    draw of q(z_t | x0); after the last step it is pasted back exactly.
    """

    def __init__(self, x0: torch.Tensor, mask: torch.Tensor, schedule: Any, generator) -> None:
        self.x0, self.mask, self.schedule, self.generator = x0, mask, schedule, generator

    def at(self, z: torch.Tensor, t: int) -> torch.Tensor:
        a = float(self.schedule.alphas_cumprod[t])
        noised = a**0.5 * self.x0 + (1 - a) ** 0.5 * randn_like(z, self.generator)
        return self.mask * z + (1 - self.mask) * noised

    def final(self, z: torch.Tensor) -> torch.Tensor:
        return self.mask * z + (1 - self.mask) * self.x0


@dataclass
class Loop:
    """One sampling run, handed to `Sampler.run`."""

    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    z: torch.Tensor  # the latent at ts[0]
    ts: list[int]  # timesteps to visit, largest first (after img2img truncation)
    all_ts: list[int]  # the full list (img2img keeps the same final step)
    schedule: Any
    params: Any
    generator: torch.Generator | None
    known: KnownRegion | None
    bar: Any

    def alpha(self, t: int) -> float:
        """ᾱ_t as a python float (follows any tensor it multiplies)."""
        return float(self.schedule.alphas_cumprod[t])

    def eps(self, z: torch.Tensor, t: int) -> torch.Tensor:
        """ε̂(z_t, t) for the whole batch at one integer timestep."""
        return self.denoise(z, torch.full((z.shape[0],), t, dtype=torch.long, device=z.device))

    def replace(self, z: torch.Tensor, t: int) -> torch.Tensor:
        return z if self.known is None else self.known.at(z, t)

    def finish(self, z: torch.Tensor) -> torch.Tensor:
        self.bar.close()
        return z if self.known is None else self.known.final(z)

    def final_alpha(self, mode: str) -> float:
        """ᾱ the last DDIM/PLMS step lands on (see params.FinalAlpha)."""
        if mode == "one":
            return 1.0
        if mode == "alpha0":
            return self.alpha(0)  # CompVis make_ddim_sampling_parameters: alphas_prev[0] = ᾱ[0]
        return self.alpha(self.all_ts[-1])  # ᾱ at the smallest visited timestep


class Sampler(Scheduler):
    """Base of every sampler here; `sample` is the Scheduler interface."""

    name = "sampler"

    def __init__(self, params: SamplerParams) -> None:
        self.params = params

    # ------------------------------------------------------------------ options
    def _options(self, overrides: dict[str, Any]) -> Any:
        """The params with per-call overrides (`model.sample(steps=20)`), validated."""
        if not overrides:
            return self.params
        data = {**self.params.model_dump(), **overrides}
        try:
            return type(self.params).model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            msg = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
            raise SamplingError(f"sampler '{self.name}' option {key}: {msg}") from None

    def timesteps(self, schedule: Any, params: Any = None) -> list[int]:
        p = params or self.params
        T = schedule.timesteps
        steps = T if p.steps is None else p.steps
        if steps > T:
            raise SamplingError(
                f"sampler '{self.name}': steps={steps} exceeds the {T} diffusion timesteps"
            )
        sigmas = schedule.sigmas.tolist() if p.spacing in SIGMA_SPACINGS else None
        return spaced_timesteps(p.spacing, T, steps, p.offset, sigmas)

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_inputs(noise, x0, mask, strength) -> None:
        if not (isinstance(strength, (int, float)) and 0 < strength <= 1):
            raise SamplingError(f"strength must be in (0, 1], got {strength!r}")
        if strength < 1 and x0 is None:
            raise SamplingError("strength < 1 (img2img) needs x0, the encoded init image")
        if mask is not None and x0 is None:
            raise SamplingError("mask (inpainting) needs x0, the encoded known image")
        if x0 is not None and (x0.ndim != noise.ndim or x0.shape[1:] != noise.shape[1:]
                               or x0.shape[0] not in (1, noise.shape[0])):
            raise SamplingError(
                f"x0 has shape {tuple(x0.shape)}, expected {tuple(noise.shape)} (the latent)"
            )
        if mask is not None and (
            mask.ndim != noise.ndim
            or mask.shape[0] not in (1, noise.shape[0])
            or mask.shape[1] not in (1, noise.shape[1])
            or mask.shape[2:] != noise.shape[2:]
        ):
            raise SamplingError(
                f"mask has shape {tuple(mask.shape)}; expected (B or 1, 1, "
                f"{', '.join(map(str, noise.shape[2:]))}) to match the latent {tuple(noise.shape)}"
            )

    # ------------------------------------------------------------------ the loop
    def sample(
        self,
        denoise,
        noise: torch.Tensor,
        schedule: Any,
        *,
        generator: torch.Generator | None = None,
        progress: bool = True,
        x0: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        strength: float = 1.0,
        **options: Any,
    ) -> torch.Tensor:
        params = self._options(options)
        self._check_inputs(noise, x0, mask, strength)
        all_ts = self.timesteps(schedule, params)
        ts = all_ts
        z = noise
        if x0 is not None:
            x0 = x0.to(device=noise.device, dtype=noise.dtype).expand_as(noise)
        if strength < 1:
            # SDEdit / img2img: run only the last ⌊S·s⌋ steps, from z = q(z_t | x0) at the first.
            run = int(len(all_ts) * strength)
            if run < 1:
                raise SamplingError(
                    f"strength={strength} with {len(all_ts)} steps leaves no step to run"
                )
            ts = all_ts[len(all_ts) - run:]
            a = float(schedule.alphas_cumprod[ts[0]])
            z = a**0.5 * x0 + (1 - a) ** 0.5 * noise
        known = None
        if mask is not None:
            mask = mask.to(device=noise.device, dtype=noise.dtype)
            known = KnownRegion(x0, mask, schedule, generator)
        bar = tqdm(total=len(ts), desc=self.name, disable=not progress, leave=False)
        loop = Loop(denoise, z, ts, all_ts, schedule, params, generator, known, bar)
        return self.run(loop)

    def run(self, loop: Loop) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
