"""Open a model from what a user names: a native .safetensors, a model card, a training
checkpoint (`RUN/checkpoints/step_*.pt`), or a spec."""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import CheckpointError


def resolve_weights(name: str) -> Path | None:
    """The weights file a name stands for: a .safetensors path, or a model card's weights."""
    path = Path(name)
    if path.suffix == ".safetensors":
        return path
    from .cards import find_card

    card = find_card(name)
    if card is not None:
        import yaml

        weights = yaml.safe_load(card.read_text()).get("weights")
        if not weights:
            raise CheckpointError(f"{card}: no 'weights' entry")
        return card.parent / weights
    return None


def is_training_checkpoint(name: str) -> bool:
    return Path(name).suffix == ".pt"


def is_first_stage_export(name: str) -> bool:
    """Whether `name` holds first-stage weights only (an autoencoder, no denoiser)."""
    from .checkpoint.native import read_metadata
    from .training.first_stage_io import PART_KEY

    if is_training_checkpoint(name):
        from .training.checkpointing import load_checkpoint

        return load_checkpoint(name, mmap=True).get("stage") == "first_stage"
    weights = resolve_weights(name)
    return weights is not None and read_metadata(weights).get(PART_KEY) == "first_stage"


def open_training_checkpoint(path: str, overrides: list[str] | tuple[str, ...] = ()):
    """A `ldm train` checkpoint as a model: its own spec, its weights (EMA where it kept one,
    as the run's export would be); a first-stage checkpoint fills the first stage only."""
    import json

    from . import build
    from .training.checkpointing import exported_weights, load_checkpoint

    state = load_checkpoint(path)
    spec = json.loads(state["spec"])
    spec["first_stage"]["checkpoint"] = None  # the weights below replace it
    model = build(spec, overrides)
    if state["stage"] == "first_stage":
        model.first_stage.load_state_dict(state["model"])
    else:
        model.load_state_dict(exported_weights(state))
    return model


def open_model(name: str, overrides: list[str] | tuple[str, ...] = ()):
    """A .safetensors loads with its weights; a card name resolves to its weights file; a
    first-stage export builds its spec around those weights (the denoiser stays untrained); a
    training checkpoint (.pt) builds its spec with its weights; a spec (.yaml) builds with
    untrained weights (and says so)."""
    from . import build, load

    if is_training_checkpoint(name):
        return open_training_checkpoint(name, overrides)

    weights = resolve_weights(name)
    if weights is not None:
        if is_first_stage_export(name):
            import json

            from .checkpoint.native import SPEC_KEY, read_metadata

            spec = json.loads(read_metadata(weights)[SPEC_KEY])
            return build(spec, [*overrides, f"first_stage.checkpoint={weights}"])
        return load(weights, overrides)
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        print(f"note: {name} is a spec: sampling with untrained weights", file=sys.stderr)
        return build(path, overrides)
    raise CheckpointError(f"{name}: not a .safetensors model, a model card in registry/models, "
                          "a training checkpoint (.pt) or a .yaml spec")
