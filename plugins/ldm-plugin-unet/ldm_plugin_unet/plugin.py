"""Registers the `unet` denoiser. No torch at import time (`ldm plugins` stays fast)."""

from __future__ import annotations

from typing import Any

from ldmcore.plugins import hookimpl

from .params import UNetParams


def build_unet(params: UNetParams, ctx: Any):
    from ldmcore.errors import SpecError

    from .unet import UNetModel

    if params.num_classes is not None and params.vector_dim not in (None, 1):
        raise SpecError(f"denoiser.params.num_classes {params.num_classes} takes class ids "
                        f"(vector dim 1), but the vector wiring gives {params.vector_dim}")
    try:
        return UNetModel(params)
    except ValueError as exc:
        raise SpecError(f"denoiser.params: {exc}") from None


@hookimpl
def ldmcore_register_components(register):
    register(
        "denoiser", "unet", UNetParams, build_unet,
        description="CompVis/SD openaimodel UNet: ResBlocks, AttentionBlock or "
        "SpatialTransformer cross-attention, label_emb; loads LDM/SD checkpoints",
    )
