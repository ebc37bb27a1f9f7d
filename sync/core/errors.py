"""Errors a person reads: a code, a plain message and a hint. Never a secret."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import ClassVar

AUTH_FAILED = "auth_failed"
FORBIDDEN = "forbidden"
MISSING_ATTRIBUTE = "missing_attribute"
RATE_LIMITED = "rate_limited"
PERSONIO_UNAVAILABLE = "personio_unavailable"
INVALID_RESPONSE = "invalid_response"
SAFETY_STOP = "safety_stop"
NOT_CONFIGURED = "not_configured"
LEASE_EXPIRED = "lease_expired"
SUPERSEDED = "superseded"
INTERNAL = "internal"


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str
    hint: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class ReadableError(Exception):
    """The base of every error a person reads: a `code`, a plain `message` and a `hint` (may be empty).

    `str(error)` is the message. Neither the message nor the hint ever holds a secret, so a door
    (the CLI, a page, a log line) may show both as they are. Subclasses set `default_code`.
    """

    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, hint: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.info = ErrorInfo(code=code or self.default_code, message=message, hint=hint)

    @property
    def code(self) -> str:
        return self.info.code

    @property
    def message(self) -> str:
        return self.info.message

    @property
    def hint(self) -> str:
        return self.info.hint


class SyncError(ReadableError):
    """A failure of a run or a Test a person can act on. `str(error)` is the message, never a secret."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message, hint, code=code)


def internal_error(exc: BaseException) -> ErrorInfo:
    """What a person sees for an unexpected failure: the type only, never the text (it may hold data)."""
    return ErrorInfo(
        code=INTERNAL,
        message=f"The sync stopped on an unexpected error ({type(exc).__name__}). Nothing was changed.",
        hint="Try again with Run now. If it happens again, contact support with the run number.",
    )


def describe_exception(exc: BaseException) -> str:
    """`KeyError at plan.py:123`: the type and where it happened, for logs.

    Never the exception's text: it may hold a URL with credentials or personal data.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


class FetchAbandoned(Exception):
    """A fetch stopped because its caller set the stop event (the process is stopping).

    Not a failure of the run: nothing was written, and the caller decides what happens to the run
    (a scheduler puts it back in the queue). Deliberately not a SyncError, so it is never recorded
    as one by code that catches those.
    """

    def __init__(self) -> None:
        super().__init__("The fetch from Personio was abandoned because the process is stopping.")
