"""The diffusers config (UNet2DConditionModel / UNet2DModel) equivalent to a UNetParams.

Pure data, no diffusers import: tests feed it to diffusers as a parity oracle, and checkpoint
tools can write it next to converted weights. Variants diffusers cannot express raise ValueError.
"""

from __future__ import annotations

from typing import Any

from .params import UNetParams


def _attn_levels(p: UNetParams) -> list[bool]:
    return [2**lvl in p.attention_resolutions for lvl in range(p.levels)]


def _check_expressible(p: UNetParams) -> None:
    if p.resblock_updown:
        raise ValueError("diffusers' converter has no resblock_updown UNet")
    if p.num_heads_upsample not in (-1, p.num_heads) and p.num_head_channels == -1:
        raise ValueError("diffusers has no separate num_heads_upsample")


def diffusers_unet_config(p: UNetParams, sample_size: int = 32) -> dict[str, Any]:
    """UNet2DConditionModel config when p.context_dim is set, else a UNet2DModel config."""
    _check_expressible(p)
    widths = [p.model_channels * m for m in p.channel_mult]
    attn = _attn_levels(p)
    common: dict[str, Any] = {
        "sample_size": sample_size,
        "in_channels": p.in_channels,
        "out_channels": p.out_channels,
        "block_out_channels": widths,
        "layers_per_block": p.num_res_blocks,
        "norm_num_groups": p.norm_groups,
        "norm_eps": 1e-5,
        "downsample_padding": 1,
        "flip_sin_to_cos": True,  # cat[cos, sin]
        "freq_shift": 0,
        "resnet_time_scale_shift": "scale_shift" if p.use_scale_shift_norm else "default",
        "num_class_embeds": p.num_classes,
        "dropout": p.dropout,
    }
    if p.context_dim is not None:
        cfg = common | {
            "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn],
            "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in attn[::-1]],
            "cross_attention_dim": p.context_dim,
            # diffusers' `attention_head_dim` of UNet2DConditionModel is the number of heads
            "attention_head_dim": [p.heads_at(w)[0] for w in widths],
            "use_linear_projection": p.use_linear_in_transformer,
            "transformer_layers_per_block": [p.depth_at(lvl) for lvl in range(p.levels)],
        }
        if p.vector_dim is not None and p.num_classes is None:
            cfg |= {"class_embed_type": "projection",
                    "projection_class_embeddings_input_dim": p.vector_dim}
        return cfg
    if p.vector_dim is not None and p.num_classes is None:
        raise ValueError("diffusers' UNet2DModel has no vector (adm) conditioning")
    dims = {p.heads_at(w, up)[1] for w, up in p.attention_widths()}
    if len(dims) != 1:
        raise ValueError(f"UNet2DModel needs one head width, these params give {sorted(dims)}")
    return common | {
        "down_block_types": ["AttnDownBlock2D" if a else "DownBlock2D" for a in attn],
        "up_block_types": ["AttnUpBlock2D" if a else "UpBlock2D" for a in attn[::-1]],
        "attention_head_dim": dims.pop(),  # here: channels per head
        "attn_norm_num_groups": p.norm_groups,
        "add_attention": True,
    }
