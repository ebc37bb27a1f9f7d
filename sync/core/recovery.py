"""What follows a run whose lease expired (its process died). Pure: standard library only.

The first time, the run is retried once, automatically. When the organization's previous run
ended the same way, the process most likely dies on this organization: retrying again would
only kill the next scheduler, so the owners and support are told and automatic runs pause.
"""

from __future__ import annotations

from enum import StrEnum

from sync.core.errors import LEASE_EXPIRED, ErrorInfo


class AfterLeaseExpired(StrEnum):
    """The decision for a run whose lease expired."""

    RETRY = "retry"  # queue the same run again (same trigger), once
    GIVE_UP = "give_up"  # the second in a row: email owners and support, pause


def after_lease_expired(previous_error_code: str | None) -> AfterLeaseExpired:
    """Decide from the error code of the organization's previous finished run (None: none, or it
    succeeded)."""
    return AfterLeaseExpired.GIVE_UP if previous_error_code == LEASE_EXPIRED else AfterLeaseExpired.RETRY


LEASE_EXPIRED_RETRIED = ErrorInfo(
    code=LEASE_EXPIRED,
    message="The run stopped before it finished: the process running it ended (for example a restart "
    "or a crash). Nothing was changed.",
    hint="No action is needed: it is retried automatically once.",
)

LEASE_EXPIRED_TWICE = ErrorInfo(
    code=LEASE_EXPIRED,
    message="The run stopped before it finished, for the second time in a row: the process running it "
    "ended each time (for example it ran out of memory on this organization). Nothing was changed.",
    hint="Support has been told and is looking into it. Once it is fixed, click Run now: a successful "
    "run resumes automatic runs.",
)
