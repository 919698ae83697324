"""PSNR and SSIM against known values and scikit-image."""

import math

import numpy as np
import pytest
import torch
from ldm_plugin_metrics.evaluators import Psnr, Ssim
from ldm_plugin_metrics.pixel import ssim
from skimage.metrics import structural_similarity

from ldmcore.errors import DataError


def imgs(n=3, c=3, s=24, seed=0):
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_psnr_known_values():
    x = imgs()
    assert math.isinf(Psnr()(real=x, fake=x.clone())["psnr"])
    y = torch.full((2, 3, 8, 8), -1.0)
    # an offset of 0.1 in [0, 1] units (0.2 in [-1, 1]) everywhere: MSE 0.01 -> 20 dB
    assert Psnr()(real=y, fake=y + 0.2)["psnr"] == pytest.approx(20.0, abs=1e-6)


def test_ssim_identical_and_against_skimage():
    x, y = imgs(seed=1), imgs(seed=2)
    assert Ssim(1.5, 0.01, 0.03)(real=x, fake=x)["ssim"] == pytest.approx(1.0, abs=1e-9)
    blurred = (x + 0.3 * y).clamp(-1, 1)
    ours = ssim((x + 1) / 2, (blurred + 1) / 2)
    for i in range(len(x)):
        ref = structural_similarity(
            ((x[i] + 1) / 2).double().numpy(), ((blurred[i] + 1) / 2).double().numpy(),
            channel_axis=0, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        assert ours[i].item() == pytest.approx(ref, abs=1e-6)
    assert Ssim(1.5, 0.01, 0.03)(real=x, fake=y)["ssim"] < 0.2
    tiny = imgs(2, 1, 6)
    assert Ssim(1.5, 0.01, 0.03)(real=tiny, fake=tiny)["ssim"] == pytest.approx(1.0)


def test_bad_inputs_name_the_key():
    x = imgs()
    with pytest.raises(DataError, match="'real'.*'fake'.*same shape"):
        Psnr()(real=x, fake=x[:, :, :8])
    with pytest.raises(DataError, match="'fake' is missing"):
        Ssim(1.5, 0.01, 0.03)(real=x)
    with pytest.raises(DataError, match="'real': expected"):
        Psnr()(real=np.zeros((3, 8, 8)), fake=x)
