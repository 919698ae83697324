"""The first stages as ldmcore components: registry, ports, spec validation, build, behaviour."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import ldm_plugin_autoencoders.plugin as ae_plugin
import pytest
import torch
from ldm_plugin_autoencoders.autoencoder import KLAutoencoder, VQAutoencoder
from ldm_plugin_autoencoders.params import IdentityParams, KLParams, VQParams
from pydantic import ValidationError

from ldmcore.builder import build
from ldmcore.errors import SpecError
from ldmcore.plugins.loader import register_plugin
from ldmcore.ports import Latent
from ldmcore.registry import PluginInfo, Registry

TINY = dict(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=16)


def _toy():
    path = Path(__file__).parents[1] / "core" / "toy_plugin.py"
    spec = importlib.util.spec_from_file_location("_toy_plugin_ae", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def registry() -> tuple[Registry, object]:
    toy = _toy()
    reg = Registry()
    register_plugin(reg, ae_plugin, PluginInfo("autoencoders", "ldm-plugin-autoencoders", "0.1"))
    register_plugin(reg, toy, PluginInfo("toy", "toy", "0"))
    assert not reg.failures, reg.failures
    return reg, toy


def test_registered_and_ports() -> None:
    reg = Registry()
    register_plugin(reg, ae_plugin, PluginInfo("autoencoders", "ldm-plugin-autoencoders", "0.1"))
    assert reg.names("first_stage") == ["identity", "kl", "vq"]
    assert KLParams().latent_port() == Latent(4, 8)  # SD VAE defaults: KL-f8, c=4
    assert VQParams(ch_mult=[1, 2, 4], embed_dim=3).latent_port() == Latent(3, 4)
    assert IdentityParams().latent_port() == Latent(3, 1)


def test_params_validation() -> None:
    with pytest.raises(ValidationError, match="f=4"):
        KLParams(ch_mult=[1, 2], f=4)
    with pytest.raises(ValidationError, match="norm_groups"):
        KLParams(ch=48, ch_mult=[1, 2])
    with pytest.raises(ValidationError, match="double_z"):
        KLParams(double_z=False)
    with pytest.raises(ValidationError):
        KLParams(bogus=1)
    with pytest.raises(ValidationError, match="tile_size"):
        KLParams(ch_mult=[1, 2, 4], tile_size=30)
    assert KLParams(ch=48, ch_mult=[1, 2], norm_groups=16).ch == 48


def test_builds_inside_a_latent_diffusion_and_trains(registry) -> None:
    reg, toy = registry
    spec = copy.deepcopy(toy.TOY_SPEC)
    spec["first_stage"] = {"type": "kl", "params": {**TINY, "z_channels": 3, "embed_dim": 3,
                                                    "scale_factor": 0.5, "shift_factor": 0.1}}
    model = build(spec, registry=reg)
    fs = model.first_stage
    assert isinstance(fs, KLAutoencoder)
    assert fs.scale_factor.item() == 0.5 and fs.shift_factor.item() == pytest.approx(0.1)
    assert model.latent_shape == (3, 4, 4)
    batch = {"image": torch.rand(2, 3, 8, 8) * 2 - 1, "class": torch.tensor([0, 1])}
    loss = model.loss(batch, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert "first_stage.scale_factor" in model.state_dict()

    spec["first_stage"] = {"type": "identity"}
    assert build(spec, registry=reg).latent_shape == (3, 8, 8)
    spec["image_channels"] = 1
    with pytest.raises(SpecError, match="image_channels"):
        build(spec, registry=reg)


def test_kl_encode_sample_and_mode() -> None:
    torch.manual_seed(0)
    m = KLAutoencoder(KLParams(**TINY)).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        post = m.encode_posterior(x)
        s1 = m.encode(x, sample=True, generator=torch.Generator().manual_seed(7))
        s2 = m.encode(x, sample=True, generator=torch.Generator().manual_seed(7))
        s3 = m.encode(x, sample=True, generator=torch.Generator().manual_seed(8))
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)
    assert torch.equal(m.encode(x), post.mode())
    assert post.logvar.min() >= -30 and post.logvar.max() <= 20
    big = KLAutoencoder(KLParams(**TINY))
    with torch.no_grad():  # logvar clamp
        big.quant_conv.bias[4:].fill_(100.0)
        assert big.encode_posterior(x).logvar.max() == 20.0
    kl = post.kl()
    assert kl.shape == (2,) and (kl >= 0).all()
    x_rec, aux = m.reconstruct(x, generator=torch.Generator().manual_seed(0))
    assert x_rec.shape == x.shape and aux.mean.shape == (2, 4, 8, 8)
    assert m.last_layer() is m.decoder.conv_out.weight


def test_vq_decode_quantise_switch_and_straight_through() -> None:
    torch.manual_seed(0)
    m = VQAutoencoder(VQParams(**TINY, n_embed=8, embed_dim=4, decode_quantize=False))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    h = m.encode(x, sample=True)  # no randomness for vq
    assert torch.equal(h, m.encode(x))
    assert torch.equal(m.decode(h), m.decode(h, force_not_quantize=True))
    assert not torch.equal(m.decode(h), m.decode(h, force_not_quantize=False))
    x_rec, q = m.reconstruct(x)
    x_rec.sum().backward()  # straight-through: encoder gets gradients through quantisation
    assert m.encoder.conv_in.weight.grad.abs().sum() > 0
    assert torch.allclose(m.quantize.lookup(q.indices), q.z_q.detach(), atol=1e-6)
    assert 1.0 <= q.perplexity.item() <= 8.0


def test_identity_and_dtype_follow_input() -> None:
    reg = Registry()
    register_plugin(reg, ae_plugin, PluginInfo("autoencoders", "ldm-plugin-autoencoders", "0.1"))
    ident = reg.get("first_stage", "identity").factory(IdentityParams(), None)
    x = torch.randn(1, 3, 4, 4)
    assert ident.encode(x) is x and ident.decode(x) is x
    m = KLAutoencoder(KLParams(**TINY, mid_attention=True)).to(torch.bfloat16)
    out = m.decode(torch.randn(1, 4, 8, 8, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
