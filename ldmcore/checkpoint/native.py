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
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    metadata = {SPEC_KEY: spec_json(model.spec), "format": "ldmcore", **(extra_metadata or {})}
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


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
         device: str | None = None):
    """Rebuild the model from the spec stored in the file, then load its weights strictly."""
    from safetensors.torch import load_file

    from ..builder import build
    from .report import load_strict

    meta = read_metadata(path)
    if SPEC_KEY not in meta:
        raise CheckpointError(f"{path}: no ldmcore spec in metadata; use `ldm convert` first")
    model = build(json.loads(meta[SPEC_KEY]), overrides, registry=registry)
    try:
        state = load_file(str(path), device=device or "cpu")
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read tensors ({exc})") from None
    load_strict(model, state, source=str(path))
    return model.to(device) if device else model
