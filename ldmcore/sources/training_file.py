"""An `ldm train` checkpoint (RUN/checkpoints/step_N.pt): its own spec, its weights (the EMA
where the run kept one, as the run's export would hold them). Read once, memory-mapped."""

from __future__ import annotations

import json
from pathlib import Path

from ..checkpoint.loading import Checkpoint
from ..checkpoint.native import SPEC_KEY
from ..training.checkpointing import exported_weights, load_checkpoint, verify
from .base import Source, SourceKind
from .weights import from_checkpoint


def probe(name: str) -> Source | None:
    path = Path(name)
    if path.suffix != ".pt":
        return None
    state = load_checkpoint(path, mmap=True)  # raises for a missing or foreign file
    part = "first_stage" if state.get("stage") == "first_stage" else "model"
    return Source(name, "training", path, part, spec=json.loads(state["spec"]), payload=state)


def open_training(source: Source, overrides: list[str], *, spec=None, registry=None,
                  **load_options):
    state = source.payload
    verify(state, source.path)  # the probe mapped it; the bytes are checked once, here
    ckpt = Checkpoint(exported_weights(state), {"format": "ldmcore", SPEC_KEY: state["spec"]},
                      "native", str(source.path))
    if spec is None:
        overrides = [*overrides, "first_stage.checkpoint=null"]  # these weights replace it
    return from_checkpoint(ckpt, spec, overrides, registry=registry, **load_options)


KIND = SourceKind("training", "an `ldm train` checkpoint (RUN/checkpoints/step_N.pt)", probe,
                  open_training)
