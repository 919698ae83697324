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
from ldmcore import precision
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
    labels = torch.tensor([1, 2], device=next(model.parameters()).device)  # the toy's device
    return model.sample({"class": labels}, generator=torch.Generator().manual_seed(0),
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


# ------------------------------------------------- the low-precision copies cached across calls
def casts(model) -> int:
    return precision.cast_cache(model.denoiser, torch.bfloat16).casts


def n_floating(model) -> int:
    return sum(t.is_floating_point() for t in (*model.denoiser.parameters(),
                                               *model.denoiser.buffers()))


def test_second_bf16_call_reuses_the_cast_and_is_bit_identical():
    model = build(CFG)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = sample(model, precision="bf16")
    assert casts(model) == n_floating(model)
    second = sample(model, precision="bf16")
    assert casts(model) == n_floating(model)  # nothing cast again
    assert torch.equal(first, second)
    assert all(torch.equal(before[k], v) and before[k].dtype == v.dtype
               for k, v in model.state_dict().items())  # fp32 restored bit for bit


def _optimizer_step(model, **kw):
    opt = torch.optim.AdamW(model.denoiser.parameters(), lr=1e-2, **kw)
    with torch.enable_grad():
        model.loss({"image": torch.rand(2, 3, 8, 8) * 2 - 1,
                    "class": torch.tensor([1, 2])}).backward()
    opt.step()


def _load_state_dict(model):
    state = {k: v + 0.01 if v.is_floating_point() else v
             for k, v in model.denoiser.state_dict().items()}
    model.denoiser.load_state_dict(state)


def _ema_applied(model):
    from ldmcore.training.ema import Ema, ema_target

    ema = Ema(ema_target(model), 0.5)
    with torch.no_grad():
        for p in ema.ema.module.parameters():
            p.mul_(0.9)
    return ema.applied()


def _data_copy(model):  # bypasses the version counter: only the probes can see it
    for p in model.denoiser.parameters():
        p.data.copy_(p.data * 0.99)


def _data_replace(model):  # new storage, version counter kept
    for p in model.denoiser.parameters():
        p.data = p.data * 0.99


UPDATES = {
    "adamw": lambda m: _optimizer_step(m, foreach=False),
    "adamw_foreach": lambda m: _optimizer_step(m, foreach=True),
    "adamw_fused": lambda m: _optimizer_step(m, fused=True),  # no version bump
    "load_state_dict": _load_state_dict,
    "data_copy": _data_copy,
    "data_replace": _data_replace,
}


@pytest.mark.parametrize("update", UPDATES)
def test_a_weight_update_invalidates_the_cached_cast(update):
    model = build(CFG)
    old = sample(model, precision="bf16")
    UPDATES[update](model)
    cached = sample(model, precision="bf16")
    assert casts(model) > n_floating(model)  # recast
    model.clear_sampling_cache()
    fresh = sample(model, precision="bf16")
    assert torch.equal(cached, fresh)
    assert not torch.equal(cached, old)


def test_ema_applied_and_restored_invalidates_the_cached_cast():
    model = build(CFG)
    live = sample(model, precision="bf16")
    with _ema_applied(model):
        ema = sample(model, precision="bf16")
        model.clear_sampling_cache()
        assert torch.equal(sample(model, precision="bf16"), ema)
    assert not torch.equal(ema, live)
    assert torch.equal(sample(model, precision="bf16"), live)


def test_only_the_changed_tensor_is_cast_again():
    model = build(CFG)
    sample(model, precision="bf16")
    with torch.no_grad():
        model.denoiser.out[2].bias.add_(1.0)  # one tensor, in place
    sample(model, precision="bf16")
    assert casts(model) == n_floating(model) + 1


def test_an_in_place_write_during_the_call_is_not_kept():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3))
    before = net[0].weight.clone()
    with torch.no_grad(), cast_module(net, torch.bfloat16):
        net[0].weight.add_(1.0)  # writes the cached bf16 copy
    assert torch.equal(net[0].weight, before)
    with cast_module(net, torch.bfloat16):
        assert torch.equal(net[0].weight, before.to(torch.bfloat16))  # cast again


