"""Organizations, their owners, and support staff accounts."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Organization, StaffAccount, User
from sync.accounts.passwords import hash_password
from sync.core.errors import ReadableError
from sync.integration.settings import get_integration


class AccountError(ReadableError, ValueError):
    """An account cannot be created as asked; the message says why."""

    default_code = "account_refused"


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise AccountError("The password must have at least 8 characters.")


def create_organization(
    engine: Engine,
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str,
    owner_first_name: str = "",
    owner_last_name: str = "",
    addon_enabled: bool = True,
) -> Organization:
    """Create an organization with its first owner and an (inactive) integration."""
    slug = slug.strip().lower()
    if not slug or not slug.replace("-", "").replace("_", "").isalnum():
        raise AccountError("The slug may hold only letters, digits, '-' and '_'.")
    email = owner_email.strip()
    if "@" not in email:
        raise AccountError(f"{owner_email!r} is not an email address.")
    _check_password(owner_password)
    now = utcnow()
    with write_session(engine) as session:
        if session.exec(select(Organization).where(Organization.slug == slug)).first():
            raise AccountError(f"An organization with the slug {slug!r} exists already.")
        org = Organization(slug=slug, name=name.strip() or slug, addon_enabled=addon_enabled, created_at=now)
        session.add(org)
        session.flush()
        assert org.id is not None
        session.add(
            User(
                org_id=org.id,
                email=email,
                email_key=email.lower(),
                first_name=owner_first_name,
                last_name=owner_last_name,
                role="owner",
                source="manual",
                password_hash=hash_password(owner_password),
                created_at=now,
                updated_at=now,
            )
        )
        get_integration(session, org.id)
    return org


def create_staff(engine: Engine, *, email: str, password: str, name: str = "") -> StaffAccount:
    """Create a support staff account (global, across organizations)."""
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address.")
    _check_password(password)
    with write_session(engine) as session:
        if session.exec(select(StaffAccount).where(StaffAccount.email == email)).first():
            raise AccountError(f"A staff account for {email} exists already.")
        staff = StaffAccount(
            email=email, name=name, password_hash=hash_password(password), created_at=utcnow()
        )
        session.add(staff)
    return staff


def organization_by_slug(engine: Engine, slug: str) -> Organization | None:
    with read_session(engine) as session:
        return session.exec(select(Organization).where(Organization.slug == slug.strip().lower())).first()
