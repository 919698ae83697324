"""Metrics: averaged over the log interval and over ranks, written by rank 0 as JSONL
(run_dir/metrics.jsonl, one object per line: step, the losses, lr, it/s) and to TensorBoard
when it is installed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .distributed import DistEnv, all_reduce_mean

METRICS_FILE = "metrics.jsonl"


class Meter:
    """Sums of scalar logs since the last report (tensors stay on device until reported)."""

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.count = 0

    def add(self, logs: dict[str, Any]) -> None:
        for k, v in logs.items():
            v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1

    def reduce(self, env: DistEnv) -> dict[str, float]:
        """Means over the interval, averaged over ranks (every rank must call it)."""
        if not self.count:
            return {}
        keys = sorted(self.sums)
        values = torch.stack([torch.as_tensor(self.sums[k], dtype=torch.float32).to(env.device)
                              for k in keys]) / self.count
        values = all_reduce_mean(values, env).tolist()
        self.sums, self.count = {}, 0
        return dict(zip(keys, values))


def _parse(lines: list[str]) -> tuple[list[tuple[str, dict]], int]:
    """(line, row) for every line that is a JSON object, and how many were not (a run killed
    mid-write leaves a truncated last line)."""
    rows, bad = [], 0
    for ln in lines:
        if not ln.strip():
            continue
        try:
            row = json.loads(ln)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            rows.append((ln, row))
        else:
            bad += 1
    return rows, bad


def truncate_after(path: Path, step: int, note: Callable[[str], None] | None = None) -> None:
    """Drop lines logged after `step` (a resumed run repeats those steps), and unreadable
    ones (said through `note`)."""
    if not path.is_file():
        return
    rows, bad = _parse(path.read_text(errors="replace").splitlines())
    if bad and note is not None:
        note(f"{path}: dropped {bad} unreadable line(s) (a write cut short)")
    kept = [ln for ln, row in rows if _step(row) <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(ln + "\n" for ln in kept))
    tmp.replace(path)


def _step(row: dict) -> float:
    value = row.get("step", 0)
    return value if isinstance(value, (int, float)) else 0


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; unreadable lines (a truncated last one) are skipped."""
    return [row for _, row in _parse(Path(path).read_text(errors="replace").splitlines())[0]]


class MetricsWriter:
    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool, resume_step: int = 0,
                 note: Callable[[str], None] | None = None):
        self.enabled = enabled
        self.path = run_dir / METRICS_FILE
        self.tb = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        truncate_after(self.path, resume_step, note)
        if tensorboard:
            try:  # optional: only when the `tensorboard` package is installed
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self.tb = None

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, **{k: round(v, 7) for k, v in values.items()}, "time": time.time()}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
