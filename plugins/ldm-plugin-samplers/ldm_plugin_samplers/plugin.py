"""Registers the samplers (`scheduler` kind) and guiders. No torch at import time."""

from __future__ import annotations

from typing import Any

from ldmcore.errors import SpecError
from ldmcore.plugins import hookimpl

from . import params as P


def _check_steps(p: Any, ctx: Any, name: str) -> None:
    T = ctx.spec.diffusion.timesteps
    if p.steps is not None and p.steps > T:
        raise SpecError(f"sampler.params.steps: {p.steps} exceeds diffusion.timesteps={T} ({name})")


def _sampler(module: str, cls: str):
    def factory(p: Any, ctx: Any):
        import importlib

        _check_steps(p, ctx, cls)
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(p)

    return factory


def _cfg(p: P.CFGParams, ctx: Any):
    from .guiders import ClassifierFree

    if not ctx.spec.conditioners:
        raise SpecError(
            "guider: cfg (scale) needs conditioning but the spec has no conditioners; "
            "use guider.type=none"
        )
    return ClassifierFree(p.scale, p.interval)


def _none(p: Any, ctx: Any):
    from .guiders import NoGuidance

    return NoGuidance()


def _classifier(p: P.ClassifierParams, ctx: Any):
    from .guiders import ClassifierGuidance

    return ClassifierGuidance(p.scale)


def _image_l2(p: P.ImageL2Params, ctx: Any):
    from .image_guidance import ImageL2Guidance

    return ImageL2Guidance(p.scale, p.transform)


SAMPLERS = {
    "ddpm": (P.DDPMParams, "ddpm", "DDPM", "DDPM ancestral sampling (posterior variance)"),
    "ddim": (P.DDIMParams, "ddim", "DDIM", "DDIM with η (Song et al. 2021)"),
    "plms": (P.PLMSParams, "plms", "PLMS", "pseudo linear multistep (PNDM)"),
    "dpm_solver_pp": (P.DPMSolverParams, "dpm_solver", "DPMSolverPP", "DPM-Solver++(2M)"),
    "euler": (P.EulerParams, "euler", "Euler", "Euler on the probability-flow ODE (Karras)"),
    "euler_ancestral": (P.EulerAncestralParams, "euler", "EulerAncestral",
                        "Euler ancestral (k-diffusion)"),
}


@hookimpl
def ldmcore_register_components(register):
    for name, (params, module, cls, description) in SAMPLERS.items():
        register("scheduler", name, params, _sampler(module, cls), description=description)
    register("guider", "none", P.NoGuidanceParams, _none, description="no guidance")
    register("guider", "cfg", P.CFGParams, _cfg, description="classifier-free guidance")
    register("guider", "classifier", P.ClassifierParams, _classifier,
             description="classifier guidance from a log-probability given at sampling time")
    register("guider", "image_l2", P.ImageL2Params, _image_l2,
             description="image guidance: −½‖y − T(D(ẑ0))‖² through the decoder (LDM App. C)")
