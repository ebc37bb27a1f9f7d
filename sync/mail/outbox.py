"""The outbox: messages queued inside the caller's transaction.

An email exists exactly when the change it reports was committed: the rows are written in the
same transaction. Texts are `sync.mail.texts`; delivery is `sync.mail.delivery`.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.models import Organization, OutboxEmail, Run, User
from sync.core.errors import SAFETY_STOP, ErrorInfo
from sync.core.states import UserStatus
from sync.mail.texts import failure_message


def owners_of(session: Session, org_id: int) -> list[User]:
    """The organization's active owners: the people notified about its runs."""
    return list(
        session.exec(
            select(User)
            .where(User.org_id == org_id, User.role == "owner", User.status == UserStatus.ACTIVE)
            .order_by(col(User.id))
        ).all()
    )


def notify_owners_of_failure(
    session: Session, *, run: Run, error: ErrorInfo, would_deactivate: int | None, paused: bool
) -> None:
    """Queue the failure (or safety stop) email to each active owner of the run's organization."""
    now = utcnow()
    org = session.get(Organization, run.org_id)
    org_name = org.name if org else "your organization"
    kind = "safety_stop" if error.code == SAFETY_STOP else "run_failed"
    for owner in owners_of(session, run.org_id):
        text = failure_message(
            language=owner.language,
            org_name=org_name,
            run=run,
            error=error,
            would_deactivate=would_deactivate,
            paused=paused,
        )
        session.add(
            OutboxEmail(
                org_id=run.org_id,
                to=owner.email,
                subject=text.subject,
                body=text.body,
                kind=kind,
                language=text.language,
                run_id=run.id,
                created_at=now,
            )
        )
