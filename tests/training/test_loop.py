"""The loop end to end on toy components: outputs, EMA export, scale factor, previews."""

from __future__ import annotations

import pytest
import torch

import ldmcore
from ldmcore.training.checkpointing import latest_checkpoint, load_checkpoint
from ldmcore.training.loop import train
from ldmcore.training.metrics import read_metrics


def test_diffusion_run_writes_everything(tmp_path, toys, registry):
    result = train(toys.toy_spec(str(tmp_path)), registry=registry, progress=False)
    run = tmp_path / "diffusion"
    assert result.status == "done" and result.step == 6 and result.run_dir == run
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r["loss"] > 0 and r["lr"] == pytest.approx(1e-3) for r in rows)
    # keep_last=2 of the checkpoints at 2, 4, 6; `latest` names the newest
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == [
        "step_00000004.pt", "step_00000006.pt"]
    assert latest_checkpoint(run).name == "step_00000006.pt"
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_00000003.png", "step_00000006.png"]
    from PIL import Image

    assert Image.open(run / "samples" / "step_00000006.png").size[0] > 4 * 8
    assert (run / "spec.yaml").is_file()

    # the export is loadable by ldmcore.load and holds the EMA weights, not the live ones
    state = load_checkpoint(result.checkpoint)
    model = ldmcore.load(result.export, registry=registry)
    exported = model.state_dict()
    for key, value in state["ema"].items():
        assert torch.equal(exported[key], value), key
    live = state["model"]["denoiser.out.weight"]
    assert not torch.allclose(exported["denoiser.out.weight"], live)
    # scale factor = 1/std of the (pooled) latents, stored with the model
    assert exported["first_stage.scale_factor"].item() == pytest.approx(
        state["model"]["first_stage.scale_factor"].item())
    assert 1.0 < exported["first_stage.scale_factor"].item() < 3.0


def test_scale_factor_is_one_over_std(toys, registry):
    from ldmcore.training.distributed import DistEnv
    from ldmcore.training.scale_factor import estimate_scale_factor

    fs = toys.PoolFirstStage(toys.PoolParams(f=2))
    xs = [torch.randn(4, 3, 8, 8) * 3 + 1 for _ in range(3)]
    z = torch.cat([torch.nn.functional.avg_pool2d(x, 2) for x in xs])
    expected = 1 / z.double().std(unbiased=False).item()
    assert estimate_scale_factor(fs, xs, DistEnv()) == pytest.approx(expected, rel=1e-6)


def test_ema_warmup_starts_as_copy_then_lags(toys):
    from ldmcore.training.ema import Ema

    net = torch.nn.Linear(2, 2)
    ema = Ema(net, 0.99, warmup=True)
    assert ema.decay(1) == 0.0 and 0 < ema.decay(10) < ema.decay(1000) <= 0.99
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(1)
    assert torch.equal(ema.state_dict()["weight"], net.weight)
    before = ema.state_dict()["weight"].clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(50)
    new = ema.state_dict()["weight"]
    assert (new > before).all() and (new < net.weight).all()
    with ema.applied():
        assert torch.equal(net.weight, new)
    assert not torch.equal(net.weight, new)


