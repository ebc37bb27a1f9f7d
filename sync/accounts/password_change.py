"""Changing one's own dashboard password: it ends every other session of the account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from storage.clock import utcnow
from storage.db import write_session
from storage.models import StaffAccount, User
from sync.accounts.login import Principal
from sync.accounts.organizations import AccountError
from sync.accounts.passwords import hash_password, verify_password
from sync.accounts.sessions import revoke_others

MIN_LENGTH = 8


def change_password(
    engine: Engine,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    keep_session_id: int | None,
    now: datetime | None = None,
) -> int:
    """Set a new password after checking the current one; ends the account's other sessions.

    Returns how many other sessions were ended. Raises AccountError (a message for the person)
    when the current password is wrong or the new one is too short.
    """
    now = now or utcnow()
    if len(new_password) < MIN_LENGTH:
        raise AccountError(f"The new password must have at least {MIN_LENGTH} characters.")
    with write_session(engine) as session:
        account: StaffAccount | User | None = (
            session.get(StaffAccount, principal.id) if principal.is_staff else session.get(User, principal.id)
        )
        if account is None or not verify_password(account.password_hash, current_password):
            raise AccountError(
                "The current password is not correct.",
                "Enter the password you logged in with. If you forgot it, ask your account manager.",
            )
        account.password_hash = hash_password(new_password)
        if isinstance(account, User):
            account.updated_at = now
        session.add(account)
    return revoke_others(engine, principal, keep_session_id=keep_session_id, now=now)
