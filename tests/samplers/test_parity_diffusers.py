"""Our samplers against diffusers' schedulers (test-only oracle) with the SD preset.

A fixed ε-model (the exact ε of Gaussian data, linear in z for each t) and, when the unet plugin
is installed, a tiny random UNet: identical timesteps and final samples within 1e-4.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

diffusers = pytest.importorskip("diffusers")

from ldm_plugin_samplers.ddim import DDIM  # noqa: E402
from ldm_plugin_samplers.ddpm import DDPM  # noqa: E402
from ldm_plugin_samplers.dpm_solver import DPMSolverPP  # noqa: E402
from ldm_plugin_samplers.euler import Euler, EulerAncestral  # noqa: E402
from ldm_plugin_samplers.params import (  # noqa: E402
    DDIMParams,
    DDPMParams,
    DPMSolverParams,
    EulerAncestralParams,
    EulerParams,
    PLMSParams,
)
from ldm_plugin_samplers.plms import PLMS  # noqa: E402

from ldmcore.diffusion import NoiseSchedule  # noqa: E402

SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
          beta_schedule="scaled_linear", steps_offset=1)
SHAPE = (2, 4, 8, 8)


def gaussian_eps(schedule):
    """ε*(z_t, t) for data N(μ, s² I): √(1−ᾱ)(z − √ᾱ μ) / (ᾱ s² + 1 − ᾱ) — linear in z."""
    mu = torch.linspace(-0.5, 0.5, SHAPE[1] * 64).reshape(1, SHAPE[1], 8, 8)
    s2 = 0.25
    ac = schedule.alphas_cumprod

    def model(z, t):
        a = ac[t.long()].float().reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * (z - a.sqrt() * mu) / (a * s2 + 1 - a)

    return model


def run_diffusers(sched, model, noise, steps, generator=None, **step_kw):
    sched.set_timesteps(steps)
    z = noise * sched.init_noise_sigma
    calls = []
    for t in sched.timesteps:
        calls.append(int(t))
        eps = model(sched.scale_model_input(z, t), torch.full((z.shape[0],), int(t)))
        if generator is not None:
            step_kw["generator"] = generator
        z = sched.step(eps, t, z, **step_kw).prev_sample
    return z, calls


def run_ours(sampler, model, noise, schedule, generator=None):
    calls = []

    def denoise(z, t):
        calls.append(int(t[0]))
        return model(z, t)

    z = sampler.sample(denoise, noise, schedule, generator=generator, progress=False)
    return z, calls


CASES = {
    # name: (our sampler, diffusers scheduler, steps, stochastic, extra step kwargs)
    "ddim": (lambda: DDIM(DDIMParams(steps=50, final_alpha="alpha0")),
             lambda: diffusers.DDIMScheduler(**SD, set_alpha_to_one=False, clip_sample=False),
             50, False, {}),
    "ddim_eta": (lambda: DDIM(DDIMParams(steps=20, eta=0.7, final_alpha="alpha0")),
                 lambda: diffusers.DDIMScheduler(**SD, set_alpha_to_one=False,
                                                 clip_sample=False),
                 20, True, {"eta": 0.7}),
    "plms": (lambda: PLMS(PLMSParams(steps=50, final_alpha="alpha0")),
             lambda: diffusers.PNDMScheduler(**SD, set_alpha_to_one=False, skip_prk_steps=True),
             50, False, {}),
    "ddpm": (lambda: DDPM(DDPMParams(steps=50)),
             lambda: diffusers.DDPMScheduler(**SD, clip_sample=False),
             50, True, {}),
    "dpm_solver_pp": (lambda: DPMSolverPP(DPMSolverParams(steps=20, spacing="trailing")),
                      lambda: diffusers.DPMSolverMultistepScheduler(
                          **SD, timestep_spacing="trailing", algorithm_type="dpmsolver++",
                          solver_order=2),
                      20, False, {}),
    "euler": (lambda: Euler(EulerParams(steps=30)),
              lambda: diffusers.EulerDiscreteScheduler(**SD, timestep_spacing="leading"),
              30, False, {}),
    "euler_ancestral": (lambda: EulerAncestral(EulerAncestralParams(steps=30)),
                        lambda: diffusers.EulerAncestralDiscreteScheduler(
                            **SD, timestep_spacing="leading"),
                        30, True, {}),
}


def _compare(name, model, schedule):
    ours_factory, theirs_factory, steps, stochastic, kw = CASES[name]
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    g1 = torch.Generator().manual_seed(1) if stochastic else None
    g2 = torch.Generator().manual_seed(1) if stochastic else None
    ours, our_calls = run_ours(ours_factory(), model, noise, schedule, g1)
    theirs, their_calls = run_diffusers(theirs_factory(), model, noise, steps, g2, **kw)
    assert our_calls == their_calls
    assert torch.isfinite(ours).all()
    err = (ours - theirs).abs().max().item()
    assert err < 1e-4, f"{name}: max |ours − diffusers| = {err:.2e}"
    return our_calls


@pytest.mark.parametrize("name", list(CASES))
def test_matches_diffusers_toy_model(name):
    schedule = NoiseSchedule.preset("sd")
    calls = _compare(name, gaussian_eps(schedule), schedule)
    if name == "ddim":
        assert calls[:3] == [981, 961, 941] and calls[-1] == 1 and len(calls) == 50
    if name == "plms":  # pseudo-Heun: one extra call at the second step
        assert calls[:3] == [981, 961, 961] and len(calls) == 51


def _tiny_unet():
    pytest.importorskip(
        "ldm_plugin_unet", reason="ldm-plugin-unet is not installed (pip install -e "
        "plugins/ldm-plugin-unet) — the real-UNet parity case needs it"
    )
    from ldm_plugin_unet.params import UNetParams
    from ldm_plugin_unet.unet import UNetModel

    torch.manual_seed(0)
    p = UNetParams(in_channels=4, out_channels=4, model_channels=32, channel_mult=[1, 2],
                   num_res_blocks=1, attention_resolutions=[2], num_head_channels=16)
    net = UNetModel(p).eval()
    with torch.no_grad():  # a random net's output is tiny; make it matter to the sample
        for prm in net.out.parameters():
            prm.normal_(0, 0.05, generator=torch.Generator().manual_seed(2))

    @torch.no_grad()
    def model(z, t):
        return net(z, t)

    return model


@pytest.mark.parametrize("name", list(CASES))
def test_matches_diffusers_tiny_unet(name):
    model = _tiny_unet()
    _compare(name, model, NoiseSchedule.preset("sd"))
