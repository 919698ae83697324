"""Core noise-schedule maths: betas, posterior, prediction conversions, loss, presets, spacing."""

import math

import numpy as np
import pytest
import torch

from ldmcore.diffusion import NoiseSchedule
from ldmcore.diffusion.presets import PRESETS
from ldmcore.diffusion.schedule import make_betas
from ldmcore.diffusion.spacing import spaced_timesteps
from ldmcore.spec.models import DiffusionSpec


def test_linear_is_compvis_sqrt_linspace_squared():
    b = make_betas("linear", 1000, 0.00085, 0.012)
    ref = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    assert b.dtype == torch.float64 and np.allclose(b.numpy(), ref, rtol=0, atol=1e-15)
    assert torch.equal(make_betas("scaled_linear", 1000, 0.00085, 0.012), b)
    sq = make_betas("sqrt_linear", 10, 0.1, 0.2)
    assert np.allclose(sq.numpy(), np.linspace(0.1, 0.2, 10))


def test_cosine_alpha_bar_follows_formula():
    s = NoiseSchedule(make_betas("cosine", 1000, 1e-4, 2e-2))
    f = lambda t: math.cos((t / 1000 + 8e-3) / (1 + 8e-3) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 100, 500, 900):
        assert math.isclose(float(s.alphas_cumprod[t]), f(t + 1) / f(0), rel_tol=1e-9)


def test_posterior_matches_ddpm_equations():
    s = NoiseSchedule.preset("ldm")
    b = s.betas.numpy()
    ab = np.cumprod(1 - b)
    for t in (1, 10, 500, 999):
        var = (1 - ab[t - 1]) / (1 - ab[t]) * b[t]
        assert math.isclose(float(s.posterior_variance[t]), var, rel_tol=1e-12)
    assert float(s.posterior_variance[0]) == 0.0
    assert float(s.posterior_log_variance_clipped[0]) == pytest.approx(
        math.log(float(s.posterior_variance[1])))
    # μ̃(z_t, z_0) at z_t = q(z_0, t, ε): a convex-like combination, exact coefficients
    z0, eps = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    t = torch.tensor([1, 200, 999])
    zt = s.q_sample(z0, t, eps)
    mean, var = s.q_posterior(z0, zt, t)
    for i, ti in enumerate(t.tolist()):
        c1 = math.sqrt(ab[ti - 1]) * b[ti] / (1 - ab[ti])
        c2 = math.sqrt(1 - b[ti]) * (1 - ab[ti - 1]) / (1 - ab[ti])
        assert torch.allclose(mean[i], c1 * z0[i] + c2 * zt[i], atol=1e-12)
        assert float(var[i, 0]) == pytest.approx(float(s.posterior_variance[ti]))
    # sigmas: the VE noise level of the same process
    assert torch.allclose(s.sigmas, ((1 - s.alphas_cumprod) / s.alphas_cumprod).sqrt())


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_oracle_prediction_recovers_x0_and_eps(prediction):
    """An oracle outputting the exact target of its prediction type gives back x0 and ε."""
    s = NoiseSchedule.preset("sd", prediction=prediction)
    x0 = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    eps = torch.randn_like(x0)
    t = torch.tensor([0, 17, 500, 999])
    zt = s.q_sample(x0, t, eps)
    out = s.target(x0, eps, t)
    assert torch.allclose(s.to_x0(out, zt, t), x0, atol=1e-9)
    assert torch.allclose(s.to_eps(out, zt, t), eps, atol=1e-6)
    assert torch.allclose(s.eps_to_x0(s.to_eps(out, zt, t), zt, t), x0, atol=1e-9)


def test_loss_weighting_min_snr():
    t = torch.tensor([10, 900])
    z0, noise = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    for prediction in ("eps", "v", "x0"):
        plain = NoiseSchedule.preset("sd", prediction=prediction)
        weighted = NoiseSchedule.preset("sd", prediction=prediction, loss_weighting="min_snr")
        out = plain.target(z0, noise, t) + 0.5  # squared error 0.25 everywhere
        assert plain.loss(out, z0, noise, t).item() == pytest.approx(0.25)
        snr = plain.snr(t)
        clip = snr.clamp(max=5.0)
        w = {"eps": clip / snr, "v": clip / (snr + 1), "x0": clip}[prediction]
        assert weighted.loss(out, z0, noise, t).item() == pytest.approx(0.25 * w.mean().item())
    l1 = NoiseSchedule.preset("ldm", loss="l1")
    assert l1.loss(torch.full((2, 1, 2, 2), 1.5), z0, noise, t).item() == pytest.approx(0.5)


def test_presets_in_spec_and_python():
    d = DiffusionSpec(preset="sd")
    assert (d.schedule, d.linear_start, d.linear_end, d.timesteps) == (
        "scaled_linear", 0.00085, 0.012, 1000)
    assert DiffusionSpec(preset="sd", prediction="v").prediction == "v"  # fields override
    assert DiffusionSpec(preset="sd_v").prediction == "v"
    plain = DiffusionSpec()
    assert {k: getattr(plain, k) for k in PRESETS["ldm"]} == PRESETS["ldm"]  # defaults = ldm
    s = NoiseSchedule.from_spec(DiffusionSpec(preset="sd"))
    assert torch.equal(s.alphas_cumprod, NoiseSchedule.preset("sd").alphas_cumprod)
    with pytest.raises(Exception, match="preset"):
        DiffusionSpec(preset="nope")


def test_spacings():
    uni = spaced_timesteps("uniform", 1000, 50)
    assert uni[:3] == [981, 961, 941] and uni[-1] == 1 and len(uni) == 50
    quad = spaced_timesteps("quad", 1000, 20)  # S ≥ 30: see test_spacing_compvis (no repeats)
    ref = ((np.linspace(0, np.sqrt(1000 * 0.8), 20)) ** 2).astype(int) + 1
    assert quad == ref[::-1].tolist()
    assert spaced_timesteps("trailing", 1000, 4) == [999, 749, 499, 249]
    assert spaced_timesteps("linspace", 1000, 4) == [999, 666, 333, 0]
    assert spaced_timesteps("uniform", 10, 10) == list(range(9, -1, -1))  # offset dropped
    assert len(spaced_timesteps("uniform", 1000, 3)) == 3  # exactly S (CompVis would give 4)
    for bad in (0, -1, 1001):
        with pytest.raises(ValueError, match="steps"):
            spaced_timesteps("uniform", 1000, bad)