def test_first_stage_run_and_diffusion_on_its_export(tmp_path, toys, registry):
    spec = toys.toy_spec(str(tmp_path), steps=3, sample_every=3,
                         stage_overrides={"first_stage": {"lr": 5e-4, "betas": [0.5, 0.9]}})
    spec["first_stage"] = {"type": "toy_ae"}
    first = train(spec, stage="first_stage", registry=registry, progress=False)
    assert first.export.name == "first_stage.safetensors"
    from safetensors import safe_open

    with safe_open(str(first.export), "pt") as f:
        assert f.metadata()["ldmcore.part"] == "first_stage"
        assert "conv_out.weight" in f.keys() and "scale_factor" in f.keys()
    rows = read_metrics(first.run_dir / "metrics.jsonl")
    assert "rec" in rows[0] and "disc_loss" in rows[-1] and "g" in rows[-1]
    assert rows[0]["lr"] == pytest.approx(5e-4)  # training.stage_overrides.first_stage
    # --stage diffusion picks up <output_dir>/first_stage/first_stage.safetensors
    second = train(spec, stage="diffusion", registry=registry, progress=False)
    assert read_metrics(second.run_dir / "metrics.jsonl")[0]["lr"] == pytest.approx(1e-3)
    model = ldmcore.load(second.export, registry=registry)
    assert model.spec.first_stage.checkpoint is None  # the export is self-contained
    fs_state = load_checkpoint(first.checkpoint)["model"]
    assert torch.equal(model.first_stage.conv_out.weight, fs_state["conv_out.weight"])
    import yaml

    recorded = yaml.safe_load((second.run_dir / "spec.yaml").read_text())
    assert recorded["first_stage"]["checkpoint"] == str(first.export)
    # and a spec naming it explicitly infers the diffusion stage
    spec["first_stage"]["checkpoint"] = str(first.export)
    spec["training"]["steps"] = 1
    spec["training"]["output_dir"] = str(tmp_path / "explicit")
    assert train(spec, registry=registry, progress=False).stage == "diffusion"


def test_bf16_autocast_runs(tmp_path, toys, registry):
    spec = toys.toy_spec(str(tmp_path), steps=2, precision="bf16", grad_accum=2)
    result = train(spec, registry=registry, progress=False)
    rows = read_metrics(result.run_dir / "metrics.jsonl")
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)


def test_freeze_fine_tunes_the_decoder_only(tmp_path, toys, registry):
    """training.freeze=[enc]: the encoder (hence the latent space) stays bit-identical while
    the decoder trains; a prefix that names nothing, or freezes everything, is a clear error."""
    spec = toys.toy_spec(str(tmp_path), steps=3, checkpoint_every=1, keep_last=3,
                         freeze=["enc"])
    spec["first_stage"] = {"type": "toy_ae"}
    result = train(spec, stage="first_stage", registry=registry, progress=False)
    first, last = (load_checkpoint(result.run_dir / "checkpoints" / f"step_0000000{s}.pt")
                   ["model"] for s in (1, 3))
    assert torch.equal(first["enc.weight"], last["enc.weight"])
    assert not torch.equal(first["conv_out.weight"], last["conv_out.weight"])

    spec["training"]["freeze"] = ["encoder"]
    with pytest.raises(ldmcore.LdmError, match=r"training.freeze: 'encoder' names no parameter"):
        train(spec, stage="first_stage", registry=registry, progress=False)
    spec["training"]["freeze"] = ["enc", "dec_in", "conv_out"]
    with pytest.raises(ldmcore.LdmError, match="leaves nothing to train"):
        train(spec, stage="first_stage", registry=registry, progress=False)


def test_freeze_in_the_diffusion_stage(tmp_path, toys, registry):
    """training.freeze=[denoiser]: only the conditioner trains."""
    spec = toys.toy_spec(str(tmp_path), steps=3, checkpoint_every=1, keep_last=3,
                         freeze=["denoiser"])
    result = train(spec, registry=registry, progress=False)
    first, last = (load_checkpoint(result.run_dir / "checkpoints" / f"step_0000000{s}.pt")
                   ["model"] for s in (1, 3))
    changed = {k.split(".")[0] for k in first if not torch.equal(first[k], last[k])}
    assert changed == {"conditioners"}


def test_an_export_does_not_name_the_checkpoint_it_started_from(tmp_path, toys, registry):
    """A run started from denoiser/conditioner checkpoints exports every weight itself: its
    stored spec names no init file, so it loads with that file gone."""
    init = ldmcore.save(ldmcore.build(toys.toy_spec(str(tmp_path / "a")), registry=registry),
                        tmp_path / "init.safetensors")
    spec = toys.toy_spec(str(tmp_path / "b"))
    spec["denoiser"]["checkpoint"] = str(init)
    spec["conditioners"]["label"]["checkpoint"] = str(init)
    result = train(spec, registry=registry, progress=False)
    init.unlink()
    model = ldmcore.load(result.export, registry=registry)
    assert model.spec.denoiser.checkpoint is None
    assert model.spec.conditioners["label"].checkpoint is None
