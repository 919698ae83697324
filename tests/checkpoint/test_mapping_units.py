"""Pure key-mapping rules on fake (meta) tensors: no networks needed."""

import pytest
import torch

from ldmcore.checkpoint.compvis import compvis_to_model, model_to_compvis
from ldmcore.checkpoint.variants import explain_mismatch, inspect_checkpoint
from ldmcore.errors import CheckpointError


def t(*shape):
    return torch.empty(shape, device="meta")


def test_sd_inpainting_named_from_shapes():
    state = {
        "model.diffusion_model.input_blocks.0.0.weight": t(320, 9, 3, 3),
        "model.diffusion_model.input_blocks.1.1.proj_in.weight": t(320, 320, 1, 1),
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight":
            t(320, 768),
        "model.diffusion_model.out.2.weight": t(4, 320, 3, 3),
        "first_stage_model.decoder.conv_in.weight": t(512, 4, 3, 3),
    }
    facts = inspect_checkpoint(state)
    assert facts["unet.in_channels"] == 9 and facts["unet.proj_in"] == "conv"
    assert facts["unet.context_dim"] == 768 and facts["first_stage.z_channels"] == 4
    ours = dict(facts, **{"unet.in_channels": 4})
    assert explain_mismatch(facts, ours) == ("checkpoint looks like SD v1 inpainting "
                                             "(UNet in_channels 9) but the spec says UNet "
                                             "in_channels 4")


def test_cond_stage_needs_a_target_when_ambiguous():
    state = {"cond_stage_model.w": t(1), "model.diffusion_model.out.2.bias": t(4)}
    with pytest.raises(CheckpointError, match="conditioners a, b; say which"):
        compvis_to_model(state, conditioners=["a", "b"], source="x.ckpt")
    mapped = compvis_to_model(state, conditioners=["a", "b"], conditioner="b")
    assert set(mapped.state) == {"conditioners.b.conditioner.w", "denoiser.out.2.bias"}
    assert mapped.parts == {"conditioners.b", "denoiser"}


def test_ema_names_map_back_and_leftovers_are_unexpected():
    state = {
        "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2),
        "model_ema.diffusion_modelinput_blocks00weight": torch.ones(2),
        "model_ema.diffusion_modelgone": torch.ones(1),
        "model_ema.num_updates": torch.tensor(3),
    }
    mapped = compvis_to_model(state, ema=True)
    assert torch.equal(mapped.state["denoiser.input_blocks.0.0.weight"], torch.ones(2))
    assert "model_ema.diffusion_modelgone" in mapped.state  # will be reported unexpected
    assert mapped.ignored == ["model_ema.num_updates"]


def test_model_to_compvis_and_back_is_identity():
    state = {"denoiser.a.b": t(1), "first_stage.encoder.x": t(1), "first_stage.scale_factor":
             torch.tensor(0.5), "first_stage.shift_factor": torch.tensor(0.1),
             "conditioners.text.conditioner.w": t(1), "conditioners.text.null_embedding": t(1),
             "conditioners.other.conditioner.v": t(1)}
    cv = model_to_compvis(state, "text")
    assert {"model.diffusion_model.a.b", "first_stage_model.encoder.x", "scale_factor",
            "cond_stage_model.w", "ldmcore.conditioners.text.null_embedding",
            "ldmcore.conditioners.other.conditioner.v",
            "ldmcore.first_stage.shift_factor"} == set(cv)
    back = compvis_to_model(cv, conditioners=["text"]).state
    assert set(back) == set(state)
