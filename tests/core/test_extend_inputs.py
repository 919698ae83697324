"""denoiser.extend_inputs: a UNet trained on z_t alone starts a concat-conditioned model (SD's
inpainting recipe); with the added input channels at zero it computes exactly what it did."""

from __future__ import annotations

import pytest
import torch

import ldmcore
from ldmcore.errors import CheckpointError, SpecError
from tests.tiny_specs import TINY


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    torch.manual_seed(0)
    model = ldmcore.build("configs/unconditional.yaml", TINY)
    return model, ldmcore.save(model, tmp_path_factory.mktemp("init") / "uncond.safetensors")


def test_the_added_inputs_start_at_zero_and_change_nothing(unconditional):
    source, path = unconditional
    model = ldmcore.build("configs/inpainting.yaml", [*TINY, f"denoiser.checkpoint={path}",
                                                      "denoiser.extend_inputs=true"])
    old = source.denoiser.input_blocks[0][0].weight
    new = model.denoiser.input_blocks[0][0].weight
    assert new.shape[1] > old.shape[1] == 3
    assert torch.equal(new[:, :3], old) and not new[:, 3:].any()
    for k, v in source.denoiser.state_dict().items():
        if k != "input_blocks.0.0.weight":
            assert torch.equal(model.denoiser.state_dict()[k], v), k
    # whatever the concat conditioning holds, the output is the unconditional model's
    z, t = torch.randn(2, 3, 4, 4), torch.tensor([10, 90])
    cond = torch.randn(2, new.shape[1] - 3, 4, 4)
    with torch.no_grad():
        assert torch.equal(model.denoiser(torch.cat([z, cond], 1), t), source.denoiser(z, t))


def test_without_the_option_the_narrow_checkpoint_is_refused(unconditional):
    _, path = unconditional
    with pytest.raises(CheckpointError, match="input_blocks.0.0.weight"):
        ldmcore.build("configs/inpainting.yaml", [*TINY, f"denoiser.checkpoint={path}"])


def test_the_option_needs_a_checkpoint_and_one_narrower_layer(unconditional, tmp_path):
    with pytest.raises(SpecError, match="denoiser.extend_inputs"):
        ldmcore.build("configs/inpainting.yaml", [*TINY, "denoiser.extend_inputs=true"])
    # a checkpoint as wide as the model: nothing to extend, said rather than ignored
    same = ldmcore.save(ldmcore.build("configs/inpainting.yaml", TINY),
                        tmp_path / "same.safetensors")
    with pytest.raises(CheckpointError, match="exactly one denoiser input layer"):
        ldmcore.build("configs/inpainting.yaml", [*TINY, f"denoiser.checkpoint={same}",
                                                  "denoiser.extend_inputs=true"])
