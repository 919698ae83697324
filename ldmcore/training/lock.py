"""One `ldm train` per run directory: an exclusive flock on run_dir/.lock, held for the run.

Two trainers on one directory would share temporary names, interleave metrics.jsonl and
overwrite each other's checkpoints; the second one is refused instead, naming the holder's pid.
The lock is the kernel's (released when the process exits, even on kill -9); the file stays.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TrainingError

LOCK_FILE = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking
    fcntl = None  # type: ignore[assignment]


def make_run_dir(run_dir: Path) -> None:
    """Create the run directory; a path that cannot hold one is an error naming the option."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise TrainingError(f"training.output_dir: cannot create {run_dir}: {why}") from None
    if not os.access(run_dir, os.W_OK):
        raise TrainingError(f"training.output_dir: {run_dir} is not writable")


class RunLock:
    """`with RunLock(run_dir):` or acquire()/release(); raises TrainingError if held."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        make_run_dir(self.run_dir)
        if fcntl is None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TrainingError(f"training.output_dir: cannot create {self.path}: "
                                f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise TrainingError(
                f"{self.run_dir} is in use by another `ldm train` (pid {holder}); wait for it "
                "to finish or set another training.output_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"
