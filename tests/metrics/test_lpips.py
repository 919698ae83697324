"""LPIPS: built from local files in every accepted key layout, zero on identical images."""

import pytest
import torch
from ldm_plugin_metrics.evaluators import LpipsMetric
from ldm_plugin_metrics.lpips import TAPS, build_lpips
from safetensors.torch import save_file
from torchvision.models import alexnet

from ldmcore.errors import CheckpointError, SpecError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    feats = {f"features.{k}": v for k, v in alexnet(weights=None).features.state_dict().items()}
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(TAPS["alex"][1])}
    torch.save(feats, d / "alexnet.pth")
    save_file(lins, str(d / "lin.safetensors"))
    # the LPIPS package layout: backbone under net.sliceK.N, in one file with the lins
    slices = {f"net.slice1.{k[len('features.'):]}": v for k, v in feats.items()}
    torch.save({**slices, **lins}, d / "full.pth")
    return d


def test_identical_zero_different_positive(files):
    net = build_lpips("alex", str(files / "lin.safetensors"), str(files / "alexnet.pth"))
    ev = LpipsMetric(net, batch_size=2)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    y = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    assert ev(real=x, fake=x)["lpips"] == pytest.approx(0.0, abs=1e-7)
    near = ev(real=x, fake=(x + 0.05 * y).clamp(-1, 1))["lpips"]
    far = ev(real=x, fake=y)["lpips"]
    assert 0 < near < far
    assert ev(real=y, fake=x)["lpips"] == pytest.approx(far, rel=1e-5)
    full = LpipsMetric(build_lpips("alex", str(files / "full.pth"), None), 4)
    assert full(real=x, fake=y)["lpips"] == pytest.approx(far, rel=1e-5)
    grey = x[:, :1]
    assert ev(real=grey, fake=grey)["lpips"] == pytest.approx(0.0, abs=1e-7)


def test_weights_are_required_and_checked(files, tmp_path):
    with pytest.raises(SpecError, match="needs weights"):
        build_lpips("alex", None, None)
    with pytest.raises(CheckpointError, match="nope.pth"):
        build_lpips("alex", str(tmp_path / "nope.pth"), None)
    with pytest.raises(CheckpointError, match="backbone weights missing"):
        build_lpips("alex", str(files / "lin.safetensors"), None)
    torch.save({"lin0.weight": torch.rand(1, 3, 1, 1)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="linear weights missing"):
        build_lpips("alex", str(tmp_path / "bad.pth"), str(files / "alexnet.pth"))
