"""Every sampler: oracle recovery, inpainting, img2img, bad input, any size, progress, seeds."""

import pytest
import torch
from ldm_plugin_samplers import plugin

from ldmcore.diffusion import NoiseSchedule
from ldmcore.errors import SamplingError

NAMES = list(plugin.SAMPLERS)


def make(name, **params):
    P, module, cls, _ = plugin.SAMPLERS[name]
    import importlib

    return getattr(importlib.import_module(f"ldm_plugin_samplers.{module}"), cls)(P(**params))


def oracle(schedule, x0, prediction, calls=None):
    """The exact model for the one-point data distribution δ(x0), as ε̂ via to_eps."""
    def denoise(z, t):
        if calls is not None:
            calls.append(int(t[0]))
        a = schedule.alphas_cumprod[t].to(z).reshape(-1, *[1] * (z.ndim - 1))
        eps = (z - a.sqrt() * x0) / (1 - a).sqrt()
        return schedule.to_eps(schedule.target(x0, eps, t), z, t)
    return denoise


def gaussian(schedule, mu=0.3, s2=0.5):
    def denoise(z, t):
        a = schedule.alphas_cumprod[t].to(z).reshape(-1, *[1] * (z.ndim - 1))
        return (1 - a).sqrt() * (z - a.sqrt() * mu) / (a * s2 + 1 - a)
    return denoise


