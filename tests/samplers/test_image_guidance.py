"""Image guidance (LDM Appendix C): the transforms T, the gradient's sign, the size errors."""

import numpy as np
import pytest
import torch
from ldm_plugin_samplers.image_guidance import ImageL2Guidance, degrade
from PIL import Image
from torch.nn import functional as F

import ldmcore
from ldmcore.conditioning import Conditioning
from ldmcore.diffusion import NoiseSchedule
from ldmcore.errors import SamplingError, SpecError

S = NoiseSchedule.preset("ldm", timesteps=100)


def _pil_bicubic(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL's antialiased bicubic resize (a = −0.5), channel by channel: an independent T."""
    out = [np.asarray(Image.fromarray(c.numpy(), mode="F").resize((w, h), Image.BICUBIC))
           for c in x[0]]
    return torch.from_numpy(np.stack(out))[None]


def test_bicubic_is_antialiased_bicubic_at_ys_size():
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for h, w in [(32, 32), (24, 20), (64, 64)]:
        out = degrade(x, (h, w), "bicubic")
        assert out.shape == (1, 3, h, w)
        assert torch.allclose(out, _pil_bicubic(x, h, w), atol=1e-5)
    # antialiased: a 1-pixel checkerboard averages out instead of aliasing to ±1
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None]).remainder(2).float() * 2 - 1
    assert degrade(checker.expand(1, 3, 64, 64), (32, 32), "bicubic").abs().max() < 0.05
    assert torch.allclose(degrade(torch.full((2, 3, 64, 64), 0.4), (32, 32), "bicubic"),
                          torch.full((2, 3, 32, 32), 0.4), atol=1e-6)


def test_area_is_average_pooling_and_identity_keeps_the_image():
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(degrade(x, (8, 8), "area"), F.avg_pool2d(x, 2), atol=1e-6)
    assert torch.allclose(degrade(x, (4, 4), "area"), F.avg_pool2d(x, 4), atol=1e-6)
    # a non-integer factor averages the pixels each output covers
    assert torch.allclose(degrade(x, (5, 5), "area"), F.adaptive_avg_pool2d(x, 5), atol=1e-6)
    assert degrade(x, (16, 16), "identity") is x


def test_size_and_shape_errors_name_the_problem():
    x = torch.randn(1, 3, 16, 16)
    with pytest.raises(SamplingError, match="transform=identity needs y at the sampled image "
                                            "size 16×16, got 8×8"):
        degrade(x, (8, 8), "identity")
    with pytest.raises(SamplingError, match="larger than the sampled image 16×16"):
        degrade(x, (32, 32), "bicubic")
    with pytest.raises(SamplingError, match="unknown transform 'nearest'"):
        ImageL2Guidance(1.0, "nearest")
    g = ImageL2Guidance(1.0).bind(decode=lambda z: z, y=torch.zeros(1, 1, 8, 8))
    with pytest.raises(SamplingError, match="1 channels"):
        g.degrade(x)
    g = ImageL2Guidance(1.0).bind(decode=lambda z: z, y=torch.zeros(2, 3, 8, 8))
    with pytest.raises(SamplingError, match="2 images for a batch of 3"):
        g.degrade(torch.zeros(3, 3, 16, 16))


def _err(guider, z, t, eps, a):
    """‖y − T(D(ẑ0))‖² of the ẑ0 that a given ε̂ implies."""
    x0 = (z - (1 - a) ** 0.5 * eps) / a**0.5
    return (guider.y - guider.degrade(guider.decode(x0))).pow(2).sum().item()


@pytest.mark.parametrize("transform", ["bicubic", "area", "identity"])
def test_guided_eps_lowers_the_error_of_the_implied_x0(transform):
    torch.manual_seed(0)
    decode = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(2, 3, 3, 1, 1))
    z, t = torch.randn(2, 2, 8, 8), torch.tensor([70, 30])
    a = S.alphas_cumprod[t].float().reshape(-1, 1, 1, 1)
    side = 16 if transform == "identity" else 8
    y = torch.rand(2, 3, side, side) * 2 - 1
    weight = torch.randn(2, 2, 1, 1) * 0.1

    def predict(z, t, c):  # a toy denoiser, differentiable in z
        return F.conv2d(z, weight)

    eps = predict(z, t, None)
    base = ImageL2Guidance(0.0, transform).bind(decode=decode, y=y)
    errors = []
    for scale in (0.0, 0.01, 0.03):
        g = ImageL2Guidance(scale, transform).bind(decode=decode, y=y)
        out = g(predict, z, t, Conditioning(), None, S)
        errors.append(_err(base, z, t, out, a))
    # ε̂ = ε − s √(1−ᾱ) ∇ log p: at s = 0 it is ε, and growing s moves ẑ0 towards y
    assert errors[0] == pytest.approx(_err(base, z, t, eps, a), rel=1e-6)
    assert errors[0] > errors[1] > errors[2]


def _spec(spec_dict, transform=None, scale=None):
    spec_dict["sampler"] = {"type": "ddim", "params": {"steps": 10}}
    params = {k: v for k, v in (("transform", transform), ("scale", scale)) if v is not None}
    spec_dict["guider"] = {"type": "image_l2", "params": params}
    return spec_dict


def test_spec_defaults_and_bad_transform(registry, spec_dict):
    model = ldmcore.build(_spec(spec_dict), registry=registry)
    assert model.guider.transform == "bicubic"
    assert model.guider.scale == 0.7  # measured in benchmarks/image_guidance.md
    model = ldmcore.build(_spec(spec_dict), ["guider.params.transform=area"], registry=registry)
    assert model.guider.transform == "area"
    with pytest.raises(SpecError, match="transform"):
        ldmcore.build(_spec(spec_dict), ["guider.params.transform=nearest"], registry=registry)


def test_sampling_at_2x_guided_by_a_1x_image(registry, spec_dict):
    """The paper's Fig. 14 use on the toy model: sample at 16×16 (2× its 8×8), y at 8×8."""
    torch.manual_seed(0)
    model = ldmcore.build(_spec(spec_dict, "bicubic", 20.0), registry=registry)
    plain = ldmcore.build(_spec(spec_dict, "bicubic", 0.0), registry=registry)
    plain.load_state_dict(model.state_dict())
    y = torch.zeros(2, 3, 8, 8)
    y[:, 0], y[:, 2, :4] = 0.8, -0.6
    batch = {"class": torch.tensor([1, 2])}

    def error(m):
        x = m.sample(batch, latent_size=(8, 8), generator=torch.Generator().manual_seed(1),
                     progress=False, guidance={"y": y})
        assert x.shape == (2, 3, 16, 16)
        return (degrade(x, (8, 8), "bicubic") - y).pow(2).mean().item()

    assert error(model) < 0.5 * error(plain)


def test_identity_at_another_size_fails_before_a_sample_is_returned(registry, spec_dict):
    model = ldmcore.build(_spec(spec_dict, "identity"), registry=registry)
    with pytest.raises(SamplingError, match="transform=identity needs y at the sampled image "
                                            "size 16×16, got 8×8"):
        model.sample({"class": torch.tensor([1])}, latent_size=(8, 8), progress=False,
                     guidance={"y": torch.zeros(1, 3, 8, 8)})