def test_cache_memory_is_half_of_fp32_and_freed():
    model = build(CFG)
    fp32 = sum(t.numel() * 4 for t in (*model.denoiser.parameters(), *model.denoiser.buffers())
               if t.is_floating_point())
    sample(model, precision="bf16")
    assert precision.cast_cache_bytes(model.denoiser) == fp32 // 2
    assert precision.cast_cache_bytes(copy.deepcopy(model).denoiser) == 0  # copies drop it
    model.clear_sampling_cache()
    assert precision.cast_cache_bytes(model.denoiser) == 0
    sample(model, precision="bf16")
    sample(model, precision="fp32")  # an fp32 call frees it too
    assert precision.cast_cache_bytes(model.denoiser) == 0


# --------------------------------------------------------------- CUDA graphs (sampling.cuda_graph)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cfg_hands_the_unet_one_context_tensor_per_call():
    """CFG batches [null, cond] once per call, so the K/V cache hits by identity (no value
    comparison, which syncs the host on a GPU)."""
    model = build(CFG)
    seen = []
    model.denoiser.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["context"]), with_kwargs=True)
    sample(model)
    assert len(seen) == 6 and all(c is seen[0] for c in seen)
    sample(model)
    assert seen[6] is not seen[0]  # a new call batches its own conditioning


def test_graphed_denoiser_runs_cpu_inputs_and_autograd_eagerly():
    from ldmcore.cuda_graphs import GraphedDenoiser

    calls = []
    graphed = GraphedDenoiser(lambda x, t, context=None: calls.append(1) or x * 2)
    x = torch.ones(2, 3)
    for _ in range(3):
        assert torch.equal(graphed(x, torch.zeros(2), context=None), x * 2)
    with torch.enable_grad():
        graphed(x.requires_grad_(), torch.zeros(2))
    assert len(calls) == 4 and not graphed._graphs and not graphed._warmed


@pytest.mark.parametrize("command", [["generate", "m.yaml"], ["eval", "m.yaml", "-n", "2"]])
def test_cuda_graph_flags_set_the_spec_key(command):
    from ldmcore.cli.generate import sampling_overrides
    from ldmcore.cli.main import parse

    assert "sampling.cuda_graph=false" in sampling_overrides(parse([*command, "--no-cuda-graph"]))
    assert "sampling.cuda_graph=true" in sampling_overrides(parse([*command, "--cuda-graph"]))
    assert not any("cuda_graph" in o for o in sampling_overrides(parse(command)))


def count_replays(monkeypatch) -> list[int]:
    replays = [0]
    replay = torch.cuda.CUDAGraph.replay

    def counting(self):
        replays[0] += 1
        return replay(self)
    monkeypatch.setattr(torch.cuda.CUDAGraph, "replay", counting)
    return replays


@cuda
@pytest.mark.parametrize("guider", [CFG, CFG_INTERVAL, {"type": "none"}])
@pytest.mark.parametrize("sampler", ["ddim", "plms", "dpm_solver_pp"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graph_samples_are_bit_identical_to_eager(guider, sampler, precision, monkeypatch):
    model = build(guider, sampler).to("cuda")
    eager = sample(model, precision=precision, cuda_graph=False)
    replays = count_replays(monkeypatch)
    graphed = sample(model, precision=precision)  # on by default
    assert torch.equal(graphed, eager)
    assert replays[0] >= 3  # 6 steps: warm-up, capture, replays (per input shape)
    assert torch.equal(sample(model, precision=precision), eager)  # a new call, new graphs


@cuda
def test_cuda_graph_off_in_the_spec_runs_eagerly(monkeypatch):
    model = build(CFG, sampling={"cuda_graph": False}).to("cuda")
    replays = count_replays(monkeypatch)
    sample(model)
    assert replays[0] == 0


@cuda
def test_a_denoiser_that_syncs_the_host_cannot_be_graphed(monkeypatch):
    model = build(CFG).to("cuda")
    forward = type(model.denoiser).forward

    def syncing(self, x, *args, **kwargs):
        if float(x.abs().max()) > 1e9:  # a host sync: not capturable
            raise AssertionError
        return forward(self, x, *args, **kwargs)
    monkeypatch.setattr(type(model.denoiser), "forward", syncing)
    with pytest.raises(SamplingError, match=r"^sampling\.cuda_graph: .*--no-cuda-graph") as info:
        sample(model)
    assert "\n" not in str(info.value)
    torch.cuda.synchronize()
    assert torch.isfinite(sample(model, cuda_graph=False)).all()  # the device is still usable
