"""FID, KID and precision/recall maths on synthetic feature sets with known answers."""

import pytest
import torch
from ldm_plugin_metrics import stats


def gauss(n, d, mean=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + mean


def test_fid_known_values():
    a = gauss(2000, 4)
    assert stats.fid(a, a) == pytest.approx(0.0, abs=1e-6)
    # N(0, I) vs N(1, I) in 4-d: ||mu||^2 = 4, equal covariances -> FID ~ 4
    assert stats.fid(a, gauss(2000, 4, 1.0, seed=1)) == pytest.approx(4.0, abs=0.3)
    # N(0, I) vs N(0, 4I): trace term d (1 + 4 - 2*2) = 4
    assert stats.fid(a, 2 * gauss(2000, 4, seed=2)) == pytest.approx(4.0, abs=0.5)


def test_kid_near_zero_for_same_distribution():
    a, b = gauss(300, 8), gauss(300, 8, seed=3)
    g = torch.Generator().manual_seed(0)
    same, _ = stats.kid(a, a, 10, 100, g)
    similar, _ = stats.kid(a, b, 10, 100, g)
    far, _ = stats.kid(a, gauss(300, 8, 1.0, seed=4), 10, 100, g)
    assert far > 1.0
    # the unbiased estimator of Binkowski et al. is O(1/subset) around 0 for equal distributions
    assert abs(same) < 0.05 * far and abs(similar) < 0.05 * far


def test_precision_recall():
    a = gauss(200, 3)
    assert stats.precision_recall(a, a, 3) == (1.0, 1.0)
    p, r = stats.precision_recall(a, gauss(200, 3, 50.0, seed=5), 3)
    assert p == 0.0 and r == 0.0
    # fake covers only a tight core of the real set: precise but low recall
    p, r = stats.precision_recall(a, 0.05 * gauss(200, 3, seed=6), 3)
    assert p > 0.9 and r < 0.3
