"""The outbox: messages queued inside the caller's transaction.

An email exists exactly when the change it reports was committed: the rows are written in the
same transaction. Texts are `sync.mail.texts`; delivery is `sync.mail.delivery`.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.models import Organization, OutboxEmail, Run, StaffAccount, User
from sync.core.errors import SAFETY_STOP, ErrorInfo
from sync.core.states import UserStatus
from sync.mail.texts import MessageText, failure_message, repeated_crash_message


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


REPEATED_CRASH = "repeated_crash"


def notify_repeated_crash(session: Session, *, run: Run, previous_run_id: int | None, paused: bool) -> int:
    """Queue the email about a second run in a row whose process died: to each active owner of the
    organization (in their language) and to every support staff account. Returns how many."""
    now = utcnow()
    org = session.get(Organization, run.org_id)
    org_name = org.name if org else f"organization {run.org_id}"
    recipients: list[tuple[str, MessageText]] = [
        (
            owner.email,
            repeated_crash_message(
                language=owner.language,
                org_name=org_name,
                run=run,
                previous_run_id=previous_run_id,
                paused=paused,
                for_support=False,
            ),
        )
        for owner in owners_of(session, run.org_id)
    ]
    support = repeated_crash_message(
        language="en",
        org_name=org_name,
        run=run,
        previous_run_id=previous_run_id,
        paused=paused,
        for_support=True,
    )
    staff = session.exec(select(StaffAccount.email).order_by(col(StaffAccount.id))).all()
    recipients += [(email, support) for email in staff]
    for to, text in recipients:
        session.add(
            OutboxEmail(
                org_id=run.org_id,
                to=to,
                subject=text.subject,
                body=text.body,
                kind=REPEATED_CRASH,
                language=text.language,
                run_id=run.id,
                created_at=now,
            )
        )
    return len(recipients)
