"""ldmcore's own format: one safetensors file, the resolved spec in its metadata.

    ldmcore.save(model, "model.safetensors"); model = ldmcore.load("model.safetensors")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

SPEC_KEY = "ldmcore.spec"


def spec_json(spec: Any) -> str:
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True)


def save(model: Any, path: str | Path, *, state_dict: dict | None = None,
         extra_metadata: dict[str, str] | None = None) -> Path:
    """Write `model`'s weights (or `state_dict`) with its spec, atomically (temp + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = state_dict if state_dict is not None else model.state_dict()
    tensors = _plain(state)
    metadata = {SPEC_KEY: spec_json(model.spec), "format": "ldmcore", **(extra_metadata or {})}
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.chmod(0o644)  # safetensors creates 0600; a model file is meant to be shared
    os.replace(tmp, path)
    return path


def _plain(state: dict) -> dict:
    """CPU, contiguous, no two tensors sharing memory (safetensors refuses shared storage)."""
    out, seen = {}, set()
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if v.numel() and v.data_ptr() in seen:
            v = v.clone()
        seen.add(v.data_ptr())
        out[k] = v
    return out


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad files
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, registry=None,
         device: str | None = None, spec=None, **options):
    """Rebuild the model from the spec stored in the file, then load its weights strictly.

    Any format loads: with `spec=` a CompVis/SD checkpoint or a diffusers folder is read too
    (options: ema, strict, conditioner, parts; see ldmcore.checkpoint.loading).
    """
    from .loading import from_checkpoint

    model = from_checkpoint(path, spec, overrides, registry=registry, **options)
    return model.to(device) if device else model
