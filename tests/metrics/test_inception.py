"""Inception-v3 features from a local torchvision state dict (never downloaded)."""

import pytest
import torch
from ldm_plugin_metrics.inception import InceptionFeatures, build_inception
from ldm_plugin_metrics.params import FidParams
from ldm_plugin_metrics.plugin import _fid

from ldmcore.errors import CheckpointError, SpecError


def test_inception_needs_a_path(tmp_path):
    with pytest.raises(SpecError, match="inception_v3 state dict"):
        build_inception(None)
    with pytest.raises(CheckpointError, match="missing.pth"):
        build_inception(str(tmp_path / "missing.pth"))


@pytest.mark.slow
def test_inception_fid_from_random_weights(tmp_path):
    torch.manual_seed(0)
    state = InceptionFeatures().net.state_dict()
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)  # torchvision files carry these
    torch.save(state, tmp_path / "inception.pth")
    fid = _fid(FidParams(features="inception", weights=str(tmp_path / "inception.pth")), None)
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    out = fid(real=x, fake=x)
    assert set(out) == {"fid"} and out["fid"] == pytest.approx(0.0, abs=1e-3)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="not a torchvision inception_v3"):
        build_inception(str(tmp_path / "bad.pth"))
