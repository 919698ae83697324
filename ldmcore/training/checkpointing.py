"""Training checkpoints: atomic writes, keep-last-N, a `latest` pointer, spec-checked resume.

    run_dir/checkpoints/step_00000500.pt   model, EMA, optimisers, LR schedules, step, RNG, spec
    run_dir/checkpoints/latest             the file name of the newest complete checkpoint

A checkpoint is written to a temporary file, flushed, then renamed over its final name, and
`latest` moves only after that succeeded; a failed write (disk full...) leaves the previous
checkpoint and pointer untouched. Files are read back with `torch.load(weights_only=True)`.

Every checkpoint carries a sha256 per tensor (and one over its other values), verified when it
is read back: a flipped byte inside tensor data (which unpickles fine) is caught by name.
Resuming from a run directory falls back to the newest checkpoint that verifies.
"""

from __future__ import annotations

import hashlib
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
CHECKSUMS = "checksums"
_NAME = re.compile(r"^step_(\d+)\.pt$")
_VALUES = "<values>"  # the checksum over every non-tensor leaf (step, spec, RNG, hyper-params)


def _leaves(obj: Any, path: str = ""):
    """(dotted path, leaf) in a deterministic order; dict keys sorted by their text."""
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _leaves(obj[k], f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{path}.{i}" if path else str(i))
    else:
        yield path, obj


def _tensor_digest(t: torch.Tensor) -> str:
    data = t.detach().cpu().contiguous().reshape(-1)
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    if data.numel():
        h.update(data.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def checksums(state: dict[str, Any]) -> dict[str, str]:
    """sha256 of each tensor's dtype, shape and bytes, and one over all other leaves."""
    out, values = {}, hashlib.sha256()
    for path, leaf in _leaves({k: v for k, v in state.items() if k != CHECKSUMS}):
        if isinstance(leaf, torch.Tensor):
            out[path] = _tensor_digest(leaf)
        else:
            values.update(f"{path}={leaf!r};".encode())
    out[_VALUES] = values.hexdigest()
    return out


def verify(state: dict[str, Any], path: Path) -> None:
    """Raise CheckpointError naming the first tensor whose bytes changed since it was saved."""
    stored = state.get(CHECKSUMS)
    if stored is None:
        return  # written before checksums existed
    now = checksums(state)
    for key in sorted(set(stored) | set(now), key=lambda k: (k == _VALUES, k)):
        if stored.get(key) != now.get(key):
            what = "its step/spec/RNG values" if key == _VALUES else f"tensor {key}"
            raise CheckpointError(f"{path}: checksum mismatch in {what}: the file is corrupt")


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


def _write_error(exc: BaseException) -> str:
    """One line from an OSError or torch's zip-writer RuntimeError ('[enforce fail at ...')."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:200]


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
    payload = {"format": FORMAT, **state}
    payload[CHECKSUMS] = checksums(payload)
    try:
        _atomic_write(path, lambda f: torch.save(payload, f))
        _atomic_write(directory / LATEST, lambda f: f.write(path.name.encode()))
    except (OSError, RuntimeError) as exc:  # RuntimeError: torch's zip writer (disk full)
        kept = f"{previous} is intact" if previous else "no earlier checkpoint exists"
        raise CheckpointError(
            f"cannot write checkpoint {path}: {_write_error(exc)}; {kept}"
        ) from None
    for _, old in _steps(directory)[:-keep_last]:
        if old != path:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, *, mmap: bool = False) -> dict[str, Any]:
    """The checkpoint's dict, checksums verified; with `mmap` tensors are mapped, not read
    (to peek at its stage), and not verified."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a directory, expected a training checkpoint (.pt)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file, not a training checkpoint")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    if magic != b"PK\x03\x04":  # torch.save writes a zip archive
        raise CheckpointError(f"{path}: not a readable training checkpoint (not a torch .pt "
                              "zip archive)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt files
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"{path}: not a readable training checkpoint ({why})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ldmcore training checkpoint")
    if not mmap:
        verify(state, path)
    return state


def candidates(run_dir: str | Path) -> list[Path]:
    """A run's checkpoints to resume from, best first: `latest`, then the others newest first
    (the older ones keep_last kept are the fallback when the newest is corrupt)."""
    first = latest_checkpoint(run_dir)
    rest = [p for _, p in reversed(_steps(checkpoint_dir(run_dir))) if p != first]
    return ([first] if first else []) + rest


def load_resumable(run_dir: str | Path, note) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of `run_dir` that reads and verifies, with its state; each one
    skipped is reported through `note`. Raises if none does."""
    errors = []
    for path in candidates(run_dir):
        try:
            state = load_checkpoint(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        if errors:
            note(f"{errors[-1]}; falling back to the previous good checkpoint {path}"
                 if len(errors) == 1 else
                 f"{len(errors)} newer checkpoints are unreadable ({errors[0]}); falling back "
                 f"to the previous good checkpoint {path}")
        return path, state
    raise CheckpointError(f"no readable checkpoint in {checkpoint_dir(run_dir)}: "
                          + (errors[0] if errors else "none saved"))


def load_or_offer(path: Path) -> dict[str, Any]:
    """Load the checkpoint `--resume FILE` names; if it is unreadable, the error offers the
    newest good checkpoint beside it."""
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        if path.parent.name != CKPT_DIR:
            raise
        for other in candidates(path.parent.parent):
            if other.resolve() == path.resolve():
                continue
            try:
                load_checkpoint(other)
            except CheckpointError:
                continue
            raise CheckpointError(f"{exc}; previous good checkpoint: {other} (--resume {other}, "
                                  f"or --resume {path.parent.parent} to use it)") from None
        raise


def find_resume(resume: str | None, run_dir: Path) -> Path | None:
    """What `--resume` names: None (start fresh), a checkpoint file, or a run directory (or the
    output_dir above it) whose newest good checkpoint is used (`auto`: the spec's run dir, None
    if it has none)."""
    if resume is None:
        return None
    if resume == "auto":
        return Path(run_dir) if latest_checkpoint(run_dir) else None
    target = Path(resume)
    if target.is_file():
        return target
    if target.is_dir():
        if target.name == CKPT_DIR and latest_checkpoint(target.parent):
            return target.parent  # --resume RUN/checkpoints
        if latest_checkpoint(target):
            return target
        stage_dir = target / Path(run_dir).name
        if latest_checkpoint(stage_dir):
            return stage_dir  # --resume OUTPUT_DIR: the stage's run directory under it
        raise CheckpointError(f"--resume {target}: no checkpoint in {checkpoint_dir(target)}")
    raise CheckpointError(f"--resume {target}: no such run directory or checkpoint")
