"""Training checkpoints: atomic writes, keep-last-N, a `latest` pointer, spec-checked resume.

    run_dir/checkpoints/step_00000500.pt   model, EMA, optimisers, LR schedules, step, RNG, spec
    run_dir/checkpoints/latest             the file name of the newest complete checkpoint

A checkpoint is written to a temporary file, flushed, then renamed over its final name, and
`latest` moves only after that succeeded; a failed write (disk full...) leaves the previous
checkpoint and pointer untouched. Files are read back with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..checkpoint.training_format import FORMAT, exported_weights  # noqa: F401 - re-exported
from ..errors import CheckpointError
from ..spec.diff import spec_diff  # noqa: F401 - re-exported (resume checks use it)

CKPT_DIR = "checkpoints"
LATEST = "latest"
_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CKPT_DIR


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _steps(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint `latest` points to (or the highest step present if the pointer is gone)."""
    directory = checkpoint_dir(run_dir)
    pointer = directory / LATEST
    if pointer.is_file():
        target = directory / pointer.read_text().strip()
        if target.is_file():
            return target
    steps = _steps(directory)
    return steps[-1][1] if steps else None


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any], keep_last: int) -> Path:
    """Write `state` as step_{step}.pt atomically, move `latest`, drop all but the last N."""
    directory = checkpoint_dir(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step_{step:08d}.pt"
    previous = latest_checkpoint(run_dir)
    try:
        _atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))
        _atomic_write(directory / LATEST, lambda f: f.write(path.name.encode()))
    except OSError as exc:
        kept = f"{previous} is intact" if previous else "no earlier checkpoint exists"
        raise CheckpointError(
            f"cannot write checkpoint {path}: {exc.strerror or exc}; {kept}"
        ) from None
    for _, old in _steps(directory)[:-keep_last]:
        if old != path:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, *, mmap: bool = False) -> dict[str, Any]:
    """The checkpoint's dict; with `mmap` tensors are mapped, not read (to peek at its stage)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt files
        raise CheckpointError(f"{path}: not a readable training checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ldmcore training checkpoint")
    return state


def find_resume(resume: str | None, run_dir: Path) -> Path | None:
    """`--resume auto` -> latest in the spec's run dir (None: start fresh); a dir or a file."""
    if resume is None:
        return None
    if resume == "auto":
        return latest_checkpoint(run_dir)
    target = Path(resume)
    if target.is_file():
        return target
    if target.is_dir():
        found = latest_checkpoint(target)
        if found is None:
            raise CheckpointError(f"--resume {target}: no checkpoint in {checkpoint_dir(target)}")
        return found
    raise CheckpointError(f"--resume {target}: no such run directory or checkpoint")
