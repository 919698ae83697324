"""What a checkpoint is, read from its tensor shapes (heads and schedules are not in shapes).

    facts = inspect_checkpoint(state)   # {"unet.proj_in": "linear", "unet.context_dim": 1024, ...}
    describe(facts)                     # "SD v2-like (linear proj_in, context 1024, ...)"

Works on CompVis keys (`model.diffusion_model.`, `first_stage_model.`), ldmcore model keys
(`denoiser.`, `first_stage.`) or a bare UNet / autoencoder state dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

UNET_PREFIXES = ("model.diffusion_model.", "denoiser.")
VAE_PREFIXES = ("first_stage_model.", "first_stage.")


def _part(state: Mapping[str, Any], prefixes: tuple[str, ...], probe: str) -> dict[str, Any]:
    for prefix in prefixes:
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if part:
            return part
    return dict(state) if probe in state else {}


def _shape(state: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    v = state.get(key)
    return tuple(v.shape) if v is not None else None


def _unet_facts(u: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    conv_in = _shape(u, "input_blocks.0.0.weight")
    if conv_in:
        facts["unet.model_channels"], facts["unet.in_channels"] = conv_in[0], conv_in[1]
    out = _shape(u, "out.2.weight")
    if out:
        facts["unet.out_channels"] = out[0]
    proj = sorted(k for k in u if k.endswith("proj_in.weight"))
    if proj:
        facts["unet.proj_in"] = "linear" if len(u[proj[0]].shape) == 2 else "conv"
    to_k = sorted(k for k in u if k.endswith("attn2.to_k.weight"))
    if to_k:
        facts["unet.context_dim"] = int(u[to_k[0]].shape[1])
    if any(k.endswith(".qkv.weight") for k in u):
        facts["unet.attention"] = "AttentionBlock"
    elif proj:
        facts["unet.attention"] = "SpatialTransformer"
    depths = {int(m.group(1)) for k in u if (m := re.search(r"transformer_blocks\.(\d+)\.", k))}
    if depths:
        facts["unet.transformer_depth"] = max(depths) + 1
    inputs = {int(m.group(1)) for k in u if (m := re.match(r"input_blocks\.(\d+)\.", k))}
    # Levels from the strided-conv downsamplers (conv_resample, as in every SD/LDM config).
    downs = [i for i in inputs if f"input_blocks.{i}.0.op.weight" in u]
    if downs:
        levels, n = len(downs) + 1, max(inputs) + 1
        if n % levels == 0:
            per = n // levels
            facts["unet.num_res_blocks"] = per - 1
            mc = facts.get("unet.model_channels")
            widths = [_shape(u, f"input_blocks.{1 + lvl * per}.0.out_layers.3.weight")
                      for lvl in range(levels)]
            mult = [w[0] // mc for w in widths if w and mc]
            if len(mult) == levels:
                facts["unet.channel_mult"] = mult
    if "label_emb.weight" in u:
        facts["unet.num_classes"] = int(u["label_emb.weight"].shape[0])
    elif "label_emb.0.0.weight" in u:
        facts["unet.adm_in_channels"] = int(u["label_emb.0.0.weight"].shape[1])
    return facts


def _vae_facts(v: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if "quantize.embedding.weight" in v:
        facts["first_stage.kind"] = "vq"
        facts["first_stage.n_embed"] = int(v["quantize.embedding.weight"].shape[0])
    elif "encoder.conv_in.weight" in v:
        facts["first_stage.kind"] = "kl"
    conv_in = _shape(v, "encoder.conv_in.weight")
    if conv_in:
        facts["first_stage.ch"], facts["first_stage.in_channels"] = conv_in[0], conv_in[1]
    post = _shape(v, "post_quant_conv.weight")
    dec_in = _shape(v, "decoder.conv_in.weight")
    if post:
        facts["first_stage.embed_dim"] = post[1]
    if dec_in:
        facts["first_stage.z_channels"] = dec_in[1]
    downs = {int(m.group(1)) for k in v if (m := re.match(r"encoder\.down\.(\d+)\.", k))}
    if downs:
        facts["first_stage.levels"] = max(downs) + 1
        facts["first_stage.f"] = 2 ** max(downs)
    facts["first_stage.mid_attention"] = any(k.startswith("encoder.mid.attn_1.") for k in v)
    return facts


def inspect_checkpoint(state: Mapping[str, Any]) -> dict[str, Any]:
    """Architecture facts readable from shapes: proj_in conv/linear, context width, channels..."""
    facts = _unet_facts(_part(state, UNET_PREFIXES, "input_blocks.0.0.weight"))
    vae = _part(state, VAE_PREFIXES, "encoder.conv_in.weight")
    if vae:
        facts.update(_vae_facts(vae))
    if "first_stage.mid_attention" in facts and "first_stage.kind" not in facts:
        del facts["first_stage.mid_attention"]
    return facts


def family(facts: Mapping[str, Any]) -> str | None:
    """A name for well-known layouts (a hint for messages, never used to decide anything)."""
    ctx, proj = facts.get("unet.context_dim"), facts.get("unet.proj_in")
    inp = facts.get("unet.in_channels")
    if facts.get("unet.model_channels") == 320 and inp in (4, 9):
        suffix = " inpainting" if inp == 9 else ""
        if proj == "conv" and ctx == 768:
            return f"SD v1{suffix}"
        if proj == "linear" and ctx == 1024:
            return f"SD v2{suffix}"
    if proj == "conv" and ctx == 768:
        return "SD v1-shaped"
    if proj == "linear" and ctx == 1024:
        return "SD v2-shaped"
    return None


_LABELS = {
    "unet.proj_in": "{} proj_in",
    "unet.context_dim": "context {}",
    "unet.in_channels": "UNet in_channels {}",
    "unet.out_channels": "UNet out_channels {}",
    "unet.model_channels": "model_channels {}",
    "unet.channel_mult": "channel_mult {}",
    "unet.num_res_blocks": "num_res_blocks {}",
    "unet.transformer_depth": "transformer depth {}",
    "unet.attention": "{} attention",
    "unet.num_classes": "{} classes (label_emb)",
    "unet.adm_in_channels": "adm vector {}",
    "first_stage.kind": "{} first stage",
    "first_stage.z_channels": "VAE z_channels {}",
    "first_stage.embed_dim": "VAE embed_dim {}",
    "first_stage.ch": "VAE ch {}",
    "first_stage.f": "VAE f {}",
    "first_stage.n_embed": "codebook {}",
    "first_stage.mid_attention": "VAE mid attention {}",
}


def _label(key: str, value: Any) -> str:
    return _LABELS.get(key, key + " {}").format(value)


def describe(facts: Mapping[str, Any], keys: list[str] | None = None) -> str:
    keys = keys if keys is not None else [k for k in _LABELS if k in facts]
    body = ", ".join(_label(k, facts[k]) for k in keys if k in facts)
    name = family(facts)
    return f"{name} ({body})" if name else body


def explain_mismatch(checkpoint: Mapping[str, Any], model: Mapping[str, Any]) -> str | None:
    """'checkpoint looks like SD v2 (linear proj_in, context 1024) but the spec says ...'."""
    diff = [k for k in _LABELS if k in checkpoint and k in model and checkpoint[k] != model[k]]
    if not diff:
        return None
    name = family(checkpoint)
    what = f"looks like {name}" if name else "has"
    ours = ", ".join(_label(k, model[k]) for k in diff)
    theirs = ", ".join(_label(k, checkpoint[k]) for k in diff)
    return f"checkpoint {what} ({theirs}) but the spec says {ours}"
