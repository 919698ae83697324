"""Write a model in the three layouts (`ldm convert` reads any of them: ldmcore.sources.convert).

    native    one .safetensors, ldmcore keys, the resolved spec in metadata (ldmcore.save)
    compvis   .ckpt ({"state_dict": ...}) or .safetensors with model.diffusion_model. /
              first_stage_model. / cond_stage_model. prefixes, as CompVis and SD ship them
    diffusers a folder with unet/ and vae/ (config.json + safetensors) diffusers can open
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from .compvis import (
    COND,
    VAE,
    default_conditioner,
    ema_entries,
    model_to_compvis,
    schedule_buffers,
)
from .diffusers_folder import _contiguous, write_diffusers
from .native import SPEC_KEY, save, spec_json

FORMATS = ("native", "compvis", "diffusers")


def compvis_state(model: Any, conditioner: str | None = None) -> dict:
    return model_to_compvis(model.state_dict(), conditioner or default_conditioner(model))


def original_state(model: Any, conditioner: str | None = None, *, use_ema: bool = True,
                   scale_by_std: bool = False, ema: Mapping[str, Any] | None = None) -> dict:
    """What CompVis' `LatentDiffusion(**config).load_state_dict(sd, strict=True)` accepts: the
    weights, the 12 schedule buffers, `model_ema.*` when the config has use_ema (default True:
    the given EMA where present, else a copy of the weights, as a fresh LitEma), `scale_factor`
    only with scale_by_std (otherwise it is a float of the config, not a buffer), and the
    first stage again as cond_stage_model.* for an __is_first_stage__ (inpainting) model."""
    cond = conditioner or default_conditioner(model)
    state = compvis_state(model, cond)
    scale = state.pop("scale_factor", None)
    if scale_by_std and scale is not None:
        state["scale_factor"] = scale.reshape(())
    state.update(schedule_buffers(model.schedule.betas))
    if use_ema:
        unet = {k[len("denoiser."):]: v for k, v in model.state_dict().items()
                if k.startswith("denoiser.")}
        # the EMA the model was read with (a CompVis release), else a copy of the weights
        state.update(ema_entries(unet, ema if ema is not None
                                 else getattr(model, "compvis_ema", None)))
    types = {n: node.type for n, node in model.spec.conditioners.items()}
    if cond is None and "spatial_first_stage" in types.values():
        state.update({COND + k[len(VAE):]: v for k, v in list(state.items())
                      if k.startswith(VAE)})
    return state


def save_compvis(model: Any, dst: str | Path, *, conditioner: str | None = None,
                 original: Mapping[str, Any] | None = None) -> Path:
    """CompVis layout; .ckpt via torch.save (plain dict of tensors), else .safetensors.

    original: {use_ema, scale_by_std, ema}, as `original_options(config.yaml)` reads them from
    the CompVis config the file is meant for; default: `default_options(model)`. What CompVis
    has no place for (a learned null embedding...) is kept under ldmcore.* for the round trip."""
    dst = Path(dst)
    state = original_state(model, conditioner, **(original or default_options(model)))
    state = _contiguous(state)
    spec = spec_json(model.spec)
    tmp = dst.with_name(f".{dst.name}.tmp")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(tmp), metadata={SPEC_KEY: spec, "format": "compvis"})
    elif dst.suffix in (".ckpt", ".pt", ".pth"):
        import torch

        torch.save({"state_dict": state, "ldmcore_spec": spec}, str(tmp))
    else:
        raise CheckpointError(f"{dst}: a CompVis checkpoint ends in .ckpt or .safetensors")
    os.replace(tmp, dst)
    return dst


def default_options(model: Any) -> dict:
    """Without a config: use_ema as the released configs set it (SD v1/v2, with a CLIP text
    encoder: false; LatentDiffusion's default otherwise: true), scale_by_std false."""
    types = {node.type for node in model.spec.conditioners.values()}
    return {"use_ema": not types & {"clip_text", "hf_text"}, "scale_by_std": False}


def original_options(config: str | Path, ema: Mapping[str, Any] | None = None) -> dict:
    """{use_ema, scale_by_std, ema} as a CompVis config sets them for its LatentDiffusion."""
    from .compvis_config import _load_yaml

    params = _load_yaml(config)["model"].get("params") or {}
    return {"use_ema": bool(params.get("use_ema", True)),
            "scale_by_std": bool(params.get("scale_by_std", False)), "ema": ema}


def save_diffusers(model: Any, dst: str | Path, *, conditioner: str | None = None) -> Path:
    return write_diffusers(compvis_state(model, conditioner), dst, spec=model.spec,
                           spec_text=spec_json(model.spec))


def infer_format(dst: str | Path) -> str:
    dst = Path(dst)
    if dst.suffix in (".ckpt", ".pt", ".pth"):
        return "compvis"
    if dst.suffix == ".safetensors":
        return "native"
    return "diffusers"


def save_as(model: Any, dst: str | Path, to: str | None = None, *,
            conditioner: str | None = None, original: Mapping[str, Any] | None = None) -> Path:
    """`original` (compvis only): see save_compvis / original_options(config.yaml)."""
    to = to or infer_format(dst)
    if to == "native":
        if Path(dst).suffix != ".safetensors":
            raise CheckpointError(f"{dst}: a native checkpoint ends in .safetensors")
        return save(model, dst)
    if to == "compvis":
        return save_compvis(model, dst, conditioner=conditioner, original=original)
    if to == "diffusers":
        return save_diffusers(model, dst, conditioner=conditioner)
    raise CheckpointError(f"unknown format '{to}' (formats: {', '.join(FORMATS)})")
