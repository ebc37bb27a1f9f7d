"""Avatar images as inline data URIs: initials on a colour taken from the email. No external URL."""

from __future__ import annotations

import base64
import hashlib
from html import escape

_COLOURS = ("#1f6feb", "#8250df", "#bf3989", "#cf222e", "#bc4c00", "#4d2d00", "#1a7f37", "#0969da", "#6639ba")
_AUTOMATIC_COLOUR = "#6e7781"


def initials(name: str, email: str = "") -> str:
    words = [w for w in name.replace(".", " ").split() if w and w[0].isalnum()]
    if len(words) >= 2:
        return (words[0][0] + words[-1][0]).upper()
    if words:
        return words[0][:2].upper()
    local = email.split("@", 1)[0]
    return (local[:2] or "?").upper()


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def avatar_uri(name: str, email: str) -> str:
    """A round avatar with the person's initials; the colour is stable for an email."""
    digest = hashlib.sha256(email.strip().lower().encode()).digest()
    colour = _COLOURS[digest[0] % len(_COLOURS)]
    text = escape(initials(name, email))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<circle cx="32" cy="32" r="32" fill="{colour}"/>'
        '<text x="32" y="41" font-family="Helvetica,Arial,sans-serif" font-size="26" '
        f'font-weight="600" fill="#ffffff" text-anchor="middle">{text}</text></svg>'
    )
    return _data_uri(svg)


def automatic_avatar_uri() -> str:
    """A clock: runs the scheduler started by itself."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<circle cx="32" cy="32" r="32" fill="{_AUTOMATIC_COLOUR}"/>'
        '<circle cx="32" cy="32" r="18" fill="none" stroke="#ffffff" stroke-width="4"/>'
        '<path d="M32 21v12l8 5" fill="none" stroke="#ffffff" stroke-width="4" stroke-linecap="round"/>'
        "</svg>"
    )
    return _data_uri(svg)
