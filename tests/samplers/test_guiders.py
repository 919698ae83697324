"""Guiders: the maths of each, and every sampler × guider through a built toy model."""

import pytest
import torch
from ldm_plugin_samplers.guiders import ClassifierFree, ClassifierGuidance, NoGuidance
from ldm_plugin_samplers.image_guidance import ImageL2Guidance

import ldmcore
from ldmcore.conditioning import Conditioning
from ldmcore.diffusion import NoiseSchedule
from ldmcore.errors import SamplingError, SpecError

SAMPLERS = ["ddpm", "ddim", "plms", "dpm_solver_pp", "euler", "euler_ancestral"]
S = NoiseSchedule.preset("ldm", timesteps=100)


def _predict(calls):
    def predict(z, t, cond):
        calls.append(z.shape[0])
        return 0.1 * z + cond.context.mean((1, 2)).reshape(-1, 1, 1, 1)
    return predict


def test_cfg_is_one_batched_call_with_the_guidance_formula():
    z, t = torch.randn(2, 3, 4, 4), torch.tensor([50, 50])
    cond = Conditioning(context=torch.ones(2, 1, 8))
    uncond = Conditioning(context=torch.zeros(2, 1, 8))
    calls = []
    out = ClassifierFree(3.0)(_predict(calls), z, t, cond, uncond, S)
    assert calls == [4]  # [uncond, cond] in one call
    e_u, e_c = 0.1 * z, 0.1 * z + 1
    assert torch.allclose(out, e_u + 3.0 * (e_c - e_u))
    assert torch.allclose(ClassifierFree(1.0)(_predict([]), z, t, cond, uncond, S), e_c)
    assert torch.equal(NoGuidance()(_predict([]), z, t, cond, None, S), e_c)


def test_classifier_guidance_adds_scaled_gradient():
    z, t = torch.randn(2, 3, 4, 4), torch.tensor([10, 90])
    target = torch.randn(2, 3, 4, 4)
    log_prob = lambda z, t: -0.5 * (z - target).pow(2).sum((1, 2, 3))  # noqa: E731
    g = ClassifierGuidance(2.0).bind(log_prob=log_prob)
    out = g(lambda z, t, c: torch.zeros_like(z), z, t, Conditioning(), None, S)
    # ∇ log p = −(z − target);  ε̂ = 0 − s √(1−ᾱ_t) ∇ log p
    k = (1 - S.alphas_cumprod[t]).sqrt().float().reshape(-1, 1, 1, 1)
    assert torch.allclose(out, 2.0 * k * (z - target), atol=1e-6)
    with pytest.raises(SamplingError, match="log_prob"):
        ClassifierGuidance(1.0).bind()
    with pytest.raises(SamplingError, match="unknown guidance"):
        ClassifierGuidance(1.0).bind(log_prob=lambda z, t: z.sum(), y=1)


def test_image_l2_gradient_through_decoder_and_downsampling():
    z, t = torch.randn(1, 1, 4, 4), torch.tensor([60])
    a = float(S.alphas_cumprod[60])
    decode = lambda x: torch.repeat_interleave(torch.repeat_interleave(x, 2, 2), 2, 3)  # noqa: E731
    y = torch.randn(1, 1, 4, 4)  # half the decoded 8×8: T = 2×2 average pooling
    g = ImageL2Guidance(1.5, "area").bind(decode=decode, y=y)
    out = g(lambda z, t, c: torch.zeros_like(z), z, t, Conditioning(), None, S)
    # ε = 0 ⇒ ẑ0 = z/√ᾱ, T(D(ẑ0)) = ẑ0, ∇_z log p = (y − z/√ᾱ)/√ᾱ
    grad = (y - z / a**0.5) / a**0.5
    assert torch.allclose(out, -1.5 * (1 - a) ** 0.5 * grad, atol=1e-5)
    bad = ImageL2Guidance(1.0, "identity").bind(decode=decode, y=torch.randn(1, 1, 4, 4))
    with pytest.raises(SamplingError, match="identity needs y at the sampled image size"):
        bad(lambda z, t, c: torch.zeros_like(z), z, t, Conditioning(), None, S)
    with pytest.raises(SamplingError, match="'y'"):
        ImageL2Guidance(1.0).bind(decode=decode)


