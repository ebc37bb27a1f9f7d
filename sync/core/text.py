"""Text that did not come from our own code, made safe to show: as markdown, or inside a message.

Pure (standard library only). Pages render every such string through `markdown_text`; error
messages keep only a `server_excerpt` of what a server said.
"""

from __future__ import annotations

import re

# Bidirectional controls reorder what a person reads ("evil.exe" shown as "exe.live"); they are
# shown, never applied. So are the other invisible format characters and the line separators.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u2028\u2029")
SERVER_EXCERPT_CHARS = 80

# The ASCII punctuation that is significant somewhere (links, images, emphasis, headings, lists,
# tables, HTML, entities, LaTeX, Streamlit's `:directive[...]` and `:material/icon:`). Quotes,
# `,;?%/=^` and the like mean nothing, so prose such as "the attribute 'email'" stays as it is.
SIGNIFICANT = "\\`*_[](){}#+-.!|<>~$:&@"
_PUNCTUATION = re.compile(f"([{re.escape(SIGNIFICANT)}])")
# Streamlit turns URLs, `www.` hosts, emails and `:shortcodes:` into links or emoji in the text
# *after* markdown parsing, so escapes alone do not stop them: an invisible word joiner does.
_WORD_JOINER = "\u2060"
_AFTER_COLON = re.compile(r"\\:")
_BEFORE_AT = re.compile(r"\\@")
_WWW_DOT = re.compile(r"(www)(\\\.)", re.IGNORECASE)


def is_control(char: str) -> bool:
    """C0 and C1 control characters, DEL, bidi controls and invisible format characters."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in BIDI_CONTROLS or char in INVISIBLE


def show_controls(text: str) -> str:
    """Each control character as a visible `<U+202E>` instead of its effect."""
    return "".join(f"<U+{ord(c):04X}>" if is_control(c) else c for c in text)


def markdown_text(text: object) -> str:
    """`text` as markdown that renders exactly these characters: no markup, links, images or icons.

    For any string that did not come from our own code (Personio data, names, server messages,
    stored errors). Control characters become visible (`<U+202E>`).
    """
    escaped = _PUNCTUATION.sub(r"\\\1", show_controls(str(text)))
    escaped = _AFTER_COLON.sub(lambda _: "\\:" + _WORD_JOINER, escaped)
    escaped = _BEFORE_AT.sub(lambda _: _WORD_JOINER + "\\@", escaped)
    return _WWW_DOT.sub(lambda m: m.group(1) + _WORD_JOINER + m.group(2), escaped)


def one_line(text: str, *, limit: int) -> str:
    """`text` without control characters, on one line, at most `limit` characters (then `…`)."""
    cleaned = " ".join("".join(" " if is_control(c) else c for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def server_excerpt(text: str, *, limit: int = SERVER_EXCERPT_CHARS) -> str:
    """What a server said, for a message: short, one line, no control characters, in quotes; or ""."""
    cleaned = one_line(text, limit=limit)
    return f'"{cleaned}"' if cleaned else ""
