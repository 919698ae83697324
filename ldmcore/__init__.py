"""ldmcore: Latent Diffusion Models assembled from plugins by a YAML graph spec.

    import ldmcore
    model = ldmcore.build("configs/layout2img.yaml")
    images = model.sample({"boxes": boxes})

Importing ldmcore is cheap: torch loads only when a model is built or loaded.
"""

from __future__ import annotations

from typing import Any

from .errors import CheckpointError, DataError, LdmError, PluginError, SamplingError, SpecError

__version__ = "0.1.0"

_LAZY = {
    "build": ("ldmcore.builder", "build"),
    "load": ("ldmcore.sources", "load"),
    "save": ("ldmcore.checkpoint.native", "save"),
    "resolve_spec": ("ldmcore.spec.resolve", "resolve_spec"),
    "LatentDiffusion": ("ldmcore.model", "LatentDiffusion"),
    "NoiseSchedule": ("ldmcore.diffusion.schedule", "NoiseSchedule"),
    "Conditioning": ("ldmcore.conditioning", "Conditioning"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'ldmcore' has no attribute '{name}'")


__all__ = [
    "LdmError",
    "SpecError",
    "PluginError",
    "CheckpointError",
    "DataError",
    "SamplingError",
    *_LAZY,
]
