"""`ldm train` end to end through the CLI with the real plugins (kl, unet, shapes, ddim):
first stage 3 steps, then the class-conditional LDM 3 steps on its export, then `ldm plot`."""

from __future__ import annotations

import os

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ldmcore.cli.main import main  # noqa: E402
from ldmcore.plugins import default_registry  # noqa: E402

NEEDED = {"first_stage": "kl", "denoiser": "unet", "dataset": "shapes", "scheduler": "ddim",
          "conditioner": "class_embed", "task": "class2img", "guider": "cfg"}


def _missing() -> list[str]:
    reg = default_registry()
    return [f"{k} {n}" for k, n in NEEDED.items() if n not in reg.names(k)]


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"plugins missing: {_missing()}")


def tiny_spec(out: str) -> dict:
    return {
        "spec_version": 1,
        "image_size": 16,
        "task": {"type": "class2img", "params": {"key": "class"}},
        "first_stage": {"type": "kl", "params": {
            "ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "z_channels": 3, "embed_dim": 3,
            "resolution": 16, "mid_attention": False,
            "loss": {"disc_start": 1, "disc_layers": 1, "disc_channels": 8}}},
        "conditioners": {"class": {
            "type": "class_embed", "input": "class", "wiring": "crossattn",
            "null": "empty-input", "drop_rate": 0.1,
            "params": {"num_classes": 12, "dim": 32, "null_class": True}}},
        "denoiser": {"type": "unet", "params": {
            "model_channels": 32, "channel_mult": [1], "num_res_blocks": 1,
            "attention_resolutions": [1], "num_head_channels": 32}},
        "diffusion": {"timesteps": 100},
        "sampler": {"type": "ddim", "params": {"steps": 2}},
        "guider": {"type": "cfg", "params": {"scale": 2.0}},
        "training": {
            "dataset": {"type": "shapes", "params": {"num_items": 16, "single_object": True}},
            "batch_size": 4, "steps": 3, "lr": 1e-4, "log_every": 1, "checkpoint_every": 3,
            "sample_every": 3, "num_samples": 4, "scale_factor_batches": 2,
            "tensorboard": False, "output_dir": out,
        },
    }


def test_train_both_stages_through_the_cli(tmp_path, capsys):
    import torch

    import ldmcore

    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(str(tmp_path / "run"))))
    # stage not obvious for an untrained kl: the CLI says which to choose
    assert main(["train", str(spec), "--no-progress"]) == 2
    assert "choose --stage first_stage" in capsys.readouterr().err

    assert main(["train", str(spec), "--stage", "first_stage", "--no-progress"]) == 0
    first = tmp_path / "run" / "first_stage"
    assert (first / "first_stage.safetensors").is_file()
    assert (first / "samples" / "step_00000003.png").is_file()

    assert main(["train", str(spec), "--stage", "diffusion", "--no-progress"]) == 0
    second = tmp_path / "run" / "diffusion"
    model = ldmcore.load(second / "model.safetensors")
    assert 0.05 < model.first_stage.scale_factor.item() < 50
    out = model.sample({"class": torch.tensor([0, 5])}, generator=torch.Generator().manual_seed(0),
                       progress=False)
    assert out.shape == (2, 3, 16, 16) and torch.isfinite(out).all()

    assert main(["plot", str(tmp_path / "run")]) == 0
    assert (first / "loss.png").is_file() and (second / "loss.png").is_file()

    # a training checkpoint opens as a model: its spec, its (EMA) weights = the run's export
    from ldmcore.sources import open_model, resolve

    step = "checkpoints/step_00000003.pt"
    exported = model.state_dict()
    for key, value in open_model(str(second / step)).state_dict().items():
        assert torch.equal(value, exported[key]), key
    assert resolve(str(second / step)).trained_denoiser
    assert not resolve(str(first / step)).trained_denoiser
    fs_export = open_model(str(first / "first_stage.safetensors")).first_stage.state_dict()
    opened = open_model(str(first / step)).first_stage.state_dict()
    assert all(torch.equal(opened[k], v) for k, v in fs_export.items())
    out = tmp_path / "eval.json"
    assert main(["eval", str(first / step), "-n", "4", "--no-progress", "--out", str(out)]) == 0
    assert set(yaml.safe_load(out.read_text())["metrics"]) == {"psnr", "ssim"}
    # ... and loads into a spec like any other weights file (`--checkpoint`)
    from ldmcore.sources import from_checkpoint

    loaded = from_checkpoint(str(second / step), str(spec)).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in exported.items())
