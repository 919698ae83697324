"""LatentDiffusion.sample: pixel-space image / mask / strength, latent size, option errors."""

import pytest
import torch

import ldmcore
from ldmcore.errors import SamplingError


@pytest.fixture
def model(registry, spec_dict):
    torch.manual_seed(0)
    return ldmcore.build(spec_dict, registry=registry)


def blocky(n=2):
    """Images constant on 2×2 blocks: the toy first stage (pool / nearest) round-trips them."""
    small = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(3)) * 2 - 1
    return small.repeat_interleave(2, 2).repeat_interleave(2, 3)


@pytest.mark.parametrize("sampler", ["ddim", "plms", "dpm_solver_pp", "euler_ancestral"])
def test_inpainting_from_pixel_image_and_mask(model, sampler, registry, spec_dict):
    spec_dict["sampler"]["type"] = sampler
    model = ldmcore.build(spec_dict, registry=registry)
    image = blocky()
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 4:] = 1  # fill the right half
    y = {"class": torch.tensor([0, 1])}
    out = model.sample(y, image=image, mask=mask, generator=torch.Generator().manual_seed(0),
                       progress=False)
    assert torch.allclose(out[..., :4], image[..., :4], atol=1e-6)
    assert not torch.allclose(out[..., 4:], image[..., 4:], atol=1e-2)


def test_img2img_strength(model):
    image = blocky()
    y = {"class": torch.tensor([0, 1])}
    calls = []
    inner = model.predict_eps
    model.predict_eps = lambda z, t, c: (calls.append(int(t[0])), inner(z, t, c))[1]
    out = model.sample(y, image=image, strength=0.6, steps=10, progress=False,
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == image.shape
    assert len(set(calls)) == 6 and max(calls) < 99  # the last ⌊10 · 0.6⌋ steps only
    weak = model.sample(y, image=image, strength=0.1, steps=10, progress=False,
                        generator=torch.Generator().manual_seed(0))
    strong = model.sample(y, image=image, strength=1.0, steps=10, progress=False,
                          generator=torch.Generator().manual_seed(0))
    assert (weak - image).abs().mean() < (strong - image).abs().mean()


def test_larger_latent_than_training_size(model):
    out = model.sample({"class": torch.tensor([2])}, latent_size=(6, 10), progress=False)
    assert out.shape == (1, 3, 12, 20)


def test_pixel_input_errors_before_any_model_call(model):
    model.denoiser.forward = None  # a model call would raise TypeError
    y = {"class": torch.tensor([0, 1])}
    image = blocky()
    for kwargs, match in [
        ({"image": image, "mask": torch.ones(2, 1, 4, 4)}, "mask has shape"),
        ({"image": image, "mask": torch.ones(2, 3, 8, 8)}, "mask has shape"),
        ({"image": image, "strength": 0.0}, "strength"),
        ({"image": image, "strength": 1.2}, "strength"),
        ({"strength": 0.5}, "need image"),
        ({"image": image[0]}, r"\(B, C, H, W\)"),
        ({"image": blocky(3)}, "3 items"),
        ({"steps": 0}, "steps"),
        ({"steps": 1000}, "exceeds"),
        ({"eta": -0.5}, "eta"),
    ]:
        with pytest.raises(SamplingError, match=match):
            model.sample(y, progress=False, **kwargs)
