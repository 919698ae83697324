"""CFG guidance interval (Kynkäänniemi et al. 2024): guided only for σ_t in [σ_lo, σ_hi]."""

import pytest
import torch
from ldm_plugin_samplers.ddim import DDIM
from ldm_plugin_samplers.guiders import ClassifierFree
from ldm_plugin_samplers.params import CFGParams, DDIMParams
from pydantic import ValidationError

from ldmcore.conditioning import Conditioning
from ldmcore.diffusion import NoiseSchedule

S = NoiseSchedule.preset("sd")


def _predict(calls):
    def predict(z, t, cond):
        calls.append(z.shape[0])
        return 0.1 * z + cond.context.mean((1, 2)).reshape(-1, 1, 1, 1)
    return predict


COND = Conditioning(context=torch.ones(2, 1, 8))
UNCOND = Conditioning(context=torch.zeros(2, 1, 8))


def test_outside_the_interval_one_conditional_call():
    z = torch.randn(2, 3, 4, 4)
    t_hi, t_lo = 900, 100
    s_hi, s_lo = float(S.sigmas[t_hi]), float(S.sigmas[t_lo])
    g = ClassifierFree(3.0, (s_lo * 1.01, s_hi * 0.99))  # both steps just outside
    for t in (t_hi, t_lo):
        calls = []
        out = g(_predict(calls), z, torch.tensor([t, t]), COND, UNCOND, S)
        assert calls == [2] and torch.equal(out, 0.1 * z + 1)
    inside = ClassifierFree(3.0, (s_lo, s_hi))  # closed interval: both ends guided
    for t in (t_hi, t_lo):
        calls = []
        out = inside(_predict(calls), z, torch.tensor([t, t]), COND, UNCOND, S)
        assert calls == [4]
        assert torch.allclose(out, 0.1 * z + 3.0)
        plain = ClassifierFree(3.0)(_predict([]), z, torch.tensor([t, t]), COND, UNCOND, S)
        assert torch.equal(out, plain)


def test_mixed_batch_guides_per_sample():
    z = torch.randn(2, 3, 4, 4)
    g = ClassifierFree(3.0, (0.0, float(S.sigmas[500])))
    out = g(_predict([]), z, torch.tensor([900, 100]), COND, UNCOND, S)
    assert torch.allclose(out[0], 0.1 * z[0] + 1) and torch.allclose(out[1], 0.1 * z[1] + 3)


def test_interval_saves_model_calls_in_a_sampling_run():
    z = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    sampler = DDIM(DDIMParams(steps=20))
    ts = sampler.timesteps(S)
    lo, hi = 0.3, 5.0
    n_in = sum(lo <= float(S.sigmas[t]) <= hi for t in ts)
    assert 0 < n_in < len(ts)
    calls = []
    g = ClassifierFree(3.0, (lo, hi))
    sampler.sample(lambda x, t: g(_predict(calls), x, t, COND, UNCOND, S), z, S, progress=False)
    assert calls.count(4) == n_in and calls.count(2) == len(ts) - n_in


def test_interval_params_are_checked():
    assert CFGParams(scale=2.0, interval=[0.3, 5.0]).interval == (0.3, 5.0)
    assert CFGParams(scale=2.0).interval is None
    for bad in ([5.0, 0.3], [-1.0, 2.0], [1.0]):
        with pytest.raises(ValidationError):
            CFGParams(scale=2.0, interval=bad)
