"""Exact resume: an interrupted-and-resumed CPU run gives the same losses and weights."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from ldmcore.training.checkpointing import latest_checkpoint, load_checkpoint
from ldmcore.training.errors import TrainingError
from ldmcore.training.loop import train
from ldmcore.training.metrics import read_metrics


def _stop_at(step):
    def callback(done, trainer):
        if done == step:
            trainer.stop.request()
    return callback


def _losses(run_dir):
    return [(r["step"], r["loss"]) for r in read_metrics(run_dir / "metrics.jsonl")]


def _assert_same_run(a, b, keys=("model", "ema")):
    sa, sb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    assert sa["step"] == sb["step"] == 6
    for part in keys:
        if sa[part] is None:
            continue
        for k, v in sa[part].items():
            assert torch.equal(v, sb[part][k]), f"{part}.{k}"
    for oa, ob in zip(sa["optimizers"], sb["optimizers"]):
        for pid, st in oa["state"].items():
            assert torch.equal(st["exp_avg"], ob["state"][pid]["exp_avg"])
    assert sa["schedules"] == sb["schedules"]


@pytest.mark.parametrize("stage", ["diffusion", "first_stage"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, toys, registry, stage):
    # warm-up makes the LR schedule matter; 10 items / batch 4 = 2 steps per epoch, so the
    # interruption at step 3 falls mid-epoch; CFG dropout, dropout and EMA all draw randomness
    extra = {"warmup_steps": 4, "checkpoint_every": 100, "sample_every": 100}
    overrides = ["first_stage.type=toy_ae"] if stage == "first_stage" else []
    whole = train(toys.toy_spec(str(tmp_path / "a"), **extra), overrides, stage=stage,
                  registry=registry, progress=False)
    part = train(toys.toy_spec(str(tmp_path / "b"), **extra), overrides, stage=stage,
                 registry=registry, progress=False, callback=_stop_at(3))
    assert part.status == "interrupted" and part.step == 3
    assert latest_checkpoint(part.run_dir).name == "step_00000003.pt"
    rest = train(toys.toy_spec(str(tmp_path / "b"), **extra), overrides, stage=stage,
                 resume="auto", registry=registry, progress=False)
    assert rest.status == "done" and rest.step == 6
    assert _losses(whole.run_dir) == _losses(rest.run_dir)
    assert len(_losses(rest.run_dir)) == 6
    _assert_same_run(whole, rest)


def test_sigint_saves_before_exiting(tmp_path, toys, registry):
    def interrupt(done, trainer):
        if done == 2:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    result = train(toys.toy_spec(str(tmp_path), checkpoint_every=100), registry=registry,
                   progress=False, callback=interrupt)
    assert result.status == "interrupted" and result.step == 2
    assert load_checkpoint(latest_checkpoint(result.run_dir))["step"] == 2
    assert result.export is None
    assert signal.getsignal(signal.SIGINT) is before


def test_resume_refuses_another_spec_and_allows_more_steps(tmp_path, toys, registry):
    train(toys.toy_spec(str(tmp_path), steps=2), registry=registry, progress=False)
    with pytest.raises(TrainingError) as err:
        train(toys.toy_spec(str(tmp_path), steps=2, lr=2e-3), resume="auto",
              registry=registry, progress=False)
    assert "another spec" in str(err.value) and "training.lr: 0.001 -> 0.002" in str(err.value)
    assert "\n" not in str(err.value)
    # more steps (and other cadences) are not a different spec: training continues
    more = train(toys.toy_spec(str(tmp_path), steps=3, log_every=3), resume=str(tmp_path /
                 "diffusion"), registry=registry, progress=False)
    assert more.step == 3 and more.status == "done"
    # how the model is sampled and scored afterwards does not touch the optimisation either
    spec = toys.toy_spec(str(tmp_path), steps=4)
    spec["sampler"]["params"]["steps"] = 2
    spec["guider"] = {"type": "toy_cfg", "params": {"scale": 3.0}}
    later = train(spec, resume="auto", registry=registry, progress=False)
    assert later.step == 4 and later.status == "done"


def test_resume_names_the_run_by_its_output_dir(tmp_path, toys, registry):
    """`--resume OUTPUT_DIR` (what training.output_dir says) finds the stage's run under it;
    a directory without checkpoints is still an error naming where it looked."""
    from ldmcore.errors import CheckpointError
    from ldmcore.training.checkpointing import find_resume

    train(toys.toy_spec(str(tmp_path), steps=2), registry=registry, progress=False)
    stage_dir = tmp_path / "diffusion"
    assert find_resume(str(tmp_path), stage_dir) == stage_dir
    assert find_resume(str(stage_dir), stage_dir) == stage_dir
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        find_resume(str(tmp_path / "empty"), stage_dir)
