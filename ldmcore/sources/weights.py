"""Build a model from a spec and load a checkpoint of any format into it.

    model = from_checkpoint("v1-5-pruned.ckpt", "configs/sd15.yaml")

Layer: sources (above the builder and the checkpoint layer it composes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..builder import build
from ..checkpoint.loading import Checkpoint, load_checkpoint, read_checkpoint
from ..errors import CheckpointError


def from_checkpoint(
    source: str | Path | Checkpoint,
    spec: str | Path | Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    *,
    registry: Any = None,
    **load_options: Any,
) -> Any:
    """Build the model `spec` describes (or the spec stored in the checkpoint) and load it
    strictly; the load report is kept as `model.load_report`."""
    ckpt = source if isinstance(source, Checkpoint) else read_checkpoint(source)
    spec_name = None  # a path names itself in messages; a stored spec is named by its file
    if spec is None:
        spec, spec_name = ckpt.spec, ckpt.source
        if spec is None:
            raise CheckpointError(
                f"{ckpt.source}: a {ckpt.format} checkpoint does not say its architecture; give "
                "the spec it was trained with (`ldm generate/eval SPEC.yaml --checkpoint FILE`, "
                "`ldm convert FILE DST --spec SPEC.yaml`, or spec= in Python)"
            )
    model = build(spec, overrides, registry=registry, name=spec_name)
    model.load_report = load_checkpoint(model, ckpt, **load_options)
    return model
