"""SIGINT / SIGTERM during training: finish the current step, save a checkpoint, then stop.

A second signal aborts at once (KeyboardInterrupt). Handlers are only installed from the main
thread, and the previous handlers are restored afterwards.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class StopRequest:
    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        print(f"\nldm train: {self.requested} received: saving a checkpoint after this step "
              "(send again to abort without saving)", file=sys.stderr)

    def request(self, reason: str = "stop requested") -> None:
        self.requested = reason

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()
