"""Errors a training run can stop with (printed on one line by the CLI, exit 2)."""

from __future__ import annotations

from ..errors import LdmError


class TrainingError(LdmError):
    """Training cannot go on: a non-finite loss, an impossible configuration of the loop."""
