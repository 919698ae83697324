"""Which models the studio serves, by card name: task, inputs and vocabulary for the page.

A model is only ever chosen by one of these names (never by a path a client sends). The
inputs come from the one input layer (`ldmcore.inputs.model_inputs`), as for `ldm inputs`.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, LdmError


@dataclass
class ModelEntry:
    """One served model: its card name, what it is, and its resolved spec (not built)."""

    name: str
    task: str
    description: str
    spec: Any  # the validated spec (ldmcore.spec), read once
    formats: dict  # key -> InputFormat
    classes: list[dict] = field(default_factory=list)  # [{"name", "id", "color"}]
    palette: list[list[int]] | None = None  # segmentation id -> RGB
    source: str = ""  # what the worker opens (the card name; a spec file in tests)

    @property
    def opens(self) -> str:
        return self.source or self.name

    def public(self) -> dict:
        """What GET /api/models tells the page."""
        spec = self.spec
        return {
            "name": self.name, "task": self.task, "description": self.description,
            "image_size": spec.image_size, "image_channels": spec.image_channels,
            "factor": spec.first_stage.params.latent_port().factor,
            "sampler": spec.sampler.type, "steps": spec.sampler.params.steps,
            "scale": getattr(spec.guider.params, "scale", None),
            "inputs": [{"key": f.key, "option": f.flag, "kind": f.kind, "format": f.describe,
                        "num_classes": f.num_classes, "scale": f.scale}
                       for f in self.formats.values()],
            "classes": self.classes, "palette": self.palette,
            "max_objects": _max_objects(spec),
        }


def card_names() -> list[str]:
    """Every card in registry/models (the working directory's, else this checkout's)."""
    from ..sources.card import CARDS

    roots = [CARDS, Path(__file__).resolve().parents[2] / CARDS]
    root = next((r for r in roots if r.is_dir()), None)
    return sorted(p.stem for p in root.glob("*.yaml")) if root else []


def load_catalog(names: Sequence[str] = ()) -> dict[str, ModelEntry]:
    """name -> entry for the given card names (default: every card with a trained denoiser).
    A name that is not a card is an error naming it."""
    from ..sources import resolve
    from ..sources.card import find_card

    explicit = bool(names)
    out: dict[str, ModelEntry] = {}
    for name in names or card_names():
        if find_card(name) is None:
            raise CheckpointError(f"{name}: not a model card in registry/models (`ldm serve` "
                                  "serves models by card name only)")
        source = resolve(name)
        if not source.trained_denoiser:
            if explicit:
                raise CheckpointError(f"{name}: an autoencoder card has no denoiser to sample")
            continue
        out[name] = entry(name, name, source.card or {})
    return out


def entry(name: str, source: str, card: dict | None = None) -> ModelEntry:
    """The entry serving `source` (a card name; tests also serve spec files) as `name`."""
    from ..cli.inputs_cmd import model_spec
    from ..inputs import model_inputs

    card = card or {}
    _, spec = model_spec(source, [])
    formats = model_inputs(spec)
    return ModelEntry(
        name=name, task=str(card.get("task") or spec.task.type),
        description=str(card.get("description") or f"{source} (untrained weights)"),
        spec=spec, formats=formats, classes=_classes(spec, formats), palette=_palette(spec),
        source=source,
    )


def _dataset(spec: Any):
    return spec.training.dataset.params if spec.training is not None else None


def _palette(spec: Any) -> list[list[int]] | None:
    dataset = _dataset(spec)
    palette = dataset.palette() if dataset is not None else None
    return [list(map(int, rgb)) for rgb in palette] if palette else None


def _max_objects(spec: Any) -> int | None:
    dataset = _dataset(spec)
    return getattr(dataset, "max_objects", None)


def _class_names(dataset: Any) -> list[str]:
    """The names the dataset's `parse_input` reads: its own `class_names()` if it has one,
    else the shapes world's 'colour shape' pairs (from its `shapes`/`colors` fields)."""
    names = getattr(dataset, "class_names", None)
    if callable(names):
        return [str(n) for n in names()]
    shapes, colors = getattr(dataset, "shapes", None), getattr(dataset, "colors", None)
    if shapes and colors:
        return [f"{c} {s}" for s in shapes for c in colors]
    return []


def _classes(spec: Any, formats: dict) -> list[dict]:
    """Class picker entries for class and boxes inputs: name, id, a display colour."""
    if not any(f.kind in ("class", "boxes") for f in formats.values()):
        return []
    dataset = _dataset(spec)
    if dataset is None:
        return []
    palette = _palette(spec) or []
    out = []
    for name in _class_names(dataset):
        try:
            cls = int(dataset.parse_input("class", name))
        except (LdmError, ValueError, TypeError, LookupError):
            continue
        # a segmentation palette lists id 0 = background, then class c at c + 1
        rgb = palette[cls + 1] if 0 <= cls + 1 < len(palette) else _hue(cls)
        out.append({"name": name, "id": cls, "color": "#" + "".join(f"{v:02x}" for v in rgb)})
    return out


def _hue(i: int) -> list[int]:
    r, g, b = colorsys.hsv_to_rgb((i * 0.618) % 1.0, 0.7, 0.9)
    return [round(255 * r), round(255 * g), round(255 * b)]
