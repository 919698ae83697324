"""The `unet` denoiser as a component: registry, spec validation, build/train/sample, numerics."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import ldm_plugin_unet.plugin as unet_plugin
import pytest
import torch
from ldm_plugin_unet.attention import attention
from ldm_plugin_unet.layers import timestep_embedding
from ldm_plugin_unet.params import UNetParams
from ldm_plugin_unet.unet import UNetModel
from pydantic import ValidationError

import ldmcore
from ldmcore.errors import SpecError
from ldmcore.registry import Registry
from ldmcore.spec import resolve_spec

TINY = dict(in_channels=4, out_channels=4, model_channels=32, channel_mult=[1, 2],
            num_res_blocks=1, attention_resolutions=[1, 2], num_heads=2, context_dim=16)


def _toy():
    path = Path(__file__).parents[1] / "core" / "toy_plugin.py"
    spec = importlib.util.spec_from_file_location("unet_tests_toy_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOY = _toy()


@pytest.fixture
def registry() -> Registry:
    return TOY.toy_registry(unet_plugin)


@pytest.fixture
def spec() -> dict:
    s = copy.deepcopy(TOY.TOY_SPEC)
    s["denoiser"] = {"type": "unet", "params": {"model_channels": 32, "channel_mult": [1, 2],
                                                "num_res_blocks": 1, "attention_resolutions": [2],
                                                "num_heads": 2}}
    return s


def test_installed_entry_point_registers_unet():
    from ldmcore.plugins import load_registry

    reg = load_registry()
    assert "unet" in reg.names("denoiser")
    assert reg.get("denoiser", "unet").params_model is UNetParams


def test_build_train_step_and_sample(registry, spec):
    model = ldmcore.build(spec, registry=registry)
    net = model.denoiser
    assert isinstance(net, UNetModel)
    assert net.p.in_channels == 3 and net.p.context_dim == 8  # derived from the wiring
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.rand(2, 3, 8, 8) * 2 - 1, "class": torch.tensor([0, 3])}
    loss = model.loss(batch, g)
    loss.backward()
    assert torch.isfinite(loss)
    assert net.out[2].weight.grad.abs().sum() > 0  # residual outputs start at zero (CompVis)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):  # zero outputs open one layer per step: out.2, then out_layers.3
        opt.step()
        net.zero_grad()
        model.loss(batch, g).backward()
    assert net.time_embed[0].weight.grad.abs().sum() > 0
    images = model.sample({"class": torch.tensor([1, 2])}, generator=g, progress=False)
    assert images.shape == (2, 3, 8, 8) and torch.isfinite(images).all()


def test_vector_wiring_builds_adm_label_emb(registry, spec):
    spec["conditioners"]["label"]["wiring"] = "vector"
    model = ldmcore.build(spec, registry=registry)
    net = model.denoiser
    assert net.p.vector_dim == 8 and net.p.context_dim is None
    assert "label_emb.0.0.weight" in net.state_dict() and "label_emb.0.2.bias" in net.state_dict()
    batch = {"image": torch.rand(2, 3, 8, 8) * 2 - 1, "class": torch.tensor([0, 3])}
    assert torch.isfinite(model.loss(batch, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"channel_mult": []}, "channel_mult must be a non-empty"),
        ({"attention_resolutions": [3]}, "attention_resolutions [3] are not downsample rates"),
        ({"num_heads": 3}, "not divisible by 3 heads"),
        ({"num_head_channels": 24}, "not divisible by num_head_channels 24"),
        ({"model_channels": 40}, "not divisible by norm_groups 32"),
        ({"transformer_depth": [1, 1, 1]}, "transformer_depth list has 3 entries"),
    ],
)
def test_bad_params_are_spec_errors_naming_the_path(registry, spec, change, words):
    spec["denoiser"]["params"] |= change
    with pytest.raises(SpecError) as info:
        resolve_spec(spec, registry=registry)
    assert "denoiser.params" in str(info.value) and words in str(info.value)
    with pytest.raises(ValidationError, match=words.replace("[", r"\[").replace("]", r"\]")):
        UNetParams(**(TINY | change))


def test_unreached_attention_rates_are_ignored_as_compvis():
    deep = UNetParams(**(TINY | {"attention_resolutions": [2, 8]}))  # 2 levels: rates 1, 2
    assert deep.attention_resolutions == [2, 8]
    net = UNetModel(deep)
    plain = UNetModel(UNetParams(**(TINY | {"attention_resolutions": [2]})))
    assert net.state_dict().keys() == plain.state_dict().keys()


def test_heads_rule_matches_compvis():
    sd2 = UNetParams(**(TINY | dict(model_channels=320, channel_mult=[1, 2, 4, 4],
                                    num_head_channels=64, attention_resolutions=[4, 2, 1])))
    assert [sd2.heads_at(320 * m) for m in (1, 2, 4)] == [(5, 64), (10, 64), (20, 64)]
    sd1 = UNetParams(**(TINY | dict(model_channels=320, channel_mult=[1, 2, 4, 4], num_heads=8)))
    assert [sd1.heads_at(320 * m) for m in (1, 2, 4)] == [(8, 40), (8, 80), (8, 160)]


def test_timestep_embedding_is_cos_then_sin():
    t = torch.tensor([0.0, 7.0])
    e = timestep_embedding(t, 8)
    freqs = 10000 ** (-torch.arange(4) / 4)
    torch.testing.assert_close(e[1], torch.cat([torch.cos(7 * freqs), torch.sin(7 * freqs)]))
    assert torch.equal(e[0], torch.tensor([1.0] * 4 + [0.0] * 4))


def test_half_attention_softmax_in_fp32():
    """Logits ~1e6 overflow fp16 (max 65504); upcasting keeps the result finite and exact."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 16, 64, generator=g) * 30 for _ in range(3))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    out = attention(q.half(), k.half(), v.half())
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.1


