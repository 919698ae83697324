"""logsnr / karras spacings against diffusers, quad without duplicates, CompVis DDIM/PLMS parity.

The CompVis reference is written here from the formulas of `make_ddim_sampling_parameters`
(ldm/modules/diffusionmodules/util.py): alphas = ᾱ[ts], alphas_prev = [ᾱ[0]] + ᾱ[ts[:-1]]
(ts ascending), then DDIM's update with those pairs; PLMS uses the same pairs.
"""

import math

import numpy as np
import pytest
import torch
from ldm_plugin_samplers.ddim import DDIM
from ldm_plugin_samplers.dpm_solver import DPMSolverPP
from ldm_plugin_samplers.params import DDIMParams, DPMSolverParams, PLMSParams
from ldm_plugin_samplers.plms import PLMS

from ldmcore.diffusion import NoiseSchedule
from ldmcore.diffusion.spacing import sigma_levels, spaced_timesteps

diffusers = pytest.importorskip("diffusers")

SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
          beta_schedule="scaled_linear")


def _diffusers_dpm(steps: int, **kw):
    sched = diffusers.DPMSolverMultistepScheduler(**SD, algorithm_type="dpmsolver++", **kw)
    sched.set_timesteps(steps)
    return sched


@pytest.mark.parametrize("steps", [5, 10, 15, 20, 25])
@pytest.mark.parametrize("spacing,flag", [("logsnr", "use_lu_lambdas"),
                                          ("karras", "use_karras_sigmas")])
def test_sigma_spacings_match_diffusers(spacing, flag, steps):
    s = NoiseSchedule.preset("sd")
    ref = _diffusers_dpm(steps, **{flag: True})
    ours = spaced_timesteps(spacing, 1000, steps, sigmas=s.sigmas.tolist())
    assert ours == ref.timesteps.tolist()
    # diffusers holds ᾱ in fp32: the same formula over its σ_t gives its σ_i ...
    ac = ref.alphas_cumprod.double()
    levels = sigma_levels(spacing, ((1 - ac) / ac).sqrt().tolist(), steps)
    assert np.allclose(levels, ref.sigmas[:-1].numpy(), rtol=1e-6, atol=0)
    # ... and ours (float64 ᾱ) differ from them only by that rounding
    ours_levels = sigma_levels(spacing, s.sigmas.tolist(), steps)
    assert np.allclose(ours_levels, ref.sigmas[:-1].numpy(), rtol=1e-4, atol=0)


@pytest.mark.parametrize("spacing", ["uniform", "quad", "linspace", "trailing", "logsnr",
                                     "karras"])
@pytest.mark.parametrize("steps", [1, 2, 30, 50, 100, 250, 999, 1000])
def test_every_spacing_is_strictly_decreasing(spacing, steps):
    s = NoiseSchedule.preset("sd")
    ts = spaced_timesteps(spacing, 1000, steps, sigmas=s.sigmas.tolist())
    assert len(ts) == steps and 0 <= ts[-1] and ts[0] <= 999
    assert all(a > b for a, b in zip(ts, ts[1:])), ts[-8:]


def test_quad_matches_compvis_until_it_would_repeat():
    # CompVis: ((linspace(0, sqrt(0.8 T), S)) ** 2).astype(int) + 1; distinct up to S = 29
    for S in (10, 20, 29):
        ref = ((np.linspace(0, np.sqrt(800), S)) ** 2).astype(int) + 1
        assert len(set(ref)) == S
        assert spaced_timesteps("quad", 1000, S) == ref[::-1].tolist()
    ref = ((np.linspace(0, np.sqrt(800), 30)) ** 2).astype(int) + 1
    assert len(set(ref)) == 29  # the original repeats a step ...
    assert len(set(spaced_timesteps("quad", 1000, 30))) == 30  # ... ours does not


