"""`ldm train`: one loop for both stages (first-stage autoencoder, latent diffusion).

    from ldmcore.training import train
    train("configs/kl_f4_shapes.yaml", stage="first_stage")

Modules: loop (the loop), objectives (what is optimised per stage), data (resumable order),
checkpointing, ema, distributed, scale_factor, metrics, images, plot, stage. First-stage exports
are ldmcore.checkpoint.first_stage (the builder reads them too).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy: importing the package does not import torch
    if name in ("train", "Trainer", "TrainResult"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'ldmcore.training' has no attribute '{name}'")


__all__ = ["train", "Trainer", "TrainResult"]
