"""Model cards: fp16 weights + YAML card with sha256; `verify` catches a changed file."""

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from tiny_specs import TINY

import ldmcore
from ldmcore import cards
from ldmcore.errors import CheckpointError

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


def _card_pair(tmp_path):
    """A first-stage card and a model trained on it (its first stage loaded from the card)."""
    from ldmcore.checkpoint.first_stage import export_first_stage

    root = tmp_path / "models"
    ae = ldmcore.build(CONFIG, TINY)
    fs_file = export_first_stage(ae.first_stage, ae.spec, tmp_path / "fs.safetensors")
    cards.export(fs_file, "tiny-fs", task="autoencoder", commands=["ldm train ..."], root=root)
    model = ldmcore.build(CONFIG, [*TINY, f"first_stage.checkpoint={root / 'tiny-fs.safetensors'}"])
    model.first_stage.scale_factor.fill_(0.3125)
    return root, model, ldmcore.save(model, tmp_path / "model.safetensors")


def test_a_card_shares_a_first_stage_card_by_name_and_sha256(tmp_path):
    root, model, full = _card_pair(tmp_path)
    path = cards.export(full, "tiny-sr", task="superres", commands=[], first_stage="tiny-fs",
                        root=root)
    card = yaml.safe_load(path.read_text())
    assert card["first_stage"] == {"card": "tiny-fs",
                                   "sha256": cards.sha256(root / "tiny-fs.safetensors")}
    state = load_file(str(root / "tiny-sr.safetensors"))
    assert {k for k in state if k.startswith("first_stage.")} == {
        "first_stage.scale_factor", "first_stage.shift_factor"}  # its own latent scale only
    assert cards.verify(root) == []
    reloaded = ldmcore.load(root / "tiny-sr.safetensors")
    assert float(reloaded.first_stage.scale_factor) == 0.3125  # not the card's
    for key, value in model.first_stage.state_dict().items():
        if key not in ("scale_factor", "shift_factor"):
            assert reloaded.first_stage.state_dict()[key].equal(value.half().float()), key

    shared = root / "tiny-fs.safetensors"
    shared.write_bytes(shared.read_bytes() + b" ")  # the shared file changed under the model
    problems = cards.verify(root)
    assert any("tiny-sr" in p and "does not match the sha256 it was shipped with" in p
               for p in problems), problems
    with pytest.raises(CheckpointError, match="tiny-fs.*does not match the sha256"):
        ldmcore.load(root / "tiny-sr.safetensors")


def test_sharing_refuses_a_model_trained_on_another_first_stage(tmp_path):
    root, model, _ = _card_pair(tmp_path)
    with torch.no_grad():
        next(model.first_stage.parameters()).add_(1.0)
    other = ldmcore.save(model, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="differs from .*tiny-fs"):
        cards.export(other, "x", task="superres", commands=[], first_stage="tiny-fs", root=root)
    assert not (root / "x.yaml").exists()


def test_share_rewrites_a_card_that_embeds_its_first_stage_without_changing_the_model(tmp_path):
    root, model, full = _card_pair(tmp_path)
    cards.export(full, "tiny-sr", task="superres", commands=["make model"],
                 metrics={"metrics": {"psnr": 20.0}}, root=root)
    before = ldmcore.load(root / "tiny-sr.safetensors").state_dict()
    size = (root / "tiny-sr.safetensors").stat().st_size

    cards.share("tiny-sr", "tiny-fs", root=root)
    card = yaml.safe_load((root / "tiny-sr.yaml").read_text())
    assert card["first_stage"]["card"] == "tiny-fs"
    assert card["metrics"] == {"metrics": {"psnr": 20.0}} and card["training"]["commands"]
    assert card["bytes"] == (root / "tiny-sr.safetensors").stat().st_size < size
    assert cards.verify(root) == []
    after = ldmcore.load(root / "tiny-sr.safetensors").state_dict()
    assert before.keys() == after.keys()
    assert all(before[k].equal(after[k]) for k in before)  # the same model, bit for bit
    with pytest.raises(CheckpointError, match="already shares first stage 'tiny-fs'"):
        cards.share("tiny-sr", "tiny-fs", root=root)


