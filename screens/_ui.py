"""Drawing helpers shared by the pages: the engine, who is logged in, times, errors, gates.

UI only: every read and write goes through `sync/`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from screens import _cookie
from storage.clock import utcnow
from storage.config import database_url
from storage.db import make_engine
from sync.accounts import sessions
from sync.accounts.login import Access, LoginRefused, Principal, PrincipalKind, current_access
from sync.accounts.sessions import SessionEnd
from sync.accounts.sso import Provider, configured_providers, may_start_session, principal_for_identity
from sync.core.errors import ErrorInfo
from sync.core.text import markdown_text
from sync.views.times import as_utc

PRINCIPAL_KEY = "principal"
TOKEN_KEY = "session_token"
SESSION_ID_KEY = "session_id"
METHOD_KEY = "session_method"
COOKIE_KEY = "cookie_pending"  # ("set", token, max age) or ("clear",): written at the next run
FORGET_COOKIE_KEY = "cookie_forgotten"  # the token this tab's browser sent at connect is over
SSO_REFUSED_KEY = "sso_refused"
FLASH_KEY = "flash"
LOGGED_OUT_KEY = "logged_out_because"
OWNER_ONLY = "Available for users with role Owner"
STAFF_ONLY = "This page is for support staff."
# What the login page says when a session this tab used has ended: (message, hint).
SESSION_ENDED: dict[SessionEnd, tuple[str, str]] = {
    SessionEnd.IDLE: (
        "You were logged out after 60 minutes without activity.",
        "Log in again to go on.",
    ),
    SessionEnd.EXPIRED: (
        "You were logged out: a login lasts at most 12 hours.",
        "Log in again to go on.",
    ),
    SessionEnd.REVOKED: (
        "You were logged out: this session was ended (Log out in another tab, a changed password, "
        "or ended from the Organizations page).",
        "Log in again to go on.",
    ),
}
# What the login page says to someone the gate logged out: (message, hint).
ACCESS_LOST: dict[Access, tuple[str, str]] = {
    Access.ACCOUNT_GONE: (
        "You were logged out: this account no longer exists.",
        "Ask your account manager if you still need access.",
    ),
    Access.DEACTIVATED: (
        "You were logged out: your account is deactivated.",
        "Ask an owner of your organization to reactivate it.",
    ),
    Access.NOT_OWNER: (
        OWNER_ONLY,
        "You were logged out because your account no longer has the role Owner. "
        "Ask an owner of your organization for the change you need.",
    ),
    Access.ORGANIZATION_GONE: (
        "You were logged out: your organization no longer exists.",
        "Ask your account manager.",
    ),
}


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def engine() -> Engine:
    """The process's engine for DATABASE_URL (one per URL, shared by all sessions)."""
    return _engine_for(database_url())


def principal() -> Principal | None:
    value = st.session_state.get(PRINCIPAL_KEY)
    return value if isinstance(value, Principal) else None


def current_session_id() -> int | None:
    value = st.session_state.get(SESSION_ID_KEY)
    return value if isinstance(value, int) else None


def log_in(who: Principal, *, method: str = "password") -> None:
    """Start a server-side session for `who`; the browser gets its token at the next run."""
    new = sessions.create(engine(), who, method=method)
    st.session_state[PRINCIPAL_KEY] = who
    st.session_state[TOKEN_KEY] = new.token
    st.session_state[SESSION_ID_KEY] = new.id
    st.session_state[METHOD_KEY] = method
    st.session_state[COOKIE_KEY] = ("set", new.token, int(sessions.ABSOLUTE_LIFETIME.total_seconds()))


def _forget(*, clear_cookie: bool) -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    # The token this browser sent when the tab connected is over: never use it again here.
    st.session_state[FORGET_COOKIE_KEY] = True
    if clear_cookie:
        st.session_state[COOKIE_KEY] = ("clear",)


def log_out() -> bool:
    """End this session everywhere (other tabs see it at their next click) and forget it here.

    True when the browser is now on its way to the identity provider to sign out there too: the
    caller must then draw nothing more and not rerun (a rerun that changes the address cancels
    the browser's navigation to the provider, and the person would stay signed in there).
    """
    session_id = current_session_id()
    method = str(st.session_state.get(METHOD_KEY, ""))
    if session_id is not None:
        sessions.revoke(engine(), session_id=session_id)
    leaves_for_provider = method.startswith("sso:") and bool(_sso_user().get("is_logged_in"))
    _forget(clear_cookie=not leaves_for_provider)
    if leaves_for_provider:
        _cookie.clear()  # now: no later run of this tab will write it
        st.logout()  # also forgets Streamlit's identity cookie and signs out at the provider
    return leaves_for_provider


def write_cookie() -> None:
    """Set or clear the session cookie when a login or logout asked for it (call once per run).

    The script goes into a slot that every run renders, empty or not: the page's elements keep
    their places, so the run after the login does not remount the fields a person is typing in.
    """
    slot = st.empty()
    pending = st.session_state.pop(COOKIE_KEY, None)
    if not pending:
        return
    with slot:
        if pending[0] == "set":
            _cookie.write(pending[1], max_age_seconds=pending[2])
        else:
            _cookie.clear()


def _token() -> str | None:
    token = st.session_state.get(TOKEN_KEY)
    if isinstance(token, str) and token:
        return token
    if st.session_state.get(FORGET_COOKIE_KEY):
        return None
    return _cookie.read()


def sso_providers() -> list[Provider]:
    """The identity providers configured in `[auth]` of .streamlit/secrets.toml (none: no buttons)."""
    try:
        auth = st.secrets.get("auth")
    except Exception:  # no secrets file, or one that does not parse: no single sign-on
        return []
    if auth is None:
        return []
    to_dict = getattr(auth, "to_dict", None)
    return configured_providers(to_dict() if callable(to_dict) else auth)


