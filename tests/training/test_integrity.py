"""Nothing lost, nothing silently wrong: checksums, fallback, resume horizon, disk full,
truncated metrics, run-dir locking, NaN skips (issue #14)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from ldmcore.cli.main import main
from ldmcore.errors import CheckpointError
from ldmcore.training import checkpointing
from ldmcore.training.checkpointing import latest_checkpoint, load_checkpoint
from ldmcore.training.errors import TrainingError
from ldmcore.training.lock import RunLock
from ldmcore.training.loop import train
from ldmcore.training.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[2]


def _flip_tensor_byte(path: Path) -> None:
    """Flip one bit inside the largest tensor record of a torch zip checkpoint (it still
    unpickles: only a checksum can tell)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), "little") for _ in range(2))
        at = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 0x01]))


def test_flipped_tensor_byte_is_detected_and_resume_falls_back(tmp_path, toys, registry, capsys):
    run = train(toys.toy_spec(str(tmp_path), steps=4), registry=registry, progress=False)
    newest = latest_checkpoint(run.run_dir)
    assert newest.name == "step_00000004.pt"
    torch.load(newest, weights_only=True)  # readable before ...
    _flip_tensor_byte(newest)
    torch.load(newest, weights_only=True)  # ... and after: torch alone does not notice
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(newest)
    assert "checksum mismatch in tensor" in str(err.value) and "corrupt" in str(err.value)
    capsys.readouterr()
    more = train(toys.toy_spec(str(tmp_path), steps=6), resume="auto", registry=registry,
                 progress=False)
    err_text = capsys.readouterr().err
    assert "falling back to the previous good checkpoint" in err_text
    assert "step_00000002.pt" in err_text and "resumed from" in err_text
    assert more.status == "done" and more.step == 6
    # the same 6 steps as a run that never saw the corrupt file
    clean = train(toys.toy_spec(str(tmp_path / "clean"), steps=6), registry=registry,
                  progress=False)
    a, b = load_checkpoint(more.checkpoint), load_checkpoint(clean.checkpoint)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k


def test_explicit_corrupt_file_and_empty_file_messages(tmp_path, toys, registry):
    run = train(toys.toy_spec(str(tmp_path), steps=4), registry=registry, progress=False)
    path = latest_checkpoint(run.run_dir)
    _flip_tensor_byte(path)
    with pytest.raises(CheckpointError) as err:
        train(toys.toy_spec(str(tmp_path), steps=6), resume=str(path), registry=registry,
              progress=False)
    msg = str(err.value)  # --resume FILE: not used silently, but the good one is offered
    assert "checksum mismatch" in msg and "\n" not in msg
    assert "previous good checkpoint: " in msg and "step_00000002.pt" in msg
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(empty)
    assert str(err.value) == f"{empty}: empty file, not a training checkpoint"
    with pytest.raises(CheckpointError, match="a directory"):
        load_checkpoint(tmp_path)
    # every checkpoint of the run corrupt: one line, naming the directory
    _flip_tensor_byte(path.with_name("step_00000002.pt"))
    with pytest.raises(CheckpointError) as err:
        train(toys.toy_spec(str(tmp_path), steps=6), resume="auto", registry=registry,
              progress=False)
    assert "no readable checkpoint in" in str(err.value) and "\n" not in str(err.value)


def test_a_changed_step_value_is_detected(tmp_path, toys, registry):
    run = train(toys.toy_spec(str(tmp_path), steps=2), registry=registry, progress=False)
    path = latest_checkpoint(run.run_dir)
    state = torch.load(path, weights_only=True)
    state["step"] = 5  # rewritten by hand, checksums kept
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="step/spec/RNG values"):
        load_checkpoint(path)


