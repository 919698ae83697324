"""Model cards: fp16 weights + YAML card with sha256; `verify` catches a changed file."""

from pathlib import Path

import yaml
from safetensors.torch import load_file
from tiny_specs import TINY

import ldmcore
from ldmcore import cards

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "superres.yaml"


def test_export_verify_and_load(tmp_path):
    model = ldmcore.build(CONFIG, TINY)
    model.first_stage.scale_factor.fill_(0.123456789)
    full = ldmcore.save(model, tmp_path / "model.safetensors")
    root = tmp_path / "models"
    card_path = cards.export(full, "tiny-sr", task="superres", commands=["ldm train ..."],
                             metrics={"metrics": {"psnr": 20.0}}, root=root)
    card = yaml.safe_load(card_path.read_text())
    assert card["weights"] == "tiny-sr.safetensors" and card["task"] == "superres"
    assert card["sha256"] == cards.sha256(root / "tiny-sr.safetensors")
    assert 0 <= card["fp16_max_abs_diff"] < 1e-2
    assert card["spec"]["denoiser"]["params"]["model_channels"] == 16
    state = load_file(str(root / "tiny-sr.safetensors"))
    assert str(state["denoiser.out.2.weight"].dtype) == "torch.float16"
    assert str(state["first_stage.scale_factor"].dtype) == "torch.float32"  # never rounded
    assert cards.verify(root) == []
    reloaded = ldmcore.load(root / "tiny-sr.safetensors")
    assert float(reloaded.first_stage.scale_factor) == float(model.first_stage.scale_factor)

    (root / "tiny-sr.safetensors").write_bytes((root / "tiny-sr.safetensors").read_bytes() + b" ")
    [problem] = cards.verify(root)
    assert "sha256" in problem and "tiny-sr" in problem
