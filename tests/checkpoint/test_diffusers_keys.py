"""The diffusers<->CompVis key mapping is the exact inverse of diffusers' own converters."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders import single_file_utils as sfu  # noqa: E402

from ldmcore.checkpoint.diffusers_keys import (  # noqa: E402
    unet_compvis_to_diffusers,
    unet_diffusers_to_compvis,
    vae_compvis_to_diffusers,
    vae_diffusers_to_compvis,
)

UNETS = {
    "sd1_conv_proj": dict(
        block_out_channels=(8, 16), layers_per_block=1, cross_attention_dim=12,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=2,
    ),
    "sd2_linear_3levels": dict(
        block_out_channels=(8, 16, 16), layers_per_block=2, cross_attention_dim=10,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        attention_head_dim=(2, 4, 4), use_linear_projection=True, transformer_layers_per_block=2,
    ),
    "class_embeds_top_attn": dict(
        block_out_channels=(8, 16), layers_per_block=1, cross_attention_dim=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=2,
        num_class_embeds=5,
    ),
    "projection_class_embed": dict(
        block_out_channels=(8, 16), layers_per_block=1, cross_attention_dim=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=2,
        class_embed_type="projection", projection_class_embeddings_input_dim=6,
    ),
}


def _random(module):
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(v.shape, generator=g) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", sorted(UNETS))
def test_unet_inverse_of_diffusers_converter(name):
    cfg = dict(sample_size=8, in_channels=4, out_channels=4, norm_num_groups=4, **UNETS[name])
    state = _random(diffusers.UNet2DConditionModel(**cfg))
    compvis = unet_diffusers_to_compvis(state)
    assert "input_blocks.0.0.weight" in compvis and "out.2.weight" in compvis
    back = sfu.convert_ldm_unet_checkpoint(
        {f"model.diffusion_model.{k}": v for k, v in compvis.items()}, cfg
    )
    assert set(back) == set(state)
    assert all(back[k] is state[k] or torch.equal(back[k], state[k]) for k in state)
    # and our forward table is the same mapping
    assert set(unet_compvis_to_diffusers(compvis)) == set(state)


def test_unet_upsampler_index_after_attention():
    cfg = dict(sample_size=8, in_channels=4, out_channels=4, norm_num_groups=4,
               **UNETS["class_embeds_top_attn"])
    compvis = unet_diffusers_to_compvis(diffusers.UNet2DConditionModel(**cfg).state_dict())
    # up block 0 attends: its upsampler sits after the transformer, at index 2
    assert "output_blocks.1.2.conv.weight" in compvis
    assert "label_emb.weight" in compvis


@pytest.mark.parametrize("mid_attention", [True, False])
def test_vae_inverse_of_diffusers_converter(mid_attention):
    cfg = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16),
               down_block_types=("DownEncoderBlock2D",) * 3,
               up_block_types=("UpDecoderBlock2D",) * 3,
               layers_per_block=1, norm_num_groups=4, mid_block_add_attention=mid_attention)
    state = _random(diffusers.AutoencoderKL(**cfg))
    compvis = vae_diffusers_to_compvis(state)
    assert compvis["decoder.up.2.block.0.conv1.weight"].shape == \
        state["decoder.up_blocks.0.resnets.0.conv1.weight"].shape
    if mid_attention:
        assert compvis["encoder.mid.attn_1.q.weight"].ndim == 4  # CompVis 1x1 conv
    back = sfu.convert_ldm_vae_checkpoint(
        {f"first_stage_model.{k}": v for k, v in compvis.items()}, cfg
    )
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)
    forward = vae_compvis_to_diffusers(compvis)
    assert all(torch.equal(forward[k], state[k]) for k in state)
