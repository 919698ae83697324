"""Full-size checks without downloads or memory: our VAE in the exact Stable Diffusion config,
built on the meta device, converted by diffusers' own converter, has exactly the keys and shapes
of diffusers' AutoencoderKL built from the published SD v1.5 / v2.1 VAE configs (also on meta).
So a real SD checkpoint's `first_stage_model.*` keys load strictly into ours."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from diffusers import AutoencoderKL, VQModel  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402
from ldm_plugin_autoencoders.autoencoder import KLAutoencoder, VQAutoencoder  # noqa: E402
from ldm_plugin_autoencoders.params import KLParams, VQParams  # noqa: E402

from ldmcore.ports import Latent  # noqa: E402

# The published `vae/config.json` of runwayml/stable-diffusion-v1-5 and
# stabilityai/stable-diffusion-2-1 (they differ only in sample_size).
SD_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
    act_fn="silu", block_out_channels=[128, 256, 512, 512], scaling_factor=0.18215,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
)
# CompVis first_stage_config.params of SD v1 / v2 (v1-inference.yaml, v2-inference.yaml)
SD_DDCONFIG = dict(ch=128, ch_mult=[1, 2, 4, 4], num_res_blocks=2, attn_resolutions=[],
                   z_channels=4, embed_dim=4, double_z=True, resolution=256, in_channels=3,
                   out_ch=3, dropout=0.0, scale_factor=0.18215)


def _shapes(sd: dict) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("sample_size", [512, 768], ids=["sd15", "sd21"])
def test_sd_vae_keys_and_shapes_equal_diffusers(sample_size: int) -> None:
    with torch.device("meta"):
        ours = KLAutoencoder(KLParams(**SD_DDCONFIG))
        theirs = AutoencoderKL(**SD_VAE, sample_size=sample_size)
    sd = ours.state_dict()
    assert all(v.is_meta for v in sd.values())
    # CompVis names that real SD checkpoints carry
    expected = {
        "encoder.conv_in.weight": (128, 3, 3, 3),
        "encoder.down.1.block.0.nin_shortcut.weight": (256, 128, 1, 1),
        "encoder.down.2.downsample.conv.weight": (512, 512, 3, 3),
        "encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
        "encoder.conv_out.weight": (8, 512, 3, 3),
        "quant_conv.weight": (8, 8, 1, 1),
        "post_quant_conv.weight": (4, 4, 1, 1),
        "decoder.up.0.block.2.conv2.weight": (128, 128, 3, 3),
        "decoder.up.3.upsample.conv.weight": (512, 512, 3, 3),
        "decoder.up.0.block.0.nin_shortcut.weight": (128, 256, 1, 1),
        "decoder.conv_out.weight": (3, 128, 3, 3),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert "encoder.down.3.downsample.conv.weight" not in sd
    assert "decoder.up.0.upsample.conv.weight" not in sd
    assert KLParams(**SD_DDCONFIG).latent_port() == Latent(4, 8)

    weights = {f"first_stage_model.{k}": v for k, v in sd.items()
               if k not in ("scale_factor", "shift_factor")}
    converted = convert_ldm_vae_checkpoint(weights, SD_VAE)
    reference = theirs.state_dict()
    assert set(converted) == set(reference), (
        sorted(set(converted) ^ set(reference))[:10])
    assert _shapes(converted) == _shapes(reference)
    assert sum(v.numel() for v in sd.values() if v.ndim) == sum(
        p.numel() for p in theirs.parameters())
    # and it loads strictly (assign keeps meta tensors)
    theirs.load_state_dict(converted, strict=True, assign=True)


def _vq_mapping():
    path = Path(__file__).with_name("test_parity_diffusers.py")
    spec = importlib.util.spec_from_file_location("_ae_parity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compvis_vq_f4_keys_and_shapes_equal_diffusers() -> None:
    """CompVis vq-f4 (LDM paper's VQ-reg. first stage) vs diffusers VQModel, on meta."""
    parity = _vq_mapping()
    p = VQParams(ch=128, ch_mult=[1, 2, 4], num_res_blocks=2, attn_resolutions=[],
                 z_channels=3, embed_dim=3, n_embed=8192, resolution=256)
    config = parity._diffusers_config(p, set())
    config.update(num_vq_embeddings=8192, vq_embed_dim=3)
    with torch.device("meta"):
        ours = VQAutoencoder(p)
        theirs = VQModel(**config)
    converted = parity._vq_to_diffusers(ours, config)
    assert _shapes(converted) == _shapes(theirs.state_dict())
    assert tuple(ours.state_dict()["quantize.embedding.weight"].shape) == (8192, 3)
