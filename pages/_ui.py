"""Drawing helpers shared by the pages: the engine, who is logged in, times, errors, gates.

UI only: every read and write goes through `sync/`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from sqlalchemy import Engine

from storage.clock import utcnow
from storage.config import database_url
from storage.db import make_engine
from sync.accounts.login import Principal, still_allowed
from sync.core.errors import ErrorInfo
from sync.core.text import markdown_text

PRINCIPAL_KEY = "principal"
FLASH_KEY = "flash"
OWNER_ONLY = "Available for users with role Owner"


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


def require_principal() -> Principal:
    who = principal()
    if who is None:
        st.stop()
    assert who is not None
    return who


def require_owner() -> Principal:
    """The logged-in owner; anyone else sees that the page is for owners and nothing more."""
    who = require_principal()
    if not who.is_owner or who.org_id is None or not still_allowed(engine(), who):
        st.info(OWNER_ONLY, icon=":material/lock:")
        st.caption("Ask an owner of your organization for the change you need.")
        st.stop()
    return who


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


def as_utc(moment: datetime) -> datetime:
    """The database returns aware UTC; a naive value (older rows, other drivers) is UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(moment: datetime | None, *, relative: bool = True) -> str:
    """`2025-11-25 04:00 UTC (in 3 h)`."""
    if moment is None:
        return "—"
    moment = as_utc(moment)
    text = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"{text} ({ago(moment)})" if relative else text


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
