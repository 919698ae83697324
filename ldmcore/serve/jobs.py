"""Jobs in memory, a bounded queue served in order, and the one worker thread that samples.

On a 2-core machine one sampling run at a time is the fastest way through a queue; the event
loop never samples, so the page stays responsive. A full queue is refused (the app answers
503); a queued job can be cancelled at once, a running one at its next denoiser step.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import LdmError

STATUSES = ("queued", "running", "done", "failed", "cancelled")


class Cancelled(Exception):
    """Raised inside the sampler's step callback when a job's cancel was asked for."""


class QueueFull(Exception):
    """The bounded queue holds as many jobs as it may."""


@dataclass
class Job:
    """One request to generate: its state as the API reports it, and its results."""

    plan: Any  # requests.Plan
    folder: Any  # pathlib.Path, the job's own output folder
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    status: str = "queued"
    step: int = 0
    total: int = 0
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    preview: bytes | None = None  # PNG of the latest decoded x̂0
    preview_step: int = 0
    command: str = ""
    version: int = 0  # bumped on every change (the SSE stream sends on change)
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def touch(self) -> None:
        self.version += 1

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()

    @property
    def terminal(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class JobQueue:
    """Jobs by id (the newest `keep` kept), a queue of at most `max_queued` waiting jobs and
    one worker thread calling `run(job)`."""

    def __init__(self, run: Callable[[Job], None], *, max_queued: int = 16,
                 keep: int = 500) -> None:
        self._run = run
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_queued)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep
        self._thread = threading.Thread(target=self._work, name="ldm-serve-worker", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ API side
    def submit(self, job: Job) -> Job:
        with self._lock:
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise QueueFull() from None
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                old_id, old = next(iter(self._jobs.items()))
                if not old.terminal:
                    break
                del self._jobs[old_id]
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job: Job) -> None:
        job.cancel_event.set()
        with self._lock:
            if job.status == "queued":  # the worker skips it when its turn comes
                job.status, job.finished = "cancelled", time.time()
                job.touch()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Stop: every job not finished is cancelled (a running one at its next step)."""
        for job in self.jobs():
            if not job.terminal:
                self.cancel(job)
        try:
            self._queue.put(None, timeout=10)
        except queue.Full:
            return
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ worker side
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.status != "queued":
                    continue
                job.status, job.started = "running", time.time()
                job.touch()
            status, error = "done", None
            try:
                self._run(job)
            except Cancelled:
                status = "cancelled"
            except LdmError as exc:
                status, error = "failed", str(exc).splitlines()[0] if str(exc) else repr(exc)
            except Exception as exc:  # a bug: the job fails, the server keeps serving
                traceback.print_exc()
                status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            with self._lock:
                job.status, job.error, job.finished = status, error, time.time()
                job.touch()
