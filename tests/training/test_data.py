"""The batch order: a pure function of (seed, step), sharded identically over ranks/accum."""

from __future__ import annotations

import pytest

from ldmcore.cli.main import parse
from ldmcore.errors import DataError
from ldmcore.training.checkpointing import spec_diff
from ldmcore.training.data import StepSampler


def test_epochs_cover_the_dataset_and_differ():
    s = StepSampler(10, 4, seed=1)
    epoch0 = s.step_indices(0)[0] + s.step_indices(1)[0]
    epoch1 = s.step_indices(2)[0] + s.step_indices(3)[0]
    assert len(set(epoch0)) == 8 and set(epoch0) <= set(range(10))
    assert epoch0 != epoch1
    assert StepSampler(10, 4, seed=2).step_indices(0) != s.step_indices(0)


def test_resume_restarts_the_same_order():
    full = StepSampler(10, 4, seed=0)
    it = iter(full)
    stream = [next(it) for _ in range(7)]
    resumed = iter(StepSampler(10, 4, seed=0, start_step=3))
    assert [next(resumed) for _ in range(4)] == stream[3:]


def test_shards_are_the_same_on_ranks_or_accumulation():
    one = StepSampler(12, 4, seed=0, grad_accum=2)
    ranks = [StepSampler(12, 4, seed=0, rank=r, world_size=2) for r in range(2)]
    for step in range(5):
        assert one.step_indices(step) == [ranks[0].step_indices(step)[0],
                                          ranks[1].step_indices(step)[0]]


@pytest.mark.parametrize("size, batch, world, accum, msg", [
    (3, 4, 1, 1, "larger than the dataset (3 items)"),
    (10, 4, 3, 1, "does not split"),
])
def test_sampler_refuses_impossible_batches(size, batch, world, accum, msg):
    with pytest.raises(DataError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        StepSampler(size, batch, seed=0, world_size=world, grad_accum=accum)


def test_spec_diff_is_short_and_ignores_resumable_keys():
    old = {"training": {"lr": 1, "steps": 5}, "denoiser": {"params": {"width": 8}}}
    new = {"training": {"lr": 2, "steps": 9}, "denoiser": {"params": {"width": 16}}}
    assert spec_diff(old, new, ignore=("training.steps",)) == [
        "denoiser.params.width: 8 -> 16", "training.lr: 1 -> 2"]


def test_train_cli_takes_overrides_after_options():
    # `ldm` parses a command's options and overrides intermixed (ldmcore.cli.main.parse)
    args = parse(["train", "s.yaml", "a=1", "--stage", "diffusion", "b.c=2", "--no-progress"])
    assert args.overrides == ["a=1", "b.c=2"] and args.stage == "diffusion"
    assert parse(["train", "s.yaml", "--resume"]).resume == "auto"
