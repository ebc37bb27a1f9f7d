"""Drawing helpers shared by the pages: the engine, who is logged in, times, errors, gates.

UI only: every read and write goes through `sync/`.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st
from sqlalchemy import Engine

from storage.clock import utcnow
from storage.config import database_url
from storage.db import make_engine
from sync.accounts.login import Access, Principal, PrincipalKind, current_access
from sync.core.errors import ErrorInfo
from sync.core.text import markdown_text
from sync.views.times import as_utc

PRINCIPAL_KEY = "principal"
FLASH_KEY = "flash"
LOGGED_OUT_KEY = "logged_out_because"
OWNER_ONLY = "Available for users with role Owner"
STAFF_ONLY = "This page is for support staff."
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


def log_in(who: Principal) -> None:
    st.session_state[PRINCIPAL_KEY] = who


def log_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def gate() -> Principal | None:
    """The session's Principal while the database still lets it in, else None (logged out).

    The one access check: the router calls it on every rerun, pages, fragments and dialogs
    through `require_access`, and callbacks directly (`if _ui.gate() is None: return`).
    An account that was deleted, demoted or deactivated, or whose organization is gone,
    is logged out here, so the next script run shows the login page and says why.
    """
    who = principal()
    if who is None:
        return None
    access = current_access(engine(), who)
    if access is Access.ALLOWED:
        return who
    log_out()
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
    access = st.session_state.pop(LOGGED_OUT_KEY, None)
    if access in ACCESS_LOST:
        message, hint = ACCESS_LOST[access]
        st.info(message, icon=":material/lock:")
        st.caption(hint)


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
