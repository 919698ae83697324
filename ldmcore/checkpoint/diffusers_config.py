"""diffusers `config.json` for our UNet / autoencoder, from tensor shapes plus the spec's heads.

Shapes give channels, levels, attention placement, context width and proj_in kind; the number
of heads is not in any shape, so it comes from the denoiser params (CompVis names: num_heads,
num_head_channels). diffusers' `attention_head_dim` of UNet2DConditionModel holds the number of
heads per level (a historical misnomer it keeps for compatibility).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import CheckpointError
from .variants import inspect_checkpoint


def _heads(params: Any, widths: list[int]) -> list[int]:
    head_channels = getattr(params, "num_head_channels", -1) or -1
    num_heads = getattr(params, "num_heads", -1) or -1
    if head_channels and head_channels > 0:
        return [w // head_channels for w in widths]
    if num_heads and num_heads > 0:
        return [num_heads] * len(widths)
    raise CheckpointError("denoiser params give neither num_heads nor num_head_channels")


def unet_config(unet: Mapping[str, Any], params: Any = None) -> dict[str, Any]:
    """UNet2DConditionModel config for a CompVis UNet state dict (no `model.diffusion_model.`)."""
    f = inspect_checkpoint(unet)
    if "unet.channel_mult" not in f:
        raise CheckpointError("UNet layout not recognised (no strided-conv downsamplers)")
    mc, mult, L = f["unet.model_channels"], f["unet.channel_mult"], f["unet.num_res_blocks"]
    widths = [mc * m for m in mult]
    per = L + 1
    attends = [f"input_blocks.{1 + lvl * per}.1.proj_in.weight" in unet for lvl in range(len(mult))]
    if any(k.endswith(".qkv.weight") for k in unet):
        raise CheckpointError("UNets with AttentionBlock (qkv) have no UNet2DConditionModel layout")
    depths = [_depth(unet, f"input_blocks.{1 + lvl * per}.1.") for lvl in range(len(mult))]
    heads = _heads(params, widths) if any(attends) or "middle_block.1.proj_in.weight" in unet \
        else [1] * len(widths)
    cfg: dict[str, Any] = {
        "_class_name": "UNet2DConditionModel",
        "in_channels": f["unet.in_channels"],
        "out_channels": f["unet.out_channels"],
        "block_out_channels": widths,
        "layers_per_block": L,
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attends],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in attends[::-1]],
        "mid_block_type": "UNetMidBlock2DCrossAttn" if "middle_block.1.proj_in.weight" in unet
        else None,
        "cross_attention_dim": f.get("unet.context_dim", widths[-1]),
        "attention_head_dim": heads,
        "use_linear_projection": f.get("unet.proj_in") == "linear",
        "transformer_layers_per_block": depths,
        "norm_num_groups": _groups(params),
        "flip_sin_to_cos": True,
        "freq_shift": 0,
    }
    if "unet.num_classes" in f:
        cfg["num_class_embeds"] = f["unet.num_classes"]
    if "unet.adm_in_channels" in f:
        cfg["class_embed_type"] = "projection"
        cfg["projection_class_embeddings_input_dim"] = f["unet.adm_in_channels"]
    return cfg


def _depth(unet: Mapping[str, Any], prefix: str) -> int:
    """BasicTransformerBlocks in the SpatialTransformer at `prefix` (1 where there is none)."""
    pat = re.compile(re.escape(prefix) + r"transformer_blocks\.(\d+)\.")
    found = {int(m.group(1)) for k in unet if (m := pat.match(k))}
    return max(found) + 1 if found else 1


def _groups(params: Any) -> int:
    """GroupNorm groups: CompVis fixes 32; tiny test configs may set fewer in their params."""
    for name in ("norm_groups", "num_groups", "norm_num_groups", "groups"):
        if isinstance(getattr(params, name, None), int):
            return getattr(params, name)
    return 32


def vae_config(vae: Mapping[str, Any], scale_factor: float, shift_factor: float,
               params: Any = None) -> dict[str, Any]:
    """AutoencoderKL / VQModel config for a CompVis autoencoder state dict."""
    f = inspect_checkpoint(vae)
    if "first_stage.levels" not in f:
        raise CheckpointError("autoencoder layout not recognised (no encoder.down.*)")
    levels = f["first_stage.levels"]
    widths = [int(vae[f"encoder.down.{i}.block.0.conv1.weight"].shape[0]) for i in range(levels)]
    blocks = {int(m.group(1)) for k in vae if (m := re.match(r"encoder\.down\.0\.block\.(\d+)", k))}
    cfg: dict[str, Any] = {
        "in_channels": f["first_stage.in_channels"],
        "out_channels": int(vae["decoder.conv_out.weight"].shape[0]),
        "block_out_channels": widths,
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "layers_per_block": max(blocks) + 1,
        "latent_channels": f["first_stage.z_channels"],
        "norm_num_groups": _groups(params),
        "scaling_factor": scale_factor,
        "mid_block_add_attention": bool(f.get("first_stage.mid_attention")),
        "sample_size": 32,
    }
    if f.get("first_stage.kind") == "vq":
        cfg["_class_name"] = "VQModel"
        cfg["num_vq_embeddings"] = f["first_stage.n_embed"]
        cfg["vq_embed_dim"] = f["first_stage.embed_dim"]
    else:
        cfg["_class_name"] = "AutoencoderKL"
        if shift_factor:
            cfg["shift_factor"] = shift_factor
    return cfg
