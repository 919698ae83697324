"""Fixtures: the installed plugins plus tests/core/toy_plugin.py, and a tiny SD-v1-shaped spec."""

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

TOY = Path(__file__).resolve().parents[1] / "core" / "toy_plugin.py"


def _toy_module():
    spec = importlib.util.spec_from_file_location("ldm_checkpoint_tests_toy_plugin", TOY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def registry():
    from ldmcore.plugins.loader import load_registry, register_plugin
    from ldmcore.registry import PluginInfo

    reg = load_registry()
    register_plugin(reg, _toy_module(), PluginInfo("toy", "ldmcore-tests", "0"))
    assert not [f for f in reg.failures if f.name == "toy"], reg.failures  # others: not ours
    return reg


@pytest.fixture(scope="session")
def has_networks(registry):
    if "unet" not in registry.names("denoiser") or "kl" not in registry.names("first_stage"):
        pytest.skip("unet / kl plugins not installed")
    return True


def sd_spec(*, linear: bool = False, context: int = 16, unet: dict | None = None,
            first_stage: dict | None = None) -> dict:
    """SD v1.5 layout (conv proj_in, eps) in miniature; linear=True gives the SD v2 flavour."""
    return {
        "spec_version": 1,
        "image_size": 16,
        "task": {"type": "toy_task"},
        "first_stage": {"type": "kl", "params": {
            "ch": 8, "ch_mult": [1, 2], "num_res_blocks": 1, "z_channels": 4, "embed_dim": 4,
            "norm_groups": 4, "scale_factor": 0.18215}} if first_stage is None else first_stage,
        "conditioners": {"text": {"type": "toy_embed", "input": "class", "wiring": "crossattn",
                                  "params": {"num_classes": 4, "dim": context}}},
        "denoiser": {"type": "unet", "params": {
            "model_channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1,
            "attention_resolutions": [1, 2], "num_heads": 2, "norm_groups": 4,
            "use_linear_in_transformer": linear, **(unet or {})}},
        "diffusion": {"timesteps": 1000, "schedule": "linear", "linear_start": 0.00085,
                      "linear_end": 0.012},
        "sampler": {"type": "toy_ddim"},
        "guider": {"type": "toy_none"},
    }


@pytest.fixture
def make_model(registry, has_networks):
    import torch

    from ldmcore.builder import build

    def make(seed: int = 0, **kw):
        torch.manual_seed(seed)
        model = build(sd_spec(**kw), registry=registry).eval()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # random weights everywhere (zero-init layers too)
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        return model

    return make


def installed_spec(**kw) -> dict:
    """sd_spec with installed components only (for the `ldm` CLI, which loads entry points)."""
    spec = sd_spec(**kw)
    spec["task"] = {"type": "class2img"}
    spec["conditioners"]["text"] = {"type": "class_embed", "input": "class",
                                    "wiring": "crossattn",
                                    "params": {"num_classes": 4, "dim": kw.get("context", 16)}}
    spec["sampler"] = {"type": "ddim"}
    spec["guider"] = {"type": "none"}
    return spec


# Tiny diffusers configs equal to sd_spec()'s networks.
DIFFUSERS_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
    attention_head_dim=2, norm_num_groups=4,
)
DIFFUSERS_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    layers_per_block=1, norm_num_groups=4, scaling_factor=0.18215, sample_size=16,
)


@pytest.fixture(scope="session")
def tiny_configs():
    """(diffusers UNet config, diffusers VAE config, installed_spec) for the tests."""
    return DIFFUSERS_UNET, DIFFUSERS_VAE, installed_spec
