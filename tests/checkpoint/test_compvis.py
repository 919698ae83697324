"""CompVis / SD checkpoints into an ldmcore model: prefixes, EMA, ignorables, strictness."""

import pytest
import torch

from ldmcore.checkpoint import inspect_checkpoint, load_checkpoint
from ldmcore.checkpoint.compvis import model_to_compvis
from ldmcore.checkpoint.export import compvis_state
from ldmcore.errors import CheckpointError


def _sd_extras(state, schedule):
    """What a real SD .ckpt carries besides the weights."""
    state = dict(state)
    state["betas"] = schedule.betas.float()
    state["alphas_cumprod"] = schedule.alphas_cumprod.float()
    state["model_ema.decay"] = torch.tensor(0.9999)
    state["model_ema.num_updates"] = torch.tensor(10, dtype=torch.int32)
    state["loss.logvar"] = torch.zeros(1000)
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(4)[None]
    return state


def _outputs(model):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([10, 500])
    cond = model.condition({"class": torch.tensor([1, 3])})
    with torch.no_grad():
        return model.denoiser(z, t, **cond.kwargs()), model.decode(z)


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_compvis_ckpt_loads_strictly_with_sd_extras(tmp_path, make_model):
    src, dst = make_model(0), make_model(1)
    state = _sd_extras(compvis_state(src), src.schedule)
    assert "model.diffusion_model.input_blocks.0.0.weight" in state
    assert "first_stage_model.encoder.conv_in.weight" in state
    assert "cond_stage_model.emb.weight" in state and "scale_factor" in state
    path = tmp_path / "sd.ckpt"
    torch.save({"state_dict": state, "global_step": 3}, path)
    report = load_checkpoint(dst, path)
    assert report.ok
    assert "loss.logvar" in report.ignored and "model_ema.decay" in report.ignored
    assert not any("schedule" in n for n in report.notes)  # same schedule as the spec
    for (a, b) in zip(_outputs(src), _outputs(dst)):
        assert torch.equal(a, b)
    assert float(dst.first_stage.scale_factor) == pytest.approx(0.18215)


def test_missing_scale_factor_keeps_spec_value(tmp_path, make_model):
    src, dst = make_model(0), make_model(1)
    state = compvis_state(src)
    del state["scale_factor"]  # SD v1 keeps 0.18215 in the YAML, not in the .ckpt
    with torch.no_grad():
        dst.first_stage.scale_factor.fill_(0.5)
    report = load_checkpoint(dst, _save(tmp_path / "a.safetensors", state))
    assert report.ok and float(dst.first_stage.scale_factor) == 0.5
    assert any("scale_factor" in n for n in report.notes)


def _save(path, state):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def test_ema_weights_on_request(tmp_path, make_model):
    src, dst = make_model(0), make_model(1)
    state = compvis_state(src)
    ema = {}
    for key, value in state.items():
        if key.startswith("model.diffusion_model.") and value.is_floating_point():
            flat = "model_ema." + "".join(key.split(".")[1:])  # diffusers' own rule
            ema[flat] = value + 1.0
    state.update(ema)
    state["model_ema.decay"] = torch.tensor(0.999)
    path = _save(tmp_path / "ema.safetensors", state)
    load_checkpoint(dst, path)  # EMA not requested: ignored, the raw weights load
    assert torch.equal(dst.denoiser.out[2].weight, src.denoiser.out[2].weight)
    report = load_checkpoint(dst, path, ema=True)
    assert torch.equal(dst.denoiser.out[2].weight, src.denoiser.out[2].weight + 1)
    assert torch.equal(dst.denoiser.input_blocks[0][0].weight,
                       src.denoiser.input_blocks[0][0].weight + 1)
    assert any("EMA" in n for n in report.notes)
    no_ema = _save(tmp_path / "plain.safetensors", compvis_state(src))
    with pytest.raises(CheckpointError, match="plain.safetensors: has no EMA"):
        load_checkpoint(dst, no_ema, ema=True)


