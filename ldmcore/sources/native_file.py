"""ldmcore's own .safetensors: a whole model, or a first-stage (autoencoder) export. The spec
travels in the file's metadata, so the header alone says what it is."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint.first_stage import is_first_stage
from ..checkpoint.loading import Checkpoint
from ..checkpoint.native import read_metadata, read_tensors, stored_spec
from .base import Source, SourceKind
from .shared_first_stage import attach
from .weights import from_checkpoint


def probe(name: str) -> Source | None:
    path = Path(name)
    if path.suffix != ".safetensors":
        return None
    meta = read_metadata(path)  # raises for a missing or unreadable file
    if meta.get("format") != "ldmcore":
        return None  # a CompVis / SD .safetensors: the checkpoint kind
    part = "first_stage" if is_first_stage(meta) else "model"
    return Source(name, "native", path, part, metadata=meta, spec=stored_spec(path, meta))


def _checkpoint(source: Source) -> Checkpoint:
    state = read_tensors(source.path)
    if source.part == "first_stage":  # an export holds the autoencoder's own keys
        state = {f"first_stage.{k}": v for k, v in state.items()}
    else:  # a shipped model may name a first-stage card instead of embedding it
        state = attach(state, source.metadata, Path(source.path))
    return Checkpoint(state, source.metadata, "native", str(source.path))


def open_native(source: Source, overrides: list[str], *, spec=None, registry=None,
                **load_options):
    """Its own spec (or `spec=`), its weights loaded strictly. A first-stage export builds the
    spec it was trained in around its weights (the denoiser stays untrained)."""
    if source.part == "first_stage" and spec is None:
        overrides = [*overrides, "first_stage.checkpoint=null"]  # these weights replace it
    return from_checkpoint(_checkpoint(source), spec, overrides, registry=registry,
                           **load_options)


KIND = SourceKind("native", "an ldmcore model.safetensors or first_stage.safetensors", probe,
                  open_native)