def final_clean(name):
    return {"final_alpha": "one"} if name in ("ddim", "plms") else {}


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("name", NAMES)
def test_oracle_model_recovers_x0(name, prediction):
    s = NoiseSchedule.preset("sd", prediction=prediction)
    x0 = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    noise = torch.randn(x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = make(name, steps=10, **final_clean(name)).sample(
        oracle(s, x0, prediction), noise, s, generator=torch.Generator().manual_seed(2),
        progress=False)
    assert out.dtype == torch.float64
    assert torch.allclose(out, x0, atol=1e-8), (out - x0).abs().max()


@pytest.mark.parametrize("name", NAMES)
def test_inpainting_keeps_known_region(name):
    s = NoiseSchedule.preset("ldm", timesteps=100)
    x0 = torch.randn(2, 4, 6, 10)
    mask = torch.zeros(2, 1, 6, 10)
    mask[..., :, 5:] = 1  # generate the right half
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=g)
    out = make(name, steps=8).sample(gaussian(s), noise, s, generator=g, progress=False,
                                     x0=x0, mask=mask)
    assert torch.equal(out[..., :5], x0[..., :5])
    assert not torch.allclose(out[..., 5:], x0[..., 5:], atol=1e-2)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_img2img_runs_the_last_steps_from_noised_x0(name):
    s = NoiseSchedule.preset("sd", timesteps=1000)
    x0 = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    noise = torch.randn(x0.shape, dtype=torch.float64)
    calls = []
    sampler = make(name, steps=20, **final_clean(name))
    out = sampler.sample(oracle(s, x0, "eps", calls), noise, s, progress=False,
                         x0=x0, strength=0.5, generator=torch.Generator().manual_seed(0))
    full = sampler.timesteps(s)
    assert calls[0] == full[10] and calls[-1] == full[-1]
    assert len(set(calls)) == 10  # ⌊20 · 0.5⌋ steps (PLMS evaluates one twice)
    assert torch.allclose(out, x0, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_refused_before_any_model_call(name):
    s = NoiseSchedule.preset("ldm", timesteps=100)
    noise = torch.randn(1, 4, 8, 8)
    x0 = torch.zeros_like(noise)

    def denoise(z, t):
        raise AssertionError("the model must not be called")

    sampler = make(name, steps=10)
    bad = [
        ({"steps": 0}, "steps"),
        ({"steps": 101}, "exceeds the 100"),
        ({"strength": 0.0, "x0": x0}, "strength"),
        ({"strength": 1.5, "x0": x0}, "strength"),
        ({"strength": 0.5}, "needs x0"),
        ({"strength": 0.01, "x0": x0}, "no step"),
        ({"x0": x0, "mask": torch.ones(1, 1, 4, 4)}, "mask has shape"),
        ({"x0": x0, "mask": torch.ones(1, 8, 8)}, "mask has shape"),
        ({"mask": torch.ones(1, 1, 8, 8)}, "needs x0"),
        ({"x0": torch.zeros(1, 4, 4, 4)}, "x0 has shape"),
        ({"bogus": 1}, "unknown option"),
    ]
    if name in ("ddim", "euler_ancestral"):
        bad.append(({"eta": -0.1}, "eta"))
    for options, match in bad:
        with pytest.raises(SamplingError, match=match):
            sampler.sample(denoise, noise, s, progress=False, **options)


@pytest.mark.parametrize("name", NAMES)
def test_any_latent_size_progress_and_generator(name, capsys):
    s = NoiseSchedule.preset("ldm", timesteps=100)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def denoise(z, t):
        with torch.no_grad():
            return conv(z) * 0.1 + z * (t.float() / 100).reshape(-1, 1, 1, 1)

    noise = torch.randn(1, 3, 12, 20, generator=torch.Generator().manual_seed(0))
    sampler = make(name, steps=4)
    a = sampler.sample(denoise, noise, s, generator=torch.Generator().manual_seed(5),
                       progress=True)
    assert a.shape == (1, 3, 12, 20) and torch.isfinite(a).all()
    assert name in capsys.readouterr().err  # the tqdm bar, named after the sampler
    b = sampler.sample(denoise, noise, s, generator=torch.Generator().manual_seed(5),
                       progress=False)
    assert capsys.readouterr().err == ""
    assert torch.equal(a, b)
    c = sampler.sample(denoise, noise, s, generator=torch.Generator().manual_seed(6),
                       progress=False)
    stochastic = name in ("ddpm", "euler_ancestral")
    assert torch.equal(a, c) != stochastic


def test_ddim_final_alpha_choices_and_eta_one_matches_ddpm_variance():
    """Default (CompVis alphas_prev[0] = ᾱ[0]): the last step moves from ᾱ[1] to ᾱ[0];
    `first_step` lands on ᾱ[ts[0]] = ᾱ[1], leaving z unchanged."""
    s = NoiseSchedule.preset("sd")
    calls, seen = [], []

    def denoise(z, t):
        calls.append(int(t[0]))
        seen.append(z.clone())
        return torch.full_like(z, 0.3)

    out = make("ddim", steps=5).sample(denoise, torch.ones(1, 1, 2, 2), s, progress=False)
    assert calls == [801, 601, 401, 201, 1]
    a1, a0 = float(s.alphas_cumprod[1]), float(s.alphas_cumprod[0])
    x0 = (seen[-1] - (1 - a1) ** 0.5 * 0.3) / a1**0.5
    assert torch.allclose(out, a0**0.5 * x0 + (1 - a0) ** 0.5 * 0.3, atol=1e-6)
    seen.clear()
    out = make("ddim", steps=5, final_alpha="first_step").sample(
        denoise, torch.ones(1, 1, 2, 2), s, progress=False)
    assert torch.allclose(out, seen[-1], atol=1e-6)
    # η = 1: σ_t² equals the DDPM posterior variance β̃ between consecutive steps
    a_t, a_s = float(s.alphas_cumprod[500]), float(s.alphas_cumprod[499])
    sigma2 = (1 - a_s) / (1 - a_t) * (1 - a_t / a_s)
    assert sigma2 == pytest.approx(float(s.posterior_variance[500]), rel=1e-9)


def test_full_ddpm_visits_every_timestep():
    s = NoiseSchedule.preset("ldm", timesteps=50)
    calls = []
    x0 = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    make("ddpm").sample(oracle(s, x0, "eps", calls), torch.randn(1, 1, 2, 2, dtype=torch.float64),
                        s, progress=False)
    assert calls == list(range(49, -1, -1))


def test_higher_order_samplers_are_closer_to_the_exact_ode_solution():
    """Gaussian data N(μ, s²): the probability-flow ODE is solved in closed form,
    x(σ) = μ + (x_T − μ) √(s² + σ²) / √(s² + σ_T²), x = z / √ᾱ. DDIM converges to it; at 20
    steps DPM-Solver++(2M) and PLMS are clearly closer than first-order DDIM (= Euler)."""
    s = NoiseSchedule.preset("sd")
    den = gaussian(s, mu=0.3, s2=0.5)
    noise = torch.randn(4, 2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a_T, sigma_T = float(s.alphas_cumprod[999]), float(s.sigmas[999])
    exact = 0.3 + (noise / a_T**0.5 - 0.3) * (0.5 / (0.5 + sigma_T**2)) ** 0.5

    def err(name, steps, **kw):
        out = make(name, steps=steps, spacing="trailing", **kw).sample(den, noise, s,
                                                                        progress=False)
        return (out - exact).abs().max().item()

    assert err("ddim", 1000, final_alpha="one") < 0.01
    ddim = err("ddim", 20, final_alpha="one")
    assert err("euler", 20) == pytest.approx(ddim, rel=1e-9)  # DDIM is Euler in (σ, x)
    assert err("dpm_solver_pp", 20, order=1) == pytest.approx(ddim, rel=1e-9)
    assert err("dpm_solver_pp", 20) < 0.6 * ddim
    assert err("plms", 20, final_alpha="one") < 0.6 * ddim