def test_strict_errors_name_file_and_keys_and_leave_model_untouched(tmp_path, make_model):
    src, dst = make_model(0), make_model(1)
    before = _params(dst)
    state = compvis_state(src)
    del state["model.diffusion_model.out.2.bias"]
    state["model.diffusion_model.extra.weight"] = torch.zeros(1)
    path = _save(tmp_path / "broken.safetensors", state)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(dst, path)
    msg = str(err.value)
    assert "broken.safetensors" in msg and "denoiser.out.2.bias" in msg
    assert "1 missing" in msg and "1 unexpected" in msg and "\n" not in msg
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())
    report = load_checkpoint(dst, path, strict=False)  # reported, never silent
    assert report.missing == ["denoiser.out.2.bias"]
    assert report.unexpected == ["denoiser.extra.weight"]


def test_wrong_variant_is_explained(tmp_path, make_model):
    sd2 = make_model(0, linear=True, context=24)
    sd1 = make_model(1)
    before = _params(sd1)
    facts = inspect_checkpoint(compvis_state(sd2))
    assert facts["unet.proj_in"] == "linear" and facts["unet.context_dim"] == 24
    assert facts["unet.in_channels"] == 4 and facts["unet.model_channels"] == 8
    assert facts["first_stage.z_channels"] == 4 and facts["first_stage.kind"] == "kl"
    assert inspect_checkpoint(compvis_state(sd1))["unet.proj_in"] == "conv"
    path = _save(tmp_path / "sd2.safetensors", compvis_state(sd2))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(sd1, path, parts=["first_stage", "denoiser"])
    msg = str(err.value)
    assert "sd2.safetensors" in msg and "mis-shaped" in msg
    assert "linear proj_in, context 24" in msg and "spec says conv proj_in, context 16" in msg
    assert all(torch.equal(before[k], v) for k, v in sd1.state_dict().items())


def test_sd_family_named_from_shapes():
    from ldmcore.checkpoint.variants import describe, explain_mismatch, family

    sd2 = {"unet.model_channels": 320, "unet.in_channels": 4, "unet.proj_in": "linear",
           "unet.context_dim": 1024}
    sd1 = dict(sd2, **{"unet.proj_in": "conv", "unet.context_dim": 768})
    assert family(sd2) == "SD v2" and family(sd1) == "SD v1"
    assert family(dict(sd1, **{"unet.in_channels": 9})) == "SD v1 inpainting"
    assert describe(sd2).startswith("SD v2 (linear proj_in, context 1024")
    assert explain_mismatch(sd2, sd1) == ("checkpoint looks like SD v2 (linear proj_in, context "
                                          "1024) but the spec says conv proj_in, context 768")


def test_bare_vae_file_loads_first_stage_only(tmp_path, make_model):
    src, dst = make_model(0), make_model(1)
    den_before = dst.denoiser.out[2].weight.clone()
    vae = {k[len("first_stage."):]: v for k, v in src.state_dict().items()
           if k.startswith("first_stage.") and "_factor" not in k}
    vae["loss.discriminator.main.0.weight"] = torch.zeros(2)  # kl-f8 .ckpt carry the GAN loss
    path = tmp_path / "vae.ckpt"
    torch.save({"state_dict": vae}, path)
    report = load_checkpoint(dst, path)
    assert report.ok and "loss.discriminator.main.0.weight" in report.ignored
    assert torch.equal(dst.first_stage.decoder.conv_out.weight,
                       src.first_stage.decoder.conv_out.weight)
    assert torch.equal(dst.denoiser.out[2].weight, den_before)


def test_conditioner_choice(tmp_path, make_model):
    src = make_model(0)
    state = model_to_compvis(src.state_dict(), "text")
    assert "cond_stage_model.emb.weight" in state
    dst = make_model(1)
    with pytest.raises(CheckpointError, match="conditioner 'nope' is not in the spec"):
        load_checkpoint(dst, _save(tmp_path / "c.safetensors", state), conditioner="nope")


def test_different_schedule_is_noted(tmp_path, make_model):
    src, dst = make_model(0), make_model(1)
    state = compvis_state(src)
    state["alphas_cumprod"] = torch.linspace(0.999, 0.01, 1000)
    report = load_checkpoint(dst, _save(tmp_path / "s.safetensors", state))
    assert report.ok and any("noise schedule" in n for n in report.notes)
