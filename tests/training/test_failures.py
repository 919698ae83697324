"""What goes wrong: NaN losses, a full disk, bad datasets, an unclear stage, via API and CLI."""

from __future__ import annotations

import errno

import pytest
import torch
import yaml

from ldmcore.cli.main import main
from ldmcore.errors import CheckpointError, DataError
from ldmcore.training import checkpointing
from ldmcore.training.checkpointing import latest_checkpoint, load_checkpoint
from ldmcore.training.errors import TrainingError
from ldmcore.training.loop import train
from ldmcore.training.metrics import read_metrics


def test_nan_loss_stops_naming_the_step_and_keeps_last_checkpoint(tmp_path, toys, registry):
    spec = toys.toy_spec(str(tmp_path))
    spec["first_stage"] = {"type": "toy_ae", "params": {"nan_at_step": 3}}
    with pytest.raises(TrainingError) as err:
        train(spec, stage="first_stage", registry=registry, progress=False)
    msg = str(err.value)
    assert msg.startswith("step 3: autoencoder loss is nan") and "step_00000002.pt" in msg
    run = tmp_path / "first_stage"
    assert latest_checkpoint(run).name == "step_00000002.pt"
    state = load_checkpoint(latest_checkpoint(run))
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (run / "first_stage.safetensors").exists()


def test_nan_loss_can_be_skipped(tmp_path, toys, registry):
    spec = toys.toy_spec(str(tmp_path), on_nan="skip")
    spec["first_stage"] = {"type": "toy_ae", "params": {"nan_at_step": 3}}
    result = train(spec, stage="first_stage", registry=registry, progress=False)
    assert result.status == "done" and result.step == 6
    rows = read_metrics(result.run_dir / "metrics.jsonl")
    assert rows[2].get("nan_skipped") == 1.0
    state = load_checkpoint(result.checkpoint)
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_disk_full_while_saving_keeps_previous_checkpoint(tmp_path, toys, registry, monkeypatch):
    real_save, calls = torch.save, []

    def failing_save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second checkpoint (step 4): half written, then ENOSPC
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpointing.torch, "save", failing_save)
    with pytest.raises(CheckpointError) as err:
        train(toys.toy_spec(str(tmp_path)), registry=registry, progress=False)
    msg = str(err.value)
    assert "No space left on device" in msg and "step_00000002.pt is intact" in msg
    directory = tmp_path / "diffusion" / "checkpoints"
    assert sorted(p.name for p in directory.iterdir()) == ["latest", "step_00000002.pt"]
    assert load_checkpoint(latest_checkpoint(tmp_path / "diffusion"))["step"] == 2


@pytest.fixture
def cli(tmp_path, registry, monkeypatch, toys):
    """Run `ldm train` in-process with the toy registry; returns (exit code, stderr lines)."""
    monkeypatch.setattr("ldmcore.plugins.default_registry", lambda: registry)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(toys.toy_spec(str(tmp_path / "runs"), steps=2)))

    def run(*args, capsys=None):
        return main(["train", str(path), "--no-progress", *args])

    return run


def _err_lines(capsys):
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_cli_trains_and_plots(cli, capsys, tmp_path):
    assert cli() == 0
    out = capsys.readouterr().out
    assert "diffusion: 2 steps" in out and "model.safetensors" in out
    assert main(["plot", str(tmp_path / "runs")]) == 0
    assert (tmp_path / "runs" / "diffusion" / "loss.png").stat().st_size > 1000


@pytest.mark.parametrize("override, expected", [
    ("training.dataset.params.path=/no/such/dir", "/no/such/dir does not exist"),
    ("training.batch_size=64", "training.batch_size 64 is larger than the dataset (10 items)"),
    ("training.dataset.params.n=0", "the dataset is empty"),
    ("first_stage.type=toy_ae", "choose --stage first_stage"),
    ("training.batch_size=3 training.grad_accum=2", "does not split"),
])
def test_cli_bad_input_is_one_line_exit_2(cli, capsys, override, expected):
    assert cli(*override.split()) == 2
    lines = _err_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("ldm train: error:") and expected in lines[0]


def test_cli_empty_dataset_dir(cli, capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert cli(f"training.dataset.params.path={tmp_path / 'empty'}") == 2
    assert "holds no images" in _err_lines(capsys)[0]


def test_cli_resume_of_nothing_and_wrong_stage(cli, capsys, tmp_path):
    assert cli("--resume", str(tmp_path / "nowhere")) == 2
    assert "no such run directory" in _err_lines(capsys)[0]
    assert cli("--stage", "first_stage") == 2  # toy_pool has nothing to train
    assert "nothing to train" in _err_lines(capsys)[0]


def test_data_error_from_worker_is_one_line(toys):
    from ldmcore.training.data import StepSampler, step_batches

    class Broken(toys.Blobs):
        def __getitem__(self, i):
            raise DataError(f"item {i}: unreadable image /x/{i}.png")

    ds = Broken(toys.BlobsParams())
    batches = step_batches(ds, StepSampler(10, 2, seed=0), num_workers=1)
    with pytest.raises(DataError) as err:
        next(batches)
    assert "\n" not in str(err.value) and "unreadable image" in str(err.value)