def _spec(spec_dict, sampler, guider):
    spec_dict["sampler"] = {"type": sampler, "params": {"steps": 3}}
    spec_dict["guider"] = {"type": guider, "params": {"scale": 2.0} if guider != "none" else {}}
    return spec_dict


@pytest.mark.parametrize("guider", ["none", "cfg", "classifier", "image_l2"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_with_every_guider(registry, spec_dict, sampler, guider):
    model = ldmcore.build(_spec(spec_dict, sampler, guider), registry=registry)
    y = {"class": torch.tensor([0, 3])}
    target = torch.rand(2, 3, 8, 8) * 2 - 1
    guidance = {
        "classifier": {"log_prob": lambda z, t: -(z - 0.5).pow(2).flatten(1).sum(1)},
        "image_l2": {"y": target},
    }.get(guider)
    g = torch.Generator().manual_seed(0)
    out = model.sample(y, generator=g, progress=False, guidance=guidance)
    assert out.shape == (2, 3, 8, 8) and torch.isfinite(out).all()
    if guider != "none":  # guidance changes the sample
        plain = ldmcore.build(_spec(spec_dict, sampler, "none"), registry=registry)
        plain.load_state_dict(model.state_dict())
        ref = plain.sample(y, generator=torch.Generator().manual_seed(0), progress=False)
        assert not torch.allclose(out, ref, atol=1e-4)


def test_image_guidance_pulls_samples_towards_y(registry, spec_dict):
    torch.manual_seed(0)
    model = ldmcore.build(_spec(spec_dict, "ddim", "image_l2"), ["guider.params.scale=20"],
                          registry=registry)
    y = {"class": torch.tensor([1, 2])}
    target = torch.zeros(2, 3, 4, 4)  # low-res target: T = the default bicubic downsampling
    target[:, 0] = 0.8
    dist = lambda x: (torch.nn.functional.avg_pool2d(x, 2) - target).pow(2).mean().item()  # noqa
    guided = model.sample(y, generator=torch.Generator().manual_seed(1), progress=False,
                          guidance={"y": target}, steps=10)
    plain = ldmcore.build(_spec(spec_dict, "ddim", "none"), registry=registry)
    plain.load_state_dict(model.state_dict())
    ref = plain.sample(y, generator=torch.Generator().manual_seed(1), progress=False, steps=10)
    assert dist(guided) < 0.5 * dist(ref)


def test_guidance_errors_before_any_model_call(registry, spec_dict):
    spec_dict["conditioners"] = {}
    with pytest.raises(SpecError, match="cfg"):
        ldmcore.build(spec_dict, registry=registry)
    for guider, guidance, match in [("classifier", None, "log_prob"),
                                    ("image_l2", {"y": torch.zeros(3, 8, 8)}, "image tensor"),
                                    ("none", {"y": 1}, "unknown guidance")]:
        model = ldmcore.build(_spec(spec_dict, "ddim", guider), registry=registry)
        model.denoiser.forward = None  # any model call would fail with a TypeError
        with pytest.raises(SamplingError, match=match):
            model.sample(num_samples=1, progress=False, guidance=guidance)


def test_spec_errors_for_sampler_params(registry, spec_dict):
    for override, match in [("sampler.params.steps=0", "steps"),
                            ("sampler.params.steps=500", "exceeds diffusion.timesteps"),
                            ("sampler.params.eta=-1", "eta"),
                            ("sampler.params.spacing=weird", "spacing")]:
        with pytest.raises(SpecError, match=match):
            ldmcore.build(spec_dict, [override], registry=registry)
    spec_dict["guider"] = {"type": "cfg"}  # the CFG scale is never a silent default
    with pytest.raises(SpecError, match="guider.params"):
        ldmcore.build(spec_dict, registry=registry)
