"""First-stage exports: an autoencoder's own weights as one native file.

Rule: a first-stage run exports `run_dir/first_stage.safetensors`, an ldmcore native file whose
keys are those of the first-stage module itself (`encoder.conv_in.weight`, ..., `scale_factor`,
`shift_factor`; no prefix) and whose metadata holds the resolved spec plus
`ldmcore.part = first_stage`. `first_stage.checkpoint` in a spec may name such a file or a full
ldmcore model file (`model.safetensors`; its `first_stage.*` keys are taken). Other formats
(CompVis .ckpt, diffusers folders) go through `ldm convert` first.

Layer: checkpoint (below the builder, which loads `first_stage.checkpoint` through this module).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from torch import nn

from ..errors import CheckpointError
from ..spec.diff import spec_diff
from .native import SPEC_KEY, read_metadata, read_tensors, save
from .report import load_strict

PART_KEY = "ldmcore.part"
EXPORT_NAME = "first_stage.safetensors"


def is_first_stage(metadata: dict[str, str]) -> bool:
    return metadata.get(PART_KEY) == "first_stage"


def export_first_stage(first_stage: nn.Module, spec: Any, path: str | Path,
                       extra: dict[str, str] | None = None) -> Path:
    meta = {PART_KEY: "first_stage", **(extra or {})}
    return save(SimpleNamespace(spec=spec), path, state_dict=first_stage.state_dict(),
                extra_metadata=meta)


def _node(spec_json: str | None) -> dict:
    node = dict(json.loads(spec_json).get("first_stage", {})) if spec_json else {}
    node.pop("checkpoint", None)
    return node


def first_stage_state(path: Path, metadata: dict[str, str], state: dict) -> dict:
    """The first-stage module's own keys from an export or a full model file's `first_stage.*`."""
    if is_first_stage(metadata):
        return state
    own = {k[len("first_stage."):]: v for k, v in state.items() if k.startswith("first_stage.")}
    if not own:
        raise CheckpointError(f"first_stage.checkpoint {path}: no first_stage.* weights")
    return own


def load_first_stage(first_stage: nn.Module, path: str | Path, spec: Any) -> None:
    """Load first-stage weights strictly from a native first-stage export or full model file."""
    path = Path(path)
    meta = read_metadata(path)  # raises CheckpointError for missing / unreadable files
    if meta.get("format") != "ldmcore":
        raise CheckpointError(f"first_stage.checkpoint {path}: not an ldmcore file; convert it "
                              "with `ldm convert` first")
    state = first_stage_state(path, meta, read_tensors(path))
    try:
        load_strict(first_stage, state, source=f"first_stage.checkpoint {path}")
    except CheckpointError as exc:
        own = spec.first_stage.model_dump(mode="json")
        own.pop("checkpoint", None)
        diff = spec_diff(_node(meta.get(SPEC_KEY)), own)
        hint = f" (it was trained with a different first_stage: {'; '.join(diff)})" if diff else ""
        raise CheckpointError(f"{exc}{hint}") from None
