"""Per-sample-call cross-attention K/V cache (bit-exact) and the sampling precision option."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
from pathlib import Path

import ldm_plugin_samplers.plugin as samplers_plugin
import ldm_plugin_unet.plugin as unet_plugin
import pytest
import torch
from ldm_plugin_unet.transformer import CrossAttention

import ldmcore
from ldmcore.errors import SamplingError
from ldmcore.precision import cast_module, cpu_has_bf16, resolve_precision


def _toy():
    path = Path(__file__).parents[1] / "core" / "toy_plugin.py"
    spec = importlib.util.spec_from_file_location("kv_tests_toy_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOY = _toy()


def build(guider: dict, sampler: str = "ddim", **top) -> ldmcore.LatentDiffusion:
    spec = copy.deepcopy(TOY.TOY_SPEC)
    spec["denoiser"] = {"type": "unet", "params": {
        "model_channels": 32, "channel_mult": [1, 2], "num_res_blocks": 1,
        "attention_resolutions": [1, 2], "num_heads": 2}}
    spec["sampler"] = {"type": sampler, "params": {"steps": 6}}
    spec["guider"] = guider
    spec.update(top)
    model = ldmcore.build(spec, registry=TOY.toy_registry(unet_plugin, samplers_plugin))
    torch.manual_seed(0)
    with torch.no_grad():  # random weights everywhere, so the context matters (no zero inits)
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


def sample(model, **kw) -> torch.Tensor:
    return model.sample({"class": torch.tensor([1, 2])}, generator=torch.Generator().manual_seed(0),
                        progress=False, return_latents=True, **kw)


@contextlib.contextmanager
def no_cache():
    orig = CrossAttention.sampling_cache
    CrossAttention.sampling_cache = lambda self: contextlib.nullcontext()
    try:
        yield
    finally:
        CrossAttention.sampling_cache = orig


def count_to_k(model) -> list[int]:
    calls = [0]
    for m in model.denoiser.modules():
        if isinstance(m, CrossAttention):
            m.to_k.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    return calls


CFG = {"type": "cfg", "params": {"scale": 3.0}}
CFG_INTERVAL = {"type": "cfg", "params": {"scale": 3.0, "interval": [0.5, 3.0]}}


@pytest.mark.parametrize("guider", [CFG, CFG_INTERVAL, {"type": "none"}])
@pytest.mark.parametrize("sampler", ["ddim", "dpm_solver_pp"])
def test_cached_kv_is_bit_identical_to_uncached(guider, sampler):
    model = build(guider, sampler)
    with no_cache():
        ref = sample(model)
    out = sample(model)
    assert torch.equal(out, ref)


def test_cache_computes_k_once_per_context_per_layer():
    model = build(CFG_INTERVAL)
    layers = sum(isinstance(m, CrossAttention) and m.to_k.in_features == 8
                 for m in model.denoiser.modules())  # attn2: K from the 8-wide context
    calls = count_to_k(model)
    sample(model)
    cached = calls[0]
    calls[0] = 0
    with no_cache():
        sample(model)
    uncached = calls[0]
    self_attn = len([m for m in model.denoiser.modules() if isinstance(m, CrossAttention)]) - layers
    # self-attention K runs at every call either way; cross-attention K at most twice per layer:
    # once for CFG's [null, cond] batch, once for the conditional branch outside the interval
    n_calls = uncached // (layers + self_attn)
    assert cached == self_attn * n_calls + 2 * layers
    assert cached < uncached
    assert all(m._kv_cache is None for m in model.denoiser.modules()
               if isinstance(m, CrossAttention))  # released after the call


def test_bf16_sampling_restores_fp32_weights_and_stays_close():
    model = build(CFG)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ref = sample(model)
    low = sample(model, precision="bf16")
    assert low.dtype == torch.float32  # the sampler's state stays in the latent's dtype
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype
               for k in before)
    rel = ((low - ref).norm() / ref.norm()).item()
    assert 0 < rel < 0.1, rel
    assert torch.equal(sample(model), ref)


def test_spec_sampling_precision_is_the_default():
    model = build(CFG, sampling={"precision": "bf16"})
    ref = sample(model, precision="bf16")
    assert torch.equal(sample(model), ref)
    assert not torch.equal(sample(model, precision="fp32"), ref)
    with pytest.raises(SamplingError, match="precision"):
        sample(model, precision="fp8")


def test_auto_precision_follows_cpu_flags():
    assert cpu_has_bf16(frozenset({"avx2", "avx512_bf16"}))
    assert cpu_has_bf16(frozenset({"amx_bf16"}))
    assert not cpu_has_bf16(frozenset({"avx2", "avx512f"}))
    assert resolve_precision("auto", "cpu", flags=frozenset({"amx_bf16"})) == torch.bfloat16
    assert resolve_precision("auto", "cpu", flags=frozenset({"avx2"})) == torch.float32
    assert resolve_precision("fp16", "cpu") == torch.float16
    assert resolve_precision("fp32", "cuda") == torch.float32


def test_cast_module_restores_exact_tensors():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    before = [t.clone() for t in net.state_dict().values()]
    with cast_module(net, torch.bfloat16):
        assert all(p.dtype == torch.bfloat16 for p in net.parameters())
        assert net[1].num_batches_tracked.dtype == torch.long  # integers untouched
    assert all(torch.equal(a, b) for a, b in zip(before, net.state_dict().values()))