def test_dpm_solver_runs_with_quad_at_many_steps():
    s = NoiseSchedule.preset("sd")
    z = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = DPMSolverPP(DPMSolverParams(steps=50, spacing="quad")).sample(
        lambda x, t: 0.1 * x, z, s, progress=False)
    assert torch.isfinite(out).all()


def test_sigma_spacing_without_sigmas_is_an_error():
    with pytest.raises(ValueError, match="sigmas"):
        spaced_timesteps("karras", 1000, 10)


# ---------------------------------------------------------------- CompVis DDIM / PLMS parity
MU = torch.linspace(-0.6, 0.6, 48, dtype=torch.float64).reshape(1, 3, 4, 4)
S2 = 0.3


def gaussian_eps(schedule):
    """The exact ε of data N(μ, s² I): √(1−ᾱ)(z − √ᾱ μ)/(ᾱ s² + 1 − ᾱ)."""
    def eps(z, t):
        a = schedule.alphas_cumprod[t.long()].to(z).reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * (z - a.sqrt() * MU) / (a * S2 + 1 - a)
    return eps


def compvis_pairs(schedule, steps):
    """make_ddim_sampling_parameters: (ᾱ_t, ᾱ_prev) per visited step, largest t first."""
    ac = schedule.alphas_cumprod.numpy()
    ts = np.arange(0, 1000, 1000 // steps) + 1  # make_ddim_timesteps("uniform")
    alphas = ac[ts]
    alphas_prev = np.asarray([ac[0]] + ac[ts[:-1]].tolist())
    return list(zip(ts[::-1], alphas[::-1], alphas_prev[::-1]))


def compvis_ddim(schedule, z, steps):
    eps_fn = gaussian_eps(schedule)
    for t, a, a_prev in compvis_pairs(schedule, steps):
        e = eps_fn(z, torch.full((z.shape[0],), int(t)))
        x0 = (z - math.sqrt(1 - a) * e) / math.sqrt(a)
        z = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * e
    return z


def compvis_plms(schedule, z, steps):
    eps_fn = gaussian_eps(schedule)
    pairs = compvis_pairs(schedule, steps)

    def transfer(z, e, a, a_prev):
        x0 = (z - math.sqrt(1 - a) * e) / math.sqrt(a)
        return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * e

    old = []
    for i, (t, a, a_prev) in enumerate(pairs):
        e = eps_fn(z, torch.full((z.shape[0],), int(t)))
        if not old:
            t_next = pairs[i + 1][0] if i + 1 < len(pairs) else t
            e_next = eps_fn(transfer(z, e, a, a_prev), torch.full((z.shape[0],), int(t_next)))
            e_prime = (e + e_next) / 2
        elif len(old) == 1:
            e_prime = (3 * e - old[-1]) / 2
        elif len(old) == 2:
            e_prime = (23 * e - 16 * old[-1] + 5 * old[-2]) / 12
        else:
            e_prime = (55 * e - 59 * old[-1] + 37 * old[-2] - 9 * old[-3]) / 24
        z = transfer(z, e_prime, a, a_prev)
        old = (old + [e])[-3:]
    return z


@pytest.mark.parametrize("steps", [10, 50])
@pytest.mark.parametrize("name", ["ddim", "plms"])
def test_default_lands_where_compvis_lands(name, steps):
    s = NoiseSchedule.preset("sd")
    z = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    sampler = DDIM(DDIMParams(steps=steps)) if name == "ddim" else PLMS(PLMSParams(steps=steps))
    ours = sampler.sample(gaussian_eps(s), z, s, progress=False)
    ref = (compvis_ddim if name == "ddim" else compvis_plms)(s, z, steps)
    rel = ((ours - ref).norm() / ref.norm()).item()
    assert rel < 1e-6, rel
    # the older `first_step` choice stops one noise level short: a clearly different sample
    other = type(sampler)(type(sampler.params)(steps=steps, final_alpha="first_step"))
    far = other.sample(gaussian_eps(s), z, s, progress=False)
    assert ((far - ref).norm() / ref.norm()).item() > 1e-3
