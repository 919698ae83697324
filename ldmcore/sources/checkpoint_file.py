"""Weights in another layout: a CompVis / Stable Diffusion .ckpt or .safetensors, a plain
state-dict pickle, or a diffusers folder. They open with the spec they carry when `ldm convert`
wrote one, else with the spec the user gives (`spec=`; `ldm generate SPEC --checkpoint FILE`)."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint.diffusers_folder import is_diffusers_folder
from ..checkpoint.loading import read_checkpoint
from ..checkpoint.readers import PICKLE_SUFFIXES
from .base import Source, SourceKind
from .weights import from_checkpoint

SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)


def probe(name: str) -> Source | None:
    """Claims the name by its shape only; the file is read once, when opened."""
    path = Path(name)
    if path.is_dir():
        return Source(name, "checkpoint", path) if is_diffusers_folder(path) else None
    if path.suffix not in SUFFIXES or not path.exists():
        return None
    return Source(name, "checkpoint", path)


def open_checkpoint(source: Source, overrides: list[str], *, spec=None, registry=None,
                    **load_options):
    return from_checkpoint(read_checkpoint(source.path), spec, overrides, registry=registry,
                           **load_options)


KIND = SourceKind("checkpoint", "a CompVis/SD .ckpt or .safetensors, or a diffusers folder "
                  "(with its spec: SPEC.yaml --checkpoint FILE)", probe, open_checkpoint)
