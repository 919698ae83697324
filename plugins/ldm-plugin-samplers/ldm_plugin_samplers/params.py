"""Params of every sampler and guider (pydantic, no torch).

Defaults follow CompVis / Stable Diffusion v1: "uniform" spacing with the +1 offset
(50 of 1000 steps: 981 … 1). `final_alpha` names what ᾱ the last DDIM/PLMS step lands on:
  alpha0      ᾱ at index 0 (the default: CompVis `make_ddim_sampling_parameters` sets
              alphas_prev[0] = alphacums[0]; diffusers `set_alpha_to_one=False`)
  first_step  ᾱ at the smallest visited timestep (ᾱ[1] with the +1 offset): the last step is a
              no-op transfer to the noise level it starts from; kept for older ldmcore samples
  one         1.0 (diffusers `set_alpha_to_one=True`: land on the clean sample)
`spacing: logsnr | karras` are defined by noise levels (ldmcore/diffusion/spacing.py).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from ldmcore.params import Params

Spacing = Literal["uniform", "quad", "linspace", "trailing", "logsnr", "karras"]
FinalAlpha = Literal["first_step", "alpha0", "one"]


class SamplerParams(Params):
    steps: int = Field(50, gt=0, description="number of denoising steps S (≤ diffusion.timesteps)")
    spacing: Spacing = Field("uniform", description="which timesteps are visited")
    offset: int = Field(1, ge=0, description="added to uniform/quad steps (CompVis/SD: 1)")


class DDPMParams(SamplerParams):
    steps: Optional[int] = Field(  # type: ignore[assignment]
        None, gt=0, description="None = every training timestep (the original ancestral sampler)"
    )
    variance: Literal["small", "large"] = Field(
        "small", description="posterior variance β̃_t (small) or β_t (large)"
    )


class DDIMParams(SamplerParams):
    eta: float = Field(0.0, ge=0.0, description="η: 0 = deterministic DDIM, 1 = DDPM-like")
    final_alpha: FinalAlpha = Field("alpha0", description="ᾱ the last step lands on")


class PLMSParams(SamplerParams):
    final_alpha: FinalAlpha = Field("alpha0", description="ᾱ the last step lands on")


class DPMSolverParams(SamplerParams):
    order: Literal[1, 2] = Field(2, description="2 = DPM-Solver++(2M); 1 = DDIM-equivalent")


class EulerParams(SamplerParams):
    pass


class EulerAncestralParams(SamplerParams):
    eta: float = Field(1.0, ge=0.0, description="scales the ancestral noise σ_up")


class NoGuidanceParams(Params):
    pass


class CFGParams(Params):
    scale: float = Field(
        ..., description="w in ε̂ = ε(∅) + w (ε(c) − ε(∅)); 1 = plain conditional"
    )
    interval: Optional[tuple[float, float]] = Field(
        None,
        description="[σ_lo, σ_hi]: guide only where σ_t = √((1−ᾱ_t)/ᾱ_t) lies in it, else one "
        "conditional call (Kynkäänniemi et al. 2024); None = every step",
    )

    @field_validator("interval")
    @classmethod
    def _ordered(cls, v: Optional[tuple[float, float]]) -> Optional[tuple[float, float]]:
        if v is not None and not 0 <= v[0] <= v[1]:
            raise ValueError(f"needs 0 ≤ σ_lo ≤ σ_hi, got {list(v)}")
        return v


class ClassifierParams(Params):
    scale: float = Field(1.0, ge=0.0, description="s in ε̂ = ε − s √(1−ᾱ_t) ∇ log p(y | z_t)")


class ImageL2Params(Params):
    scale: float = Field(
        0.7, ge=0.0,
        description="s in ε̂ = ε − s √(1−ᾱ_t) ∇ log p(y | z_t), log p = −½‖y − T(D(ẑ0))‖² summed "
        "over y's pixels; default measured in benchmarks/image_guidance.md",
    )
    transform: Literal["bicubic", "area", "identity"] = Field(
        "bicubic",
        description="T from the sampled image to y's size: antialiased bicubic (the paper's), "
        "area averaging, or identity (y at the sampled size)",
    )
