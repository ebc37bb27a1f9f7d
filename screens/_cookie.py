"""The session cookie: read from the request (`st.context.cookies`), written by a few lines of JS.

Streamlit has no API to set a cookie, so `write` renders a script (`st.html`, no iframe) that sets
`document.cookie`: scoped to the app's path, `SameSite=Strict`, `Secure` when the page is served
over https, and not readable by other sites. The value is the session token only; it names no
person, role or organization. Script state is read once per browser connection, so a new value
is seen by the next page load; within a tab the token is also kept in the session state.
"""

from __future__ import annotations

import json
import re

import streamlit as st

COOKIE_NAME = "personio_sync_session"
# What a token looks like (url-safe base64); anything else is never written into the script.
_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def app_path() -> str:
    """The url path the app is served under (`server.baseUrlPath`), as a cookie Path."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else "/"


def cookie_script(value: str, *, max_age_seconds: int, path: str) -> str:
    """The script that sets (or, with max_age_seconds=0 and value "", clears) the session cookie."""
    if value and not _TOKEN_PATTERN.match(value):
        raise ValueError("a session token holds url-safe base64 characters only")
    attributes = f"; Path={path}; Max-Age={max(0, int(max_age_seconds))}; SameSite=Strict"
    return (
        "<script>(function () {"
        f"var c = {json.dumps(f'{COOKIE_NAME}={value}{attributes}')};"
        'if (window.location.protocol === "https:") { c += "; Secure"; }'
        "document.cookie = c;"
        "})();</script>"
    )


def read() -> str | None:
    """The session token this browser sent when it connected, if any."""
    value = st.context.cookies.get(COOKIE_NAME)
    return value if isinstance(value, str) and value else None


def write(token: str, *, max_age_seconds: int) -> None:
    st.html(
        cookie_script(token, max_age_seconds=max_age_seconds, path=app_path()), unsafe_allow_javascript=True
    )


def clear() -> None:
    st.html(cookie_script("", max_age_seconds=0, path=app_path()), unsafe_allow_javascript=True)
