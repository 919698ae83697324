"""Parity with diffusers (the oracle): our CompVis-layout state dict -> diffusers' converter ->
diffusers model, strict load; encode and decode agree within 1e-4 (fp32)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from diffusers import AutoencoderKL, VQModel  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402
from ldm_plugin_autoencoders.autoencoder import KLAutoencoder, VQAutoencoder  # noqa: E402
from ldm_plugin_autoencoders.params import KLParams, VQParams  # noqa: E402

TOL = 1e-4
PREFIX = "first_stage_model."


def _randomise(model: torch.nn.Module, seed: int) -> None:
    """Random weights everywhere, GroupNorm affine included, so no parameter is a no-op."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("embedding.weight"):
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2 + (1.0 if "norm" in name and
                                                                   name.endswith("weight") else 0))


def _diffusers_config(p, attn_levels: set[int]) -> dict:
    n = len(p.ch_mult)
    down = ["AttnDownEncoderBlock2D" if i in attn_levels else "DownEncoderBlock2D"
            for i in range(n)]
    up = ["AttnUpDecoderBlock2D" if (n - 1 - i) in attn_levels else "UpDecoderBlock2D"
          for i in range(n)]
    return dict(
        in_channels=p.in_channels, out_channels=p.out_ch,
        down_block_types=down, up_block_types=up,
        block_out_channels=[p.ch * m for m in p.ch_mult], layers_per_block=p.num_res_blocks,
        latent_channels=p.z_channels, norm_num_groups=p.norm_groups, sample_size=p.resolution,
        mid_block_add_attention=p.mid_attention,
    )


def _ours_to_diffusers(model: torch.nn.Module, config: dict) -> dict:
    sd = {PREFIX + k: v for k, v in model.state_dict().items()}
    return convert_ldm_vae_checkpoint(sd, config)


@pytest.mark.parametrize("mid_attention", [True, False])
def test_kl_matches_diffusers_autoencoderkl(mid_attention: bool) -> None:
    torch.manual_seed(0)
    p = KLParams(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=16, z_channels=4,
                 embed_dim=4, mid_attention=mid_attention)
    ours = KLAutoencoder(p).eval()
    _randomise(ours, 1)
    config = _diffusers_config(p, set())
    theirs = AutoencoderKL(**config).eval()
    converted = _ours_to_diffusers(ours, config)
    theirs.load_state_dict(converted, strict=True)

    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        post = ours.encode_posterior(x)
        dist = theirs.encode(x).latent_dist
        assert post.mean.shape == (2, 4, 8, 8)
        assert (post.mean - dist.mean).abs().max() <= TOL
        assert (post.logvar - dist.logvar).abs().max() <= TOL
        assert torch.equal(ours.encode(x), post.mean)  # mode by default
        z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3))
        ref = theirs.decode(z).sample
        out = ours.decode(z)
        assert out.shape == (2, 3, 16, 16)
        assert ref.abs().mean() > 0.1  # a real signal, not all zeros
        assert (out - ref).abs().max() <= TOL


def _vq_to_diffusers(model: VQAutoencoder, config: dict) -> dict:
    """convert_ldm_vae_checkpoint covers E/D, quant convs; map block attentions and codebook."""
    new = _ours_to_diffusers(model, config)
    n = len(config["down_block_types"])
    ours = model.state_dict()
    for key in [k for k in new if ".attn." in k]:  # the converter leaves these unmapped
        del new[key]
    names = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
    for key, value in ours.items():
        parts = key.split(".")
        if len(parts) == 7 and parts[3] == "attn":  # encoder.down.i.attn.j.name.param
            side, _, level, _, j, name, param = parts
            block = ("down_blocks", level) if side == "encoder" else ("up_blocks",
                                                                      str(n - 1 - int(level)))
            value = value[:, :, 0, 0] if value.ndim == 4 and name != "norm" else value
            new[f"{side}.{block[0]}.{block[1]}.attentions.{j}.{names[name]}.{param}"] = value
    new["quantize.embedding.weight"] = ours["quantize.embedding.weight"]
    return new


def test_vq_matches_diffusers_vqmodel() -> None:
    torch.manual_seed(0)
    p = VQParams(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=16, z_channels=4,
                 embed_dim=3, attn_resolutions=[8], n_embed=16)
    ours = VQAutoencoder(p).eval()
    _randomise(ours, 4)
    config = _diffusers_config(p, {1})
    config.update(num_vq_embeddings=p.n_embed, vq_embed_dim=p.embed_dim)
    theirs = VQModel(**config).eval()
    theirs.load_state_dict(_vq_to_diffusers(ours, config), strict=True)

    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        h = ours.encode(x)
        h_ref = theirs.encode(x).latents
        assert h.shape == (2, 3, 8, 8)
        assert (h - h_ref).abs().max() <= TOL
        q = ours.quantize(h)
        zq_ref, loss_ref, (_, _, idx_ref) = theirs.quantize(h)
        assert torch.equal(q.indices.flatten(), idx_ref.flatten())
        assert (q.z_q - zq_ref).abs().max() <= TOL
        assert abs(q.loss.item() - loss_ref.item()) <= TOL
        assert q.indices.unique().numel() > 1  # several codes in use
        assert 1.0 < q.perplexity.item() <= p.n_embed
        out, ref = ours.decode(h), theirs.decode(h).sample
        assert (out - ref).abs().max() <= TOL
        raw = ours.decode(h, force_not_quantize=True)
        raw_ref = theirs.decode(h, force_not_quantize=True).sample
        assert (raw - raw_ref).abs().max() <= TOL
        assert (raw - out).abs().max() > 1e-3  # quantisation really happens inside decode
        x_rec, aux = ours.reconstruct(x)
        assert (x_rec - out).abs().max() <= TOL and torch.equal(aux.indices, q.indices)
