"""A bare spec (.yaml): the model it describes with untrained weights, unless weights are given
(`ldm eval SPEC --checkpoint FILE`: any format, loaded strictly into the spec's model)."""

from __future__ import annotations

from pathlib import Path

from ..builder import build
from ..errors import SpecError
from .base import Source, SourceKind

SUFFIXES = (".yaml", ".yml")


def probe(name: str) -> Source | None:
    path = Path(name)
    if path.suffix not in SUFFIXES:
        return None
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}")
    return Source(name, "spec", path, untrained=True)


def open_spec(source: Source, overrides: list[str], *, checkpoint=None, spec=None,
              registry=None, **load_options):
    if spec is not None:
        raise SpecError(f"{source.path}: a spec file is its own spec; spec= is for weights")
    if checkpoint is None:
        return build(source.path, overrides, registry=registry)
    from .base import resolve

    weights = resolve(checkpoint)
    return weights.open(overrides, spec=source.path, registry=registry, **load_options)


KIND = SourceKind("spec", "a spec (configs/txt2img.yaml: untrained weights)", probe, open_spec)