def test_cosine_horizon_follows_new_steps_on_resume(tmp_path, toys, registry):
    extra = {"lr_schedule": "cosine", "checkpoint_every": 100}
    train(toys.toy_spec(str(tmp_path / "a"), steps=6, **extra), registry=registry,
          progress=False)
    resumed = train(toys.toy_spec(str(tmp_path / "a"), steps=12, **extra), resume="auto",
                    registry=registry, progress=False)
    whole = train(toys.toy_spec(str(tmp_path / "b"), steps=12, **extra), registry=registry,
                  progress=False)
    lr_resumed = {r["step"]: r["lr"] for r in read_metrics(resumed.run_dir / "metrics.jsonl")}
    lr_whole = {r["step"]: r["lr"] for r in read_metrics(whole.run_dir / "metrics.jsonl")}
    assert all(lr_resumed[s] > 0 for s in range(7, 12))  # not the 6-step horizon's zeros
    assert [lr_resumed[s] for s in range(7, 13)] == pytest.approx(
        [lr_whole[s] for s in range(7, 13)], rel=1e-6)


def test_zip_writer_runtime_error_is_one_line_and_keeps_previous(tmp_path, toys, registry,
                                                                  monkeypatch):
    real_save, calls = torch.save, []

    def failing_save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"PK\x03\x04partial")
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos "
                               "4416 vs 4310\nframe #0: c10::Error ...")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpointing.torch, "save", failing_save)
    with pytest.raises(CheckpointError) as err:
        train(toys.toy_spec(str(tmp_path)), registry=registry, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "enforce fail" in msg and "step_00000002.pt is intact" in msg
    directory = tmp_path / "diffusion" / "checkpoints"
    assert sorted(p.name for p in directory.iterdir()) == ["latest", "step_00000002.pt"]
    assert load_checkpoint(latest_checkpoint(tmp_path / "diffusion"))["step"] == 2


def test_truncated_metrics_line_is_dropped_on_resume(tmp_path, toys, registry, capsys):
    run = train(toys.toy_spec(str(tmp_path), steps=4, checkpoint_every=2), registry=registry,
                progress=False)
    metrics = run.run_dir / "metrics.jsonl"
    with open(metrics, "a") as f:
        f.write('{"step": 5, "loss": 0.1')  # killed mid-line
    assert [r["step"] for r in read_metrics(metrics)] == [1, 2, 3, 4]
    capsys.readouterr()
    more = train(toys.toy_spec(str(tmp_path), steps=6), resume="auto", registry=registry,
                 progress=False)
    assert "dropped 1 unreadable line" in capsys.readouterr().err
    assert [r["step"] for r in read_metrics(more.run_dir / "metrics.jsonl")] == list(range(1, 7))


# ----------------------------------------------------------------------------- locking
def _spec_file(tmp_path, toys, **training) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(toys.toy_spec(str(tmp_path / "runs"), **training)))
    return path


def test_two_concurrent_ldm_train_on_one_dir(tmp_path, toys, registry, monkeypatch, capsys):
    """While run A trains, `ldm train` B on the same output dir exits 2 naming dir and pid;
    A finishes untouched, and after it the directory is free again."""
    monkeypatch.setattr("ldmcore.plugins.default_registry", lambda: registry)
    spec = _spec_file(tmp_path, toys, steps=4)
    seen = {}

    def second_run(step, trainer):
        if step == 2:
            capsys.readouterr()
            seen["code"] = main(["train", str(spec), "--no-progress"])
            seen["err"] = capsys.readouterr().err.strip().splitlines()

    a = train(str(spec), registry=registry, progress=False, callback=second_run)
    assert a.status == "done" and a.step == 4
    assert seen["code"] == 2 and len(seen["err"]) == 1
    line = seen["err"][0]
    assert line.startswith("ldm train: error:") and str(tmp_path / "runs" / "diffusion") in line
    assert f"pid {os.getpid()}" in line
    assert [r["step"] for r in read_metrics(a.run_dir / "metrics.jsonl")] == [1, 2, 3, 4]
    assert main(["train", str(spec), "--no-progress", "--resume"]) == 0  # released


