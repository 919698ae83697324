"""One resolver for every way a user names a model.

    source = resolve("shapes-txt2img")     # a card, a file, a folder, a spec: read once
    source.kind, source.part, source.task, source.inputs, source.spec
    model = source.open(["sampler.params.steps=20"])
    model = ldmcore.load("runs/x/checkpoints/step_00000500.pt")   # = resolve(...).open(...)

A new kind of name (a CompVis .ckpt with its config.yaml, a cache folder) is one small module
with a `KIND = SourceKind(name, looks_like, probe, open)`, added to `_BUILTIN` below.

Layers (an import may only point down this list; tests/core/test_layers.py checks it):
    cli, demo                    the `ldm` command
    evaluation, cards            scoring models, shipping them with a card
    sources                      this package: names -> models
    training                     `ldm train` (its checkpoint files are read here too)
    builder                      spec -> assembled model
    checkpoint                   files <-> state dicts (native, CompVis/SD, diffusers)
    core                         errors, spec, registry, plugins, interfaces, model, diffusion
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from . import card, checkpoint_file, compvis_ckpt, native_file, spec_file, training_file
from .base import KINDS, Source, SourceKind, register_kind, resolve
from .weights import from_checkpoint

# Tried in this order: a card name first (it names a file), then file kinds by their shape.
_BUILTIN = (card, training_file, native_file, compvis_ckpt, checkpoint_file, spec_file)
for _module in _BUILTIN:
    register_kind(_module.KIND)


def open_model(name: str | Path, overrides: Sequence[str] = (), **options: Any):
    """The model `name` stands for (see `resolve`), built and loaded."""
    return resolve(name).open(overrides, **options)


UNTRAINED = "untrained weights: a spec without --checkpoint (random initialisation)"


@dataclass
class Opened:
    """A model opened for use, the source its weights came from, and what to tell the user."""

    source: Source
    model: Any
    notes: list[str] = field(default_factory=list)


def open_for_use(name: str | Source, overrides: Sequence[str] = (),
                 checkpoint: str | Source | None = None,
                 **options: Any) -> Opened:
    """What `ldm generate/eval NAME [--checkpoint FILE]` open: NAME alone, or a spec NAME with
    the weights of FILE (any format) loaded strictly into it."""
    source = resolve(name)
    if checkpoint is None:
        model = source.open(overrides, **options)
        return Opened(source, model, [UNTRAINED] if source.untrained else [])
    weights = resolve(checkpoint)
    if source.kind != "spec":
        raise CheckpointError(f"--checkpoint {weights.name}: needs a .yaml spec to build into, "
                              f"got '{source.name}' (a model file carries its own weights)")
    model = weights.open(overrides, spec=source.path, **options)
    report = getattr(model, "load_report", None)
    return Opened(weights, model, [f"checkpoint: {n}" for n in getattr(report, "notes", [])])


def load(path: str | Path, overrides: Sequence[str] = (), *, registry=None,
         device: str | None = None, spec=None, **options):
    """`ldmcore.load`: any name `resolve` knows. With `spec=` a checkpoint that does not carry
    its spec (CompVis/SD .ckpt, a diffusers folder) loads into that spec's model; with
    `config=` a CompVis/SD config.yaml is translated into the spec (options: ema, strict,
    conditioner, parts; see ldmcore.checkpoint.loading)."""
    source = resolve(path)
    if options.get("config") is not None and spec is None and source.kind == "checkpoint":
        # a lone CompVis/SD checkpoint with the config.yaml it was released with
        model = compvis_ckpt.open_compvis(source, list(overrides), registry=registry, **options)
    else:
        model = source.open(overrides, spec=spec, registry=registry, **options)
    return model.to(device) if device else model


__all__ = ["KINDS", "UNTRAINED", "Opened", "Source", "SourceKind", "from_checkpoint", "load",
           "open_for_use", "open_model", "register_kind", "resolve"]
