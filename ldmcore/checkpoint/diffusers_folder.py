"""Read and write diffusers folders (unet/, vae/ or vqvae/, text_encoder/) as CompVis state dicts.

Reading gives CompVis keys (`model.diffusion_model.*`, `first_stage_model.*`, `scale_factor`,
`cond_stage_model.transformer.*`), so every format goes through one path into the model.
Writing produces folders diffusers' `from_pretrained` opens (config.json + safetensors); what
diffusers has no place for (learned nulls, other conditioners, the spec) goes to ldmcore/.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from .diffusers_config import unet_config, vae_config
from .diffusers_keys import (
    unet_compvis_to_diffusers,
    unet_diffusers_to_compvis,
    vae_compvis_to_diffusers,
    vae_diffusers_to_compvis,
)
from .readers import read_file, read_safetensors

WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "model.safetensors",
                "diffusion_pytorch_model.bin", "pytorch_model.bin")
UNET_CLASSES = ("UNet2DConditionModel", "UNet2DModel")
VAE_CLASSES = ("AutoencoderKL", "VQModel")


def _config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable config ({exc})") from None


def _weights(folder: Path) -> dict:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return read_file(folder / name)[0]
    for index in sorted(folder.glob("*.safetensors.index.json")):  # sharded checkpoints
        try:
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{index}: unreadable shard index ({exc})") from None
        state: dict = {}
        for f in files:
            if not (folder / f).is_file():
                raise CheckpointError(f"{index}: shard {f} is missing")
            state.update(read_safetensors(folder / f)[0])
        return state
    raise CheckpointError(f"{folder}: no weights file ({', '.join(WEIGHT_NAMES)})")


def is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and (
        (path / "model_index.json").is_file()
        or any((path / sub / "config.json").is_file() for sub in ("unet", "vae", "vqvae"))
        or _config(path).get("_class_name") in (*UNET_CLASSES, *VAE_CLASSES)
        or (path / "ldmcore" / "spec.json").is_file()
    )


def _add_unet(out: dict, folder: Path) -> None:
    for k, v in unet_diffusers_to_compvis(_weights(folder)).items():
        out["model.diffusion_model." + k] = v


def _add_vae(out: dict, folder: Path) -> None:
    import torch

    for k, v in vae_diffusers_to_compvis(_weights(folder)).items():
        out["first_stage_model." + k] = v
    cfg = _config(folder)
    if cfg.get("scaling_factor") is not None:
        out["scale_factor"] = torch.tensor(float(cfg["scaling_factor"]))
    if cfg.get("shift_factor"):
        out["ldmcore.first_stage.shift_factor"] = torch.tensor(float(cfg["shift_factor"]))


def read_diffusers(path: str | Path) -> tuple[dict, dict[str, str]]:
    """A diffusers pipeline folder or a bare model folder -> (CompVis-keyed state, metadata)."""
    path = Path(path)
    out: dict[str, Any] = {}
    meta: dict[str, str] = {}
    cls = _config(path).get("_class_name")
    if cls in UNET_CLASSES:
        _add_unet(out, path)
    elif cls in VAE_CLASSES:
        _add_vae(out, path)
    else:
        if (path / "unet").is_dir():
            _add_unet(out, path / "unet")
        for sub in ("vae", "vqvae"):
            if (path / sub).is_dir():
                _add_vae(out, path / sub)
        if (path / "text_encoder").is_dir():
            for k, v in _weights(path / "text_encoder").items():
                out["cond_stage_model.transformer." + k] = v
    extra = path / "ldmcore"
    if (extra / "extra.safetensors").is_file():
        out.update(read_safetensors(extra / "extra.safetensors")[0])
    if (extra / "spec.json").is_file():
        meta["ldmcore.spec"] = (extra / "spec.json").read_text()
    if not out:
        raise CheckpointError(f"{path}: no unet/, vae/ or vqvae/ weights in this diffusers folder")
    return out, meta


def _save_component(folder: Path, config: dict, state: dict) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(_contiguous(state), str(folder / WEIGHT_NAMES[0]))


def _contiguous(state: dict) -> dict:
    out, seen = {}, set()
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if v.data_ptr() in seen and v.numel():
            v = v.clone()  # safetensors refuses tensors that share memory
        seen.add(v.data_ptr())
        out[k] = v
    return out


def _scheduler_config(diffusion: Any) -> dict:
    """DDIMScheduler settings that reproduce CompVis DDIM (DESIGN.md §7)."""
    schedules = {"linear": "scaled_linear", "scaled_linear": "scaled_linear",
                 "sqrt_linear": "linear", "cosine": "squaredcos_cap_v2"}
    prediction = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}
    return {
        "_class_name": "DDIMScheduler", "num_train_timesteps": diffusion.timesteps,
        "beta_schedule": schedules[diffusion.schedule], "beta_start": diffusion.linear_start,
        "beta_end": diffusion.linear_end, "prediction_type": prediction[diffusion.prediction],
        "steps_offset": 1, "set_alpha_to_one": False, "clip_sample": False,
    }


def write_diffusers(compvis: dict, dst: str | Path, *, spec: Any = None,
                    spec_text: str | None = None) -> Path:
    """Write a CompVis-keyed state dict as a diffusers folder (atomically: temp + rename)."""
    dst = Path(dst)
    if dst.exists() and not (dst.is_dir() and not any(dst.iterdir())):
        raise CheckpointError(f"{dst}: already exists; choose a new folder")
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write(compvis, tmp, spec, spec_text)
        if dst.exists():
            dst.rmdir()
        os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def _write(compvis: dict, root: Path, spec: Any, spec_text: str | None) -> None:
    from safetensors.torch import save_file

    unet = {k[len("model.diffusion_model."):]: v for k, v in compvis.items()
            if k.startswith("model.diffusion_model.")}
    vae = {k[len("first_stage_model."):]: v for k, v in compvis.items()
           if k.startswith("first_stage_model.")}
    rest = {k: v for k, v in compvis.items() if not k.startswith(
        ("model.diffusion_model.", "first_stage_model.", "scale_factor",
         "ldmcore.first_stage.shift_factor"))}
    index = {"_class_name": "DiffusionPipeline", "_ldmcore": True}
    if unet:
        params = spec.denoiser.params if spec is not None else None
        _save_component(root / "unet", unet_config(unet, params), unet_compvis_to_diffusers(unet))
        index["unet"] = ["diffusers", "UNet2DConditionModel"]
    if vae:
        scale = float(compvis.get("scale_factor", 1.0))
        shift = float(compvis.get("ldmcore.first_stage.shift_factor", 0.0))
        params = spec.first_stage.params if spec is not None else None
        cfg = vae_config(vae, scale, shift, params)
        sub = "vqvae" if cfg["_class_name"] == "VQModel" else "vae"
        _save_component(root / sub, cfg, vae_compvis_to_diffusers(vae))
        index[sub] = ["diffusers", cfg["_class_name"]]
    if spec is not None:
        (root / "scheduler").mkdir()
        (root / "scheduler" / "scheduler_config.json").write_text(
            json.dumps(_scheduler_config(spec.diffusion), indent=2) + "\n")
        index["scheduler"] = ["diffusers", "DDIMScheduler"]
    (root / "ldmcore").mkdir()
    if rest:
        save_file(_contiguous(rest), str(root / "ldmcore" / "extra.safetensors"))
    if spec_text:
        (root / "ldmcore" / "spec.json").write_text(spec_text)
    (root / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
