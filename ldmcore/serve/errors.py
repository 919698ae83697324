"""The one error the API answers with: an HTTP status and `{"error": "<field>: ..."}`."""

from __future__ import annotations

from ..errors import DataError


class ApiError(DataError):
    """A request the server refuses; the message names the field first."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