def test_bfloat16_follows_input_dtype():
    torch.manual_seed(0)
    net = UNetModel(UNetParams(**TINY)).eval()
    for p in net.parameters():  # zero-init outputs would make the comparison trivial
        torch.nn.init.normal_(p, std=0.05)
    x, ctx, t = torch.randn(1, 4, 8, 8), torch.randn(1, 3, 16), torch.tensor([500])
    with torch.no_grad():
        ref = net(x, t, context=ctx)
        out = net.to(torch.bfloat16)(x.bfloat16(), t, context=ctx.bfloat16())
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    a = UNetModel(UNetParams(**TINY))
    b = UNetModel(UNetParams(**(TINY | {"use_checkpoint": True})))
    for p in a.parameters():
        torch.nn.init.normal_(p, std=0.05)
    b.load_state_dict(a.state_dict())
    x, ctx, t = torch.randn(2, 4, 8, 8), torch.randn(2, 3, 16), torch.tensor([1, 999])
    a(x, t, context=ctx).square().mean().backward()
    b(x, t, context=ctx).square().mean().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=name)


def test_resblock_updown_and_scale_shift_run_at_odd_sizes():
    p = UNetParams(**(TINY | dict(channel_mult=[1, 2, 2], resblock_updown=True,
                                  use_scale_shift_norm=True, context_dim=None, num_classes=5)))
    net = UNetModel(p)
    sd = net.state_dict()
    assert "input_blocks.2.0.in_layers.2.weight" in sd  # downsampling ResBlock, no `op`
    assert not any(k.endswith(".op.weight") for k in sd)
    assert sd["input_blocks.1.0.emb_layers.1.weight"].shape == (64, 128)  # scale and shift
    assert isinstance(net.label_emb, torch.nn.Embedding)
    out = net(torch.randn(2, 4, 11, 6), torch.tensor([5, 6]), vector=torch.tensor([0, 4]))
    assert out.shape == (2, 4, 11, 6)


def test_missing_context_or_vector_is_a_clear_error():
    net = UNetModel(UNetParams(**TINY))
    with pytest.raises(ValueError, match="context_dim is 16 but context is missing"):
        net(torch.randn(1, 4, 8, 8), torch.tensor([1]))
    with pytest.raises(ValueError, match="`vector` must be given exactly"):
        net(torch.randn(1, 4, 8, 8), torch.tensor([1]), context=torch.randn(1, 2, 16),
            vector=torch.tensor([1]))