def test_lock_held_by_another_process_refuses_real_ldm_train(tmp_path):
    """A real `ldm train` subprocess against a directory this process holds."""
    out = tmp_path / "runs"
    with RunLock(out / "diffusion"):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "ldmcore.cli.main", "train",
             str(ROOT / "configs/class2img.yaml"),
             "--stage", "diffusion", "first_stage.type=identity", "first_stage.params={}",
             f"training.output_dir={out}", "--no-progress"],
            capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert f"pid {os.getpid()}" in lines[0] and str(out / "diffusion") in lines[0]


@pytest.mark.parametrize("where", ["file", "sys"])
def test_output_dir_that_cannot_be_created(tmp_path, toys, registry, monkeypatch, capsys, where):
    monkeypatch.setattr("ldmcore.plugins.default_registry", lambda: registry)
    spec = _spec_file(tmp_path, toys, steps=2)
    (tmp_path / "plain").write_text("x")
    target = tmp_path / "plain" / "runs" if where == "file" else Path("/sys/ldm-runs")
    assert main(["train", str(spec), "--no-progress", f"training.output_dir={target}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training.output_dir: cannot create" in err[0]
    assert (tmp_path / "plain").read_text() == "x"


# ----------------------------------------------------------------------------- NaN skips
def test_skipped_step_leaves_no_nan_batchnorm_stats(tmp_path, toys, registry):
    spec = toys.toy_spec(str(tmp_path), on_nan="skip", checkpoint_every=1, keep_last=10)
    spec["first_stage"] = {"type": "toy_ae", "params": {"nan_rec_at_step": 4, "disc_start": 1}}
    result = train(spec, stage="first_stage", registry=registry, progress=False)
    assert result.status == "done"
    assert read_metrics(result.run_dir / "metrics.jsonl")[3].get("nan_skipped") == 1.0
    for step in range(1, 7):
        state = load_checkpoint(result.run_dir / "checkpoints" / f"step_{step:08d}.pt")
        for part in ("model", "loss"):
            for k, v in state[part].items():
                assert torch.isfinite(v.float()).all(), f"step {step}: {part}.{k}"
    skipped = load_checkpoint(result.run_dir / "checkpoints" / "step_00000004.pt")["loss"]
    before = load_checkpoint(result.run_dir / "checkpoints" / "step_00000003.pt")["loss"]
    for k in skipped:
        if "running_" in k or "num_batches" in k:
            assert torch.equal(skipped[k], before[k]), k  # the skipped step left no trace


def test_skip_limit_is_ten_in_a_row(tmp_path, toys, registry):
    spec = toys.toy_spec(str(tmp_path), on_nan="skip", steps=30, checkpoint_every=100)
    spec["first_stage"] = {"type": "toy_ae", "params": {"nan_from_step": 3}}
    with pytest.raises(TrainingError) as err:
        train(spec, stage="first_stage", registry=registry, progress=False)
    assert str(err.value).startswith("step 12: autoencoder loss is nan (10 in a row)")
    rows = read_metrics(tmp_path / "first_stage" / "metrics.jsonl")
    assert sum(r.get("nan_skipped", 0) for r in rows) == 9  # the 10th stops instead


def test_run_ending_in_skipped_updates_is_not_done(tmp_path, toys, registry, capsys):
    spec = toys.toy_spec(str(tmp_path), on_nan="skip", steps=6, checkpoint_every=100)
    spec["first_stage"] = {"type": "toy_ae", "params": {"nan_from_step": 5}}
    with pytest.raises(TrainingError) as err:
        train(spec, stage="first_stage", registry=registry, progress=False)
    msg = str(err.value)
    assert msg.startswith("steps 5-6: the last 2 update(s) were skipped") and "\n" not in msg
    assert not (tmp_path / "first_stage" / "first_stage.safetensors").exists()
