"""A CompVis / Stable Diffusion checkpoint with its config.yaml, as the releases ship them
(models/ldm/cin256-v2/{config.yaml, model.ckpt}): the config is translated by `ldm import`'s
importer, then the weights load strictly into that spec.

    model = ldmcore.load("models/ldm/cin256-v2/model.ckpt")                  # config beside it
    model = ldmcore.load("v2-1_768-ema-pruned.ckpt", config="v2-inference-v.yaml")
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint.compvis import read_compvis_ema
from ..checkpoint.compvis_config import import_config
from ..checkpoint.loading import read_checkpoint
from ..errors import CheckpointError
from .base import Source, SourceKind
from .checkpoint_file import SUFFIXES
from .weights import from_checkpoint

CONFIG_NAMES = ("config.yaml", "config.yml")


def sibling_config(path: Path) -> Path | None:
    """config.yaml beside the checkpoint, if it is a CompVis config (model: target:)."""
    for name in CONFIG_NAMES:
        cfg = path.with_name(name)
        if cfg.is_file():
            head = cfg.read_text(encoding="utf-8", errors="replace")[:4000]
            if "model:" in head and "target:" in head:
                return cfg
    return None


def probe(name: str) -> Source | None:
    path = Path(name)
    if path.suffix not in SUFFIXES or not path.is_file():
        return None
    cfg = sibling_config(path)
    return None if cfg is None else Source(name, "compvis", path, metadata={"config": str(cfg)})


def open_compvis(source: Source, overrides: list[str], *, config=None, spec=None,
                 registry=None, **load_options):
    """Weights + the spec its CompVis config translates to (`config=` wins over the sibling;
    `spec=` bypasses the config altogether)."""
    if spec is None:
        config = config or source.metadata.get("config")
        if config is None:
            raise CheckpointError(f"{source.path}: no config.yaml beside it; give config=")
        imported = import_config(config)
        spec = imported.spec
    ckpt = read_checkpoint(source.path)
    model = from_checkpoint(ckpt, spec, overrides, registry=registry, **load_options)
    ema = read_compvis_ema(ckpt.state)
    if ema:  # kept for `ldm convert --to compvis`, which writes them back as model_ema.*
        model.compvis_ema = ema
    return model


KIND = SourceKind("compvis", "a CompVis/SD .ckpt with its config.yaml beside it (or config=)",
                  probe, open_compvis)