def test_share_refuses_another_first_stage_and_leaves_the_card_as_it_was(tmp_path):
    root, model, _ = _card_pair(tmp_path)
    with torch.no_grad():
        next(model.first_stage.parameters()).add_(1.0)
    cards.export(ldmcore.save(model, tmp_path / "other.safetensors"), "x", task="superres",
                 commands=[], root=root)
    files = {p.name: p.read_bytes() for p in root.iterdir()}
    with pytest.raises(CheckpointError, match="differs from .*tiny-fs"):
        cards.share("x", "tiny-fs", root=root)
    assert {p.name: p.read_bytes() for p in root.iterdir()} == files
    with pytest.raises(CheckpointError, match="no model card"):
        cards.share("nosuch", "tiny-fs", root=root)


def test_record_adds_a_measurement_without_touching_the_weights(tmp_path):
    root, _, full = _card_pair(tmp_path)
    cards.export(full, "tiny-sr", task="superres", commands=[], root=root)
    weights = (root / "tiny-sr.safetensors").read_bytes()
    sweep = {"rows": [{"scale": 1.0, "metrics": {"fidelity.accuracy": 0.5}}]}
    cards.record("tiny-sr", "cfg_sweep", sweep, root=root)
    card = yaml.safe_load((root / "tiny-sr.yaml").read_text())
    assert card["cfg_sweep"] == sweep and card["task"] == "superres"
    assert (root / "tiny-sr.safetensors").read_bytes() == weights
    assert cards.verify(root) == []
    with pytest.raises(CheckpointError, match="'sha256' is part of the card itself"):
        cards.record("tiny-sr", "sha256", "0" * 64, root=root)


def test_set_defaults_changes_how_a_card_samples_with_metrics_measured_there(tmp_path):
    root, _, full = _card_pair(tmp_path)
    cards.export(full, "tiny-sr", task="superres", commands=[], root=root)
    before = ldmcore.load(root / "tiny-sr.safetensors")
    measured = {"overrides": ["sampler.params.steps=7"], "metrics": {"psnr": 21.0}}
    cards.set_defaults("tiny-sr", ["sampler.params.steps=7"], measured, root=root)
    card = yaml.safe_load((root / "tiny-sr.yaml").read_text())
    assert card["metrics"] == measured and card["spec"]["sampler"]["params"]["steps"] == 7
    assert cards.verify(root) == []
    after = ldmcore.load(root / "tiny-sr.safetensors")
    assert after.spec.sampler.params.steps == 7 != before.spec.sampler.params.steps
    assert all(v.equal(after.state_dict()[k]) for k, v in before.state_dict().items())

    with pytest.raises(CheckpointError, match="measured with overrides"):
        cards.set_defaults("tiny-sr", ["sampler.params.steps=9"], measured, root=root)
    wider = {"overrides": ["denoiser.params.model_channels=8"]}
    with pytest.raises(CheckpointError, match="only under sampler, guider, sampling"):
        cards.set_defaults("tiny-sr", wider["overrides"], wider, root=root)


def test_set_defaults_to_the_same_values_leaves_the_weights_file_alone(tmp_path):
    root, _, full = _card_pair(tmp_path)
    cards.export(full, "tiny-sr", task="superres", commands=[], root=root)
    weights = (root / "tiny-sr.safetensors").read_bytes()
    steps = ldmcore.load(root / "tiny-sr.safetensors").spec.sampler.params.steps
    same = [f"sampler.params.steps={steps}"]
    measured = {"overrides": same, "metrics": {"psnr": 22.0}}
    cards.set_defaults("tiny-sr", same, measured, root=root)
    assert (root / "tiny-sr.safetensors").read_bytes() == weights
    assert yaml.safe_load((root / "tiny-sr.yaml").read_text())["metrics"] == measured
    assert cards.verify(root) == []
