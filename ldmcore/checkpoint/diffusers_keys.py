"""Pure key mapping between diffusers' UNet2DConditionModel / AutoencoderKL layouts and CompVis.

diffusers -> CompVis is the inverse of diffusers' `convert_ldm_unet_checkpoint` /
`convert_ldm_vae_checkpoint`; CompVis -> diffusers is the same table read forwards. No diffusers
import: only names (and the 1x1-conv <-> linear reshape of the VAE attention) are involved.

CompVis UNet index arithmetic, with L = num_res_blocks (= diffusers' layers_per_block):
    input_blocks.0.0                  conv_in
    input_blocks.{1 + b(L+1) + l}     down_blocks.b.{resnets,attentions}.l     (l < L)
    input_blocks.{1 + b(L+1) + L}.0.op  down_blocks.b.downsamplers.0.conv
    output_blocks.{b(L+1) + l}        up_blocks.b.{resnets,attentions}.l       (l <= L)
    output_blocks.{b(L+1) + L}.{1|2}.conv  up_blocks.b.upsamplers.0.conv (2 if the block attends)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import CheckpointError

State = Mapping[str, Any]

# ------------------------------------------------------------------------------------ UNet
_UNET_FIXED = {
    "time_embed.0.": "time_embedding.linear_1.",
    "time_embed.2.": "time_embedding.linear_2.",
    "input_blocks.0.0.": "conv_in.",
    "out.0.": "conv_norm_out.",
    "out.2.": "conv_out.",
    "label_emb.0.0.": "class_embedding.linear_1.",  # adm / "sequential" vector conditioning
    "label_emb.0.2.": "class_embedding.linear_2.",
    "label_emb.": "class_embedding.",  # nn.Embedding of a class-conditional model
}
_RESNET = {
    "in_layers.0.": "norm1.",
    "in_layers.2.": "conv1.",
    "out_layers.0.": "norm2.",
    "out_layers.3.": "conv2.",
    "emb_layers.1.": "time_emb_proj.",
    "skip_connection.": "conv_shortcut.",
}


def _swap_prefix(rest: str, table: Mapping[str, str], what: str) -> str:
    for old, new in table.items():
        if rest.startswith(old):
            return new + rest[len(old):]
    raise CheckpointError(f"no mapping for {what} key '{rest}'")


def _invert(table: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


def _unet_layers_compvis(state: State) -> int:
    ops = [int(m.group(1)) for k in state if (m := re.match(r"input_blocks\.(\d+)\.0\.op\.", k))]
    if ops:
        return min(ops) - 1
    ins = [int(m.group(1)) for k in state if (m := re.match(r"input_blocks\.(\d+)\.", k))]
    return max(ins) if ins else 0


def unet_compvis_to_diffusers(state: State, layers_per_block: int | None = None) -> dict:
    """CompVis `model.diffusion_model.*` names (prefix removed) -> UNet2DConditionModel names."""
    L = layers_per_block if layers_per_block is not None else _unet_layers_compvis(state)
    out = {}
    for key, value in state.items():
        out[_unet_key_to_diffusers(key, L)] = value
    return out


def _unet_key_to_diffusers(key: str, L: int) -> str:
    for old, new in _UNET_FIXED.items():
        if key.startswith(old):
            return new + key[len(old):]
    if m := re.match(r"input_blocks\.(\d+)\.(\d+)\.(.*)", key):
        i, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        b, lay = divmod(i - 1, L + 1)
        if j == 0 and rest.startswith("op."):
            return f"down_blocks.{b}.downsamplers.0.conv.{rest[3:]}"
        if j == 0:
            return f"down_blocks.{b}.resnets.{lay}.{_swap_prefix(rest, _RESNET, 'ResBlock')}"
        return f"down_blocks.{b}.attentions.{lay}.{rest}"
    if m := re.match(r"middle_block\.(\d)\.(.*)", key):
        j, rest = int(m.group(1)), m.group(2)
        if j == 1:
            return f"mid_block.attentions.0.{rest}"
        return f"mid_block.resnets.{j // 2}.{_swap_prefix(rest, _RESNET, 'ResBlock')}"
    if m := re.match(r"output_blocks\.(\d+)\.(\d+)\.(.*)", key):
        i, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        b, lay = divmod(i, L + 1)
        if j in (1, 2) and rest.startswith("conv."):
            return f"up_blocks.{b}.upsamplers.0.conv.{rest[5:]}"
        if j == 0:
            return f"up_blocks.{b}.resnets.{lay}.{_swap_prefix(rest, _RESNET, 'ResBlock')}"
        return f"up_blocks.{b}.attentions.{lay}.{rest}"
    raise CheckpointError(f"no diffusers name for UNet key '{key}'")


def _unet_layers_diffusers(state: State) -> int:
    return _levels(state, r"down_blocks\.0\.resnets\.(\d+)\.")


def unet_diffusers_to_compvis(state: State) -> dict:
    """UNet2DConditionModel state dict -> CompVis UNet names (without `model.diffusion_model.`)."""
    L = _unet_layers_diffusers(state)
    fixed, resnet = _invert(_UNET_FIXED), _invert(_RESNET)
    attends = {int(m.group(1)) for k in state
               if (m := re.match(rf"up_blocks\.(\d+)\.attentions\.{L}\.", k))}
    out = {}
    for key, value in state.items():
        out[_unet_key_to_compvis(key, L, fixed, resnet, attends)] = value
    return out


def _unet_key_to_compvis(key: str, L: int, fixed: dict, resnet: dict, attends: set) -> str:
    for old, new in fixed.items():
        if key.startswith(old):
            return new + key[len(old):]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)", key):
        b, what, lay, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if what == "downsamplers":
            return f"input_blocks.{1 + b * (L + 1) + L}.0.op.{rest.removeprefix('conv.')}"
        i = 1 + b * (L + 1) + lay
        if what == "resnets":
            return f"input_blocks.{i}.0.{_swap_prefix(rest, resnet, 'resnet')}"
        return f"input_blocks.{i}.1.{rest}"
    if m := re.match(r"mid_block\.(resnets|attentions)\.(\d)\.(.*)", key):
        what, n, rest = m.group(1), int(m.group(2)), m.group(3)
        if what == "attentions":
            return f"middle_block.1.{rest}"
        return f"middle_block.{2 * n}.{_swap_prefix(rest, resnet, 'resnet')}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)", key):
        b, what, lay, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if what == "upsamplers":
            j = 2 if b in attends else 1
            return f"output_blocks.{b * (L + 1) + L}.{j}.{rest}"
        i = b * (L + 1) + lay
        if what == "resnets":
            return f"output_blocks.{i}.0.{_swap_prefix(rest, resnet, 'resnet')}"
        return f"output_blocks.{i}.1.{rest}"
    raise CheckpointError(f"no CompVis name for diffusers UNet key '{key}'")


# ------------------------------------------------------------------------------------ VAE
_VAE_FIXED = {
    "encoder.conv_in.": "encoder.conv_in.",
    "encoder.conv_out.": "encoder.conv_out.",
    "encoder.norm_out.": "encoder.conv_norm_out.",
    "decoder.conv_in.": "decoder.conv_in.",
    "decoder.conv_out.": "decoder.conv_out.",
    "decoder.norm_out.": "decoder.conv_norm_out.",
    "quant_conv.": "quant_conv.",
    "post_quant_conv.": "post_quant_conv.",
    "quantize.": "quantize.",  # VQ codebook (diffusers VQModel keeps the name)
}
_VAE_ATTN = {
    "norm.": "group_norm.",
    "q.": "to_q.",
    "k.": "to_k.",
    "v.": "to_v.",
    "proj_out.": "to_out.0.",
}
# Older diffusers attention names, read (never written).
_VAE_ATTN_LEGACY = {"query.": "q.", "key.": "k.", "value.": "v.", "proj_attn.": "proj_out."}
_VAE_RESNET = {"nin_shortcut.": "conv_shortcut."}


def _resnet_rest(rest: str, table: Mapping[str, str]) -> str:
    for old, new in table.items():
        if rest.startswith(old):
            return new + rest[len(old):]
    return rest  # norm1/conv1/norm2/conv2 keep their names


def _levels(state: State, pattern: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def vae_compvis_to_diffusers(state: State) -> dict:
    """CompVis autoencoder names (without `first_stage_model.`) -> AutoencoderKL / VQModel."""
    n_up = _levels(state, r"decoder\.up\.(\d+)\.")
    out = {}
    for key, value in state.items():
        new, is_attn = _vae_key_to_diffusers(key, n_up)
        if is_attn and getattr(value, "ndim", 0) > 2:  # 1x1 conv -> linear
            value = value.reshape(value.shape[0], value.shape[1])
        out[new] = value
    return out


def _vae_key_to_diffusers(key: str, n_up: int) -> tuple[str, bool]:
    for old, new in _VAE_FIXED.items():
        if key.startswith(old):
            return new + key[len(old):], False
    if m := re.match(r"(encoder|decoder)\.mid\.(block_1|block_2|attn_1)\.(.*)", key):
        side, what, rest = m.groups()
        if what == "attn_1":
            return f"{side}.mid_block.attentions.0.{_swap_prefix(rest, _VAE_ATTN, 'attn')}", True
        n = int(what[-1]) - 1
        return f"{side}.mid_block.resnets.{n}.{_resnet_rest(rest, _VAE_RESNET)}", False
    if m := re.match(r"encoder\.down\.(\d+)\.(block\.(\d+)|downsample)\.(.*)", key):
        i, rest = int(m.group(1)), m.group(4)
        if m.group(3) is None:
            return f"encoder.down_blocks.{i}.downsamplers.0.{rest}", False
        j = m.group(3)
        return f"encoder.down_blocks.{i}.resnets.{j}.{_resnet_rest(rest, _VAE_RESNET)}", False
    if m := re.match(r"decoder\.up\.(\d+)\.(block\.(\d+)|upsample)\.(.*)", key):
        i, rest = n_up - 1 - int(m.group(1)), m.group(4)
        if m.group(3) is None:
            return f"decoder.up_blocks.{i}.upsamplers.0.{rest}", False
        j = m.group(3)
        return f"decoder.up_blocks.{i}.resnets.{j}.{_resnet_rest(rest, _VAE_RESNET)}", False
    if re.match(r"(encoder|decoder)\.(down|up)\.\d+\.attn\.", key):
        raise CheckpointError(
            f"autoencoder key '{key}': attention inside resolution levels has no "
            "AutoencoderKL equivalent"
        )
    raise CheckpointError(f"no diffusers name for autoencoder key '{key}'")


def vae_diffusers_to_compvis(state: State) -> dict:
    """AutoencoderKL / VQModel state dict -> CompVis autoencoder names (attention as 1x1 conv)."""
    n_up = _levels(state, r"decoder\.up_blocks\.(\d+)\.")
    fixed, attn, resnet = _invert(_VAE_FIXED), _invert(_VAE_ATTN), _invert(_VAE_RESNET)
    attn = {**attn, **_VAE_ATTN_LEGACY}
    out = {}
    for key, value in state.items():
        new, is_attn = _vae_key_to_compvis(key, n_up, fixed, attn, resnet)
        if is_attn and new.endswith(".weight") and getattr(value, "ndim", 0) == 2:
            value = value.reshape(*value.shape, 1, 1)  # linear -> 1x1 conv
        out[new] = value
    return out


def _vae_key_to_compvis(key: str, n_up: int, fixed: dict, attn: dict, resnet: dict):
    for old, new in fixed.items():
        if key.startswith(old):
            return new + key[len(old):], False
    if m := re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d)\.(.*)", key):
        side, what, n, rest = m.groups()
        if what == "attentions":
            return f"{side}.mid.attn_1.{_swap_prefix(rest, attn, 'attention')}", True
        return f"{side}.mid.block_{int(n) + 1}.{_resnet_rest(rest, resnet)}", False
    if m := re.match(r"encoder\.down_blocks\.(\d+)\.(resnets\.(\d+)|downsamplers\.0)\.(.*)", key):
        i, rest = int(m.group(1)), m.group(4)
        if m.group(3) is None:
            return f"encoder.down.{i}.downsample.{rest}", False
        return f"encoder.down.{i}.block.{m.group(3)}.{_resnet_rest(rest, resnet)}", False
    if m := re.match(r"decoder\.up_blocks\.(\d+)\.(resnets\.(\d+)|upsamplers\.0)\.(.*)", key):
        i, rest = n_up - 1 - int(m.group(1)), m.group(4)
        if m.group(3) is None:
            return f"decoder.up.{i}.upsample.{rest}", False
        return f"decoder.up.{i}.block.{m.group(3)}.{_resnet_rest(rest, resnet)}", False
    raise CheckpointError(f"no CompVis name for diffusers autoencoder key '{key}'")


__all__ = [
    "unet_compvis_to_diffusers",
    "unet_diffusers_to_compvis",
    "vae_compvis_to_diffusers",
    "vae_diffusers_to_compvis",
]
