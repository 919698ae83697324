"""Which stage `ldm train` trains, and which first-stage weights the diffusion stage uses.

- `--stage` (or `training.stage`) decides when given.
- A first stage with nothing to train (identity, no `make_loss`) -> diffusion.
- A trainable first stage with `first_stage.checkpoint` set -> diffusion.
- Otherwise the user must choose; `--stage diffusion` then takes the first-stage export of the
  same spec's first-stage run (`<output_dir>/first_stage/first_stage.safetensors`) if present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint.first_stage import EXPORT_NAME
from ..errors import SpecError

STAGES = ("first_stage", "diffusion")


def run_dir(spec: Any, stage: str) -> Path:
    """Each stage of a spec trains into its own directory under `training.output_dir`."""
    from ..spec.training import for_stage

    return Path(for_stage(spec.training, stage).output_dir) / stage


def is_trainable(first_stage: Any) -> bool:
    return callable(getattr(first_stage, "make_loss", None)) and any(
        p.requires_grad for p in first_stage.parameters())


def choose_stage(spec: Any, first_stage: Any, requested: str | None) -> str:
    requested = requested or spec.training.stage
    kind = spec.first_stage.type
    trainable = is_trainable(first_stage)
    if requested == "first_stage" and not trainable:
        raise SpecError(f"first_stage '{kind}' has nothing to train; use --stage diffusion")
    if requested:
        return requested
    if not trainable or spec.first_stage.checkpoint:
        return "diffusion"
    export = run_dir(spec, "first_stage") / EXPORT_NAME
    found = f" ({export} exists)" if export.is_file() else ""
    raise SpecError(
        f"first_stage '{kind}' has no checkpoint: choose --stage first_stage to train it, or "
        f"--stage diffusion to train the LDM on a trained one{found}"
    )


def first_stage_weights(spec: Any, first_stage: Any) -> Path | None:
    """The file the diffusion stage loads the first stage from (None: use it as built)."""
    if spec.first_stage.checkpoint:
        return Path(spec.first_stage.checkpoint)
    if not is_trainable(first_stage):
        return None
    export = run_dir(spec, "first_stage") / EXPORT_NAME
    if export.is_file():
        return export
    raise SpecError(
        f"first_stage '{spec.first_stage.type}' is untrained: set first_stage.checkpoint, or "
        f"train it first with --stage first_stage (its weights go to {export})"
    )
