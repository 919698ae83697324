"""Parity with diffusers: our state dict -> diffusers' CompVis converter -> diffusers model.

Tiny random configs in the shapes of SD v1, SD v2, a class-conditional LDM, an adm (vector)
model and a concat model. Same input => same output (max |delta| <= 1e-4, fp32).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from ldm_plugin_unet.compat import diffusers_unet_config  # noqa: E402
from ldm_plugin_unet.params import UNetParams  # noqa: E402
from ldm_plugin_unet.unet import UNetModel  # noqa: E402
from torch import nn  # noqa: E402

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402

PREFIX = "model.diffusion_model."
TOL = 1e-4

SD1 = dict(in_channels=4, out_channels=4, model_channels=32, channel_mult=[1, 2, 2],
           num_res_blocks=2, attention_resolutions=[1, 2], num_heads=4, context_dim=24)
SD2 = dict(in_channels=4, out_channels=4, model_channels=32, channel_mult=[1, 2, 2],
           num_res_blocks=1, attention_resolutions=[1, 2, 4], num_head_channels=16,
           context_dim=40, use_linear_in_transformer=True, transformer_depth=2)
CLASS_LDM = dict(in_channels=3, out_channels=3, model_channels=32, channel_mult=[1, 2],
                 num_res_blocks=1, attention_resolutions=[2], num_head_channels=16,
                 num_classes=10, use_scale_shift_norm=True)
CLASS_XATTN = dict(in_channels=4, out_channels=4, model_channels=32, channel_mult=[1, 2],
                   num_res_blocks=1, attention_resolutions=[1, 2], num_heads=2,
                   context_dim=16, num_classes=7)
ADM = dict(in_channels=4, out_channels=4, model_channels=32, channel_mult=[1, 2],
           num_res_blocks=1, attention_resolutions=[2], num_heads=2, context_dim=16,
           vector_dim=12, use_scale_shift_norm=True)
CONCAT = dict(in_channels=7, out_channels=3, model_channels=32, channel_mult=[1, 2],
              num_res_blocks=2, attention_resolutions=[2], num_head_channels=16)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere (CompVis zero-inits residual outputs; parity needs non-zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            for name, p in m.named_parameters(recurse=False):
                if isinstance(m, (nn.GroupNorm, nn.LayerNorm)) and name == "weight":
                    p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
                elif isinstance(m, nn.Embedding):
                    p.copy_(torch.randn(p.shape, generator=g))
                elif p.ndim >= 2:
                    p.copy_(torch.randn(p.shape, generator=g) * p[0].numel() ** -0.5)
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model


def split_attention_blocks(sd: dict, p: UNetParams) -> dict:
    """Converter output for AttentionBlock (qkv Conv1d) -> diffusers Attention (to_q/k/v).

    Legacy order: qkv rows are [head][q|k|v][d]; new order: [q|k|v][head][d].
    """
    out = {}
    for key, value in sd.items():
        if ".attentions." not in key:
            out[key] = value
            continue
        stem, leaf = key.rsplit(".", 2)[0], ".".join(key.rsplit(".", 2)[1:])
        if leaf.startswith("norm."):
            out[f"{stem}.group_norm.{leaf[5:]}"] = value
        elif leaf.startswith("proj_out."):
            out[f"{stem}.to_out.0.{leaf[9:]}"] = value.reshape(value.shape[0], -1).squeeze(-1)
        elif leaf.startswith("qkv."):
            c = value.shape[0] // 3
            heads = c // p.heads_at(c)[1]
            rows = value.reshape(3 * c, -1)
            if p.use_new_attention_order:
                q, k, v = rows.view(3, c, -1).unbind(0)
            else:
                q, k, v = rows.view(heads, 3, c // heads, -1).unbind(1)
            for name, w in zip(("to_q", "to_k", "to_v"), (q, k, v)):
                w = w.reshape(c, -1)
                out[f"{stem}.{name}.{leaf[4:]}"] = w if leaf.endswith("weight") else w.reshape(c)
        else:
            raise AssertionError(f"unexpected attention key {key}")
    return out


def to_diffusers(ours: UNetModel, p: UNetParams):
    cfg = diffusers_unet_config(p, sample_size=8)
    cls = diffusers.UNet2DConditionModel if p.context_dim else diffusers.UNet2DModel
    theirs = cls(**cfg).eval()
    ckpt = {PREFIX + k: v for k, v in ours.state_dict().items()}
    converted = convert_ldm_unet_checkpoint(ckpt, cfg)
    # every one of our tensors is used exactly once by the converter (nothing dropped)
    assert len(converted) == len(ckpt)
    assert {id(v) for v in converted.values()} == {id(v) for v in ckpt.values()}
    if p.context_dim is None:
        converted = split_attention_blocks(converted, p)
    theirs.load_state_dict(converted, strict=True)
    return theirs


def inputs(p: UNetParams, batch: int = 2, size: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, p.in_channels, size, size, generator=g)
    t = torch.tensor([3, 917][:batch])
    ctx = torch.randn(batch, 5, p.context_dim, generator=g) if p.context_dim else None
    if p.num_classes:
        vec = torch.randint(0, p.num_classes, (batch,), generator=g)
    elif p.vector_dim:
        vec = torch.randn(batch, p.vector_dim, generator=g)
    else:
        vec = None
    return x, t, ctx, vec


def run_theirs(theirs, p: UNetParams, x, t, ctx, vec) -> torch.Tensor:
    if p.context_dim:
        return theirs(x, t, encoder_hidden_states=ctx, class_labels=vec).sample
    return theirs(x, t, class_labels=vec).sample


@pytest.mark.parametrize(
    "cfg",
    [SD1, SD2, CLASS_LDM, CLASS_XATTN, ADM, CONCAT,
     CONCAT | {"use_new_attention_order": True, "num_head_channels": 8}],
    ids=["sd1", "sd2", "class-ldm", "class-xattn", "adm-vector", "concat-legacy", "concat-new"],
)
def test_forward_matches_diffusers(cfg):
    torch.manual_seed(0)
    p = UNetParams(**cfg)
    ours = randomize(UNetModel(p)).eval()
    theirs = to_diffusers(ours, p)
    x, t, ctx, vec = inputs(p)
    with torch.no_grad():
        a = ours(x, t, context=ctx, vector=vec)
        b = run_theirs(theirs, p, x, t, ctx, vec)
    assert a.shape == x[:, : p.out_channels].shape
    assert a.abs().mean() > 1e-2  # not a trivially zero output
    assert (a - b).abs().max().item() <= TOL


def test_concat_argument_is_joined_on_channels():
    p = UNetParams(**CONCAT)
    ours = randomize(UNetModel(p)).eval()
    x, t, _, _ = inputs(p)
    with torch.no_grad():
        joined = ours(x, t)
        split = ours(x[:, :3], t, concat=x[:, 3:])
    torch.testing.assert_close(joined, split, rtol=0, atol=0)


def test_odd_latent_size_matches_diffusers():
    """Convolutional sampling at a size that is not a multiple of 2^(levels-1)."""
    p = UNetParams(**SD1)
    ours = randomize(UNetModel(p)).eval()
    theirs = to_diffusers(ours, p)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 4, 9, 7, generator=g)
    ctx = torch.randn(1, 3, 24, generator=g)
    with torch.no_grad():
        a = ours(x, torch.tensor([10]), context=ctx)
        b = theirs(x, torch.tensor([10]), encoder_hidden_states=ctx).sample
    assert (a - b).abs().max().item() <= TOL


def test_diffusers_weights_load_into_ours():
    """Reverse: a diffusers SD-v1-shaped model's weights, mapped back, give the same output."""
    p = UNetParams(**SD1)
    cfg = diffusers_unet_config(p, sample_size=8)
    theirs = randomize(diffusers.UNet2DConditionModel(**cfg), seed=5).eval()
    ours = UNetModel(p).eval()
    # our key names pass through the converter as values: diffusers key -> CompVis key
    names = convert_ldm_unet_checkpoint({PREFIX + k: k for k in ours.state_dict()}, cfg)
    dsd = theirs.state_dict()
    assert set(names) == set(dsd)
    ours.load_state_dict({ldm: dsd[dk] for dk, ldm in names.items()}, strict=True)
    x, t, ctx, _ = inputs(p)
    with torch.no_grad():
        a = ours(x, t, context=ctx)
        b = theirs(x, t, encoder_hidden_states=ctx).sample
    assert (a - b).abs().max().item() <= TOL
