"""Open a model from what a user names: a native .safetensors, a model card, or a spec."""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import CheckpointError

CARDS = Path("registry/models")


def open_model(name: str, overrides: list[str] | tuple[str, ...] = ()):
    """A .safetensors loads with its weights; a card name resolves to its weights file; a spec
    (.yaml) builds with untrained weights (and says so)."""
    from . import build, load

    path = Path(name)
    if path.suffix == ".safetensors":
        return load(path, overrides)
    card = CARDS / f"{name}.yaml"
    if card.is_file():
        import yaml

        weights = yaml.safe_load(card.read_text()).get("weights")
        if not weights:
            raise CheckpointError(f"{card}: no 'weights' entry")
        return load(card.parent / weights, overrides)
    if path.suffix in (".yaml", ".yml"):
        print(f"note: {name} is a spec: sampling with untrained weights", file=sys.stderr)
        return build(path, overrides)
    raise CheckpointError(f"{name}: not a .safetensors model, a model card in {CARDS}, "
                          "or a .yaml spec")
