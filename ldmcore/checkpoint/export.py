"""Write a model in the three layouts (`ldm convert` reads any of them: ldmcore.sources.convert).

    native    one .safetensors, ldmcore keys, the resolved spec in metadata (ldmcore.save)
    compvis   .ckpt ({"state_dict": ...}) or .safetensors with model.diffusion_model. /
              first_stage_model. / cond_stage_model. prefixes, as CompVis and SD ship them
    diffusers a folder with unet/ and vae/ (config.json + safetensors) diffusers can open
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from .compvis import default_conditioner, model_to_compvis
from .diffusers_folder import _contiguous, write_diffusers
from .native import SPEC_KEY, save, spec_json

FORMATS = ("native", "compvis", "diffusers")


def compvis_state(model: Any, conditioner: str | None = None) -> dict:
    return model_to_compvis(model.state_dict(), conditioner or default_conditioner(model))


def save_compvis(model: Any, dst: str | Path, *, conditioner: str | None = None) -> Path:
    """CompVis layout; .ckpt via torch.save (plain dict of tensors), else .safetensors."""
    dst = Path(dst)
    state = _contiguous(compvis_state(model, conditioner))
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
            conditioner: str | None = None) -> Path:
    to = to or infer_format(dst)
    if to == "native":
        if Path(dst).suffix != ".safetensors":
            raise CheckpointError(f"{dst}: a native checkpoint ends in .safetensors")
        return save(model, dst)
    if to == "compvis":
        return save_compvis(model, dst, conditioner=conditioner)
    if to == "diffusers":
        return save_diffusers(model, dst, conditioner=conditioner)
    raise CheckpointError(f"unknown format '{to}' (formats: {', '.join(FORMATS)})")
