"""Full-size SD v1.5 / v2.1 UNets on the meta device (no memory, no weights, no downloads).

Our state dict -> diffusers' CompVis converter must give exactly the keys and shapes of
diffusers' UNet2DConditionModel built from the published SD configs. This is what proves a
real SD checkpoint (`model.diffusion_model.*`) loads.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from ldm_plugin_unet.compat import diffusers_unet_config  # noqa: E402
from ldm_plugin_unet.params import UNetParams  # noqa: E402
from ldm_plugin_unet.unet import UNetModel  # noqa: E402

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402

# CompVis configs: v1-inference.yaml / v2-inference-v.yaml `unet_config.params`
OURS = {
    "sd15": dict(in_channels=4, out_channels=4, model_channels=320, channel_mult=[1, 2, 4, 4],
                 num_res_blocks=2, attention_resolutions=[4, 2, 1], num_heads=8,
                 context_dim=768, transformer_depth=1, legacy=False),
    "sd21": dict(in_channels=4, out_channels=4, model_channels=320, channel_mult=[1, 2, 4, 4],
                 num_res_blocks=2, attention_resolutions=[4, 2, 1], num_head_channels=64,
                 context_dim=1024, transformer_depth=1, use_linear_in_transformer=True,
                 legacy=False),
}

_BLOCKS = dict(
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                      "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                    "CrossAttnUpBlock2D"],
    block_out_channels=[320, 640, 1280, 1280],
    layers_per_block=2, in_channels=4, out_channels=4, act_fn="silu", center_input_sample=False,
    downsample_padding=1, flip_sin_to_cos=True, freq_shift=0, mid_block_scale_factor=1,
    norm_eps=1e-5, norm_num_groups=32,
)
# The published diffusers unet/config.json of SD v1.5 and SD v2.1 (facts, written out here)
THEIRS = {
    "sd15": _BLOCKS | dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8),
    "sd21": _BLOCKS | dict(sample_size=96, cross_attention_dim=1024,
                           attention_head_dim=[5, 10, 20, 20], use_linear_projection=True),
}


def shapes(sd: dict) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("name", ["sd15", "sd21"])
def test_full_size_keys_and_shapes_match_diffusers(name):
    p = UNetParams(**OURS[name])
    with torch.device("meta"):
        ours = UNetModel(p)
        theirs = diffusers.UNet2DConditionModel(**THEIRS[name])
    ours_sd = ours.state_dict()
    assert all(v.is_meta for v in ours_sd.values())
    n_params = sum(v.numel() for v in ours_sd.values())
    # SD v1.5 UNet: 859.52M parameters; v2.1 (1024-d context): 865.91M
    assert n_params == {"sd15": 859_520_964, "sd21": 865_910_724}[name]

    ckpt = {"model.diffusion_model." + k: v for k, v in ours_sd.items()}
    cfg = diffusers_unet_config(p, sample_size=THEIRS[name]["sample_size"])
    converted = convert_ldm_unet_checkpoint(ckpt, cfg)
    assert len(converted) == len(ckpt)  # nothing of ours dropped, nothing duplicated

    want, got = shapes(theirs.state_dict()), shapes(converted)
    assert sorted(set(want) - set(got)) == []  # missing in ours
    assert sorted(set(got) - set(want)) == []  # unexpected
    assert {k for k in want if want[k] != got[k]} == set()
    # and the converted dict loads strictly (assign keeps the meta tensors)
    theirs.load_state_dict(converted, strict=True, assign=True)


@pytest.mark.parametrize("name", ["sd15", "sd21"])
def test_our_config_translation_equals_published(name):
    """compat.diffusers_unet_config reproduces the published SD config's architecture keys."""
    cfg = diffusers_unet_config(UNetParams(**OURS[name]), THEIRS[name]["sample_size"])
    for key, value in THEIRS[name].items():
        if key in ("act_fn", "center_input_sample", "mid_block_scale_factor"):
            continue
        want = [value] * 4 if key == "attention_head_dim" and isinstance(value, int) else value
        assert cfg[key] == want, key
