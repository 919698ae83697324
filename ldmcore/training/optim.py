"""Optimisers and learning-rate schedules (linear warm-up, then constant or cosine)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def make_optimizer(params: Iterable[torch.nn.Parameter], t: Any, *, lr: float,
                   betas: tuple[float, float]) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return cls(list(params), lr=lr, betas=tuple(betas), weight_decay=t.weight_decay)


class LrFactor:
    """lr multiplier after `step` optimiser steps: (step+1)/warmup, then 1 or a cosine decay."""

    def __init__(self, warmup: int, total: int, kind: str) -> None:
        self.warmup, self.total, self.kind = warmup, total, kind

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "cosine":
            progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0


def make_schedule(optimizer: torch.optim.Optimizer, t: Any):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, LrFactor(t.warmup_steps, t.steps, t.lr_schedule))


def load_schedule(schedule: Any, state: dict[str, Any], t: Any) -> None:
    """Restore a LambdaLR's position but keep this run's factor: LambdaLR.state_dict() stores
    the LrFactor's fields, so loading it verbatim would bring back the old `training.steps`
    (a cosine horizon of 6 when resuming to 12 steps: lr 0 after step 6)."""
    schedule.load_state_dict(state)
    factor = LrFactor(t.warmup_steps, t.steps, t.lr_schedule)
    schedule.lr_lambdas = [factor] * len(schedule.optimizer.param_groups)
    lrs = [base * factor(schedule.last_epoch) for base in schedule.base_lrs]
    for group, lr in zip(schedule.optimizer.param_groups, lrs):
        group["lr"] = lr
    schedule._last_lr = lrs