def _sso_user() -> dict[str, Any]:
    """What Streamlit's identity cookie says (st.user), or {} without single sign-on."""
    if not sso_providers():
        return {}
    try:
        return dict(st.user.to_dict())
    except Exception:  # st.user is unusable without a complete [auth] section
        return {}


def _sso_sign_in(ended_at: datetime | None) -> Principal | None:
    """A new session from the identity provider's answer, if the person just came back from it."""
    user = _sso_user()
    if not user.get("is_logged_in"):
        return None
    by_name = {p.name: p for p in sso_providers()}
    provider = by_name.get(str(user.get("provider", "")))
    if provider is None or not may_start_session(issued_at=user.get("iat"), now=utcnow(), ended_at=ended_at):
        return None
    try:
        who = principal_for_identity(
            engine(), provider, email=user.get("email"), email_verified=user.get("email_verified")
        )
    except LoginRefused as refused:
        st.session_state[SSO_REFUSED_KEY] = refused
        return None
    log_in(who, method=f"sso:{provider.name}")
    return who


def gate() -> Principal | None:
    """The Principal of this browser's session while the database still lets it in, else None.

    The one access check: the router calls it on every rerun, pages, fragments and dialogs
    through `require_access`, and callbacks directly (`if _ui.gate() is None: return`).
    The session token (this tab's, or the browser's cookie) is resolved to the person on every
    call and their current role is checked. A session that ended (logout in another tab, idle,
    12 hours), or an account that was deleted, demoted or deactivated, or whose organization is
    gone, is logged out here, so the next script run shows the login page and says why.
    """
    token = _token()
    resolution = sessions.resolve(engine(), token)
    who = resolution.principal
    if who is None:
        was_signed_in = principal() is not None or token is not None
        if was_signed_in:
            _forget(clear_cookie=token is not None)
            if resolution.end in SESSION_ENDED:
                st.session_state[LOGGED_OUT_KEY] = resolution.end
            elif resolution.end is SessionEnd.ACCOUNT_GONE:
                st.session_state[LOGGED_OUT_KEY] = Access.ACCOUNT_GONE
        return _sso_sign_in(resolution.ended_at)
    access = current_access(engine(), who)
    if access is Access.ALLOWED:
        st.session_state[PRINCIPAL_KEY] = who
        st.session_state[TOKEN_KEY] = token
        st.session_state[SESSION_ID_KEY] = resolution.session_id
        st.session_state[METHOD_KEY] = resolution.method
        return who
    if resolution.session_id is not None:
        sessions.revoke(engine(), session_id=resolution.session_id)
    _forget(clear_cookie=True)
    st.session_state[LOGGED_OUT_KEY] = access
    return None


def require_access(role: PrincipalKind | None = None) -> Principal:
    """The gate for a page, fragment or dialog: call it first, before anything acts.

    Without access it reruns the whole app (the router then shows the login page), so
    the click that led here does nothing; a fragment's rerun would not reach the router.
    A person of another `role` sees whom the page is for, and nothing more.
    """
    who = gate()
    if who is None:
        st.rerun()
    assert who is not None
    if role is not None and who.kind != role:
        if role == "owner":
            st.info(OWNER_ONLY, icon=":material/lock:")
            st.caption("Ask an owner of your organization for the change you need.")
        else:
            st.info(STAFF_ONLY, icon=":material/lock:")
        st.stop()
    return who


def show_why_logged_out() -> None:
    """On the login page: why the gate logged this session out, once."""
    reason = st.session_state.pop(LOGGED_OUT_KEY, None)
    lines = ACCESS_LOST.get(reason) if isinstance(reason, Access) else None
    if isinstance(reason, SessionEnd):
        lines = SESSION_ENDED.get(reason)
    if lines is not None:
        message, hint = lines
        st.info(message, icon=":material/lock:")
        st.caption(hint)
    refused = st.session_state.pop(SSO_REFUSED_KEY, None)
    if isinstance(refused, LoginRefused):
        st.error(markdown_text(refused.message), icon=":material/block:")
        st.caption(refused.hint)


def flash(kind: str, text: str) -> None:
    """A message shown once, after the rerun that follows an action; plain text (shown escaped)."""
    st.session_state[FLASH_KEY] = (kind, text)


def show_flash() -> None:
    item = st.session_state.pop(FLASH_KEY, None)
    if not item:
        return
    kind, text = item
    {"success": st.success, "warning": st.warning, "error": st.error}.get(kind, st.info)(markdown_text(text))


def show_error(error: ErrorInfo, *, prefix: str = "") -> None:
    """An error's message (after our own `prefix`) shown as text: it may quote Personio. Hints are ours."""
    st.error(f"{prefix}{markdown_text(error.message)}", icon=":material/error:")
    st.info(error.hint, icon=":material/lightbulb:")


def when(moment: datetime | None, *, relative: bool = True) -> str:
    """`2025-11-25 04:00 UTC (in 3 h)`."""
    if moment is None:
        return "—"
    moment = as_utc(moment)
    text = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"{text} ({ago(moment)})" if relative else text


def now() -> datetime:
    """The current moment, aware UTC: the clock the pages stamp and compare times with."""
    return utcnow()


def ago(moment: datetime, *, now: datetime | None = None) -> str:
    seconds = int((as_utc(now or utcnow()) - as_utc(moment)).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        amount = f"{seconds} s"
    elif seconds < 3600:
        amount = f"{seconds // 60} min"
    elif seconds < 86400 * 2:
        amount = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        amount = f"{seconds // 86400} days"
    return f"in {amount}" if future else f"{amount} ago"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = max(0, int((as_utc(end) - as_utc(start)).total_seconds()))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min {seconds % 60} s"
