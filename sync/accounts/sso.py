"""Single sign-on (OpenID Connect through Streamlit's `st.login`): which providers are configured,
and which dashboard account an identity provider's verified email stands for.

Providers are the named sections of `[auth]` in `.streamlit/secrets.toml`. The provider named
`staff` (the vendor's own identity provider) signs in support staff accounts only; every other
provider (e.g. `customers`, the platform's identity provider) signs in owners of an organization
only, so no customer's identity provider can ever assert a support account. The email is matched
case-insensitively; a provider that says `email_verified = false` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from storage.db import read_session
from storage.models import Organization, StaffAccount, User
from sync.accounts.login import LoginRefused, Principal, display_name, role_refused

STAFF_PROVIDER = "staff"
_LABELS = {
    "staff": "Log in as support staff (single sign-on)",
    "customers": "Log in with your organization's account",
}
_REQUIRED_KEYS = ("client_id", "client_secret", "server_metadata_url")
# A session starts from Streamlit's identity cookie only while the provider's ID token is this
# fresh, i.e. right after the person came back from the provider: the cookie itself lasts 30 days,
# a dashboard session at most 12 hours, and an ended session must not restart from an old cookie.
FRESH_LOGIN = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True)
class Provider:
    """A configured identity provider: its `[auth.NAME]` section and the button's label."""

    name: str
    label: str

    @property
    def for_staff(self) -> bool:
        return self.name == STAFF_PROVIDER


def configured_providers(auth: Mapping[str, Any] | None) -> list[Provider]:
    """The named providers of an `[auth]` section that Streamlit can use (pure).

    None without `redirect_uri` and `cookie_secret`; a provider needs client_id, client_secret
    and server_metadata_url. Names with an underscore are skipped (Streamlit cannot use them).
    """
    if not auth or not auth.get("redirect_uri") or not auth.get("cookie_secret"):
        return []
    providers: list[Provider] = []
    for name, section in auth.items():
        if not isinstance(section, Mapping) or "_" in name:
            continue
        if all(section.get(key) for key in _REQUIRED_KEYS):
            label = _LABELS.get(name, f"Log in with {name}")
            providers.append(Provider(name=name, label=label))
    return sorted(providers, key=lambda p: (not p.for_staff, p.name))


def may_start_session(*, issued_at: object, now: datetime, ended_at: datetime | None) -> bool:
    """Whether an identity provider's answer (ID token `iat`, seconds) may start a new session now (pure).

    Only a fresh answer counts (FRESH_LOGIN), and never one given before this browser's last
    session ended: a logout, an idle timeout or the 12-hour limit needs a new visit to the provider.
    """
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        return False
    issued = datetime.fromtimestamp(float(issued_at), UTC)
    if issued > now + CLOCK_SKEW or now - issued > FRESH_LOGIN:
        return False
    # `iat` has whole seconds: an answer from the second the session ended counts as later.
    return ended_at is None or issued >= ended_at.replace(microsecond=0)


def _unknown(email: str, provider: Provider) -> LoginRefused:
    who = "a support staff account" if provider.for_staff else "an owner of an organization"
    return LoginRefused(
        "sso_no_account",
        f"There is no dashboard login for {email} here: it is not {who}.",
        "Owners of an organization and support staff can log in. Ask your account manager "
        "if you need access.",
    )


def principal_for_identity(
    engine: Engine, provider: Provider, *, email: object, email_verified: object = None
) -> Principal:
    """The account an identity provider's user stands for, or LoginRefused (a message for them).

    `email_verified` is honoured when the provider sends it: False (or "false") is refused.
    """
    address = email.strip() if isinstance(email, str) else ""
    if "@" not in address:
        raise LoginRefused(
            "sso_no_email",
            "Your identity provider did not tell us your email address.",
            "Ask your administrator to release the email claim (scope `email`) to this dashboard.",
        )
    if email_verified is False or (isinstance(email_verified, str) and email_verified.lower() == "false"):
        raise LoginRefused(
            "sso_email_unverified",
            f"Your identity provider has not verified the email address {address}.",
            "Verify your email address with your identity provider, then log in again.",
        )
    key = address.lower()
    with read_session(engine) as session:
        if provider.for_staff:
            staff = session.exec(select(StaffAccount).where(col(StaffAccount.email) == key)).first()
            if staff is None or staff.id is None:
                raise _unknown(address, provider)
            return Principal(kind="staff", id=staff.id, name=staff.name or staff.email, email=staff.email)
        users = session.exec(
            select(User, Organization)
            .join(Organization, col(Organization.id) == col(User.org_id))
            .where(User.email_key == key, User.status == "active")
            .order_by(col(User.id))
        ).all()
    for user, org in users:
        if user.role == "owner" and user.id is not None:
            return Principal(
                kind="owner",
                id=user.id,
                name=display_name(user.first_name, user.last_name, user.email),
                email=user.email,
                org_id=user.org_id,
                org_name=org.name,
            )
    if users:
        user, org = users[0]
        raise role_refused(user.role, org.name)
    raise _unknown(address, provider)
