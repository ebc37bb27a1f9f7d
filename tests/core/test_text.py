"""Text from Personio or a Personio server, shown as markdown or quoted in a message."""

from __future__ import annotations

import re

import pytest

from sync.core.text import markdown_text, one_line, server_excerpt

WORD_JOINER = "\u2060"
LINK = "x` [link](https://evil.example) `y"
IMAGE = "Olga ![pixel](https://evil.example/track.png)"
BOLD_LINK_IMAGE = "**Urgent** [reset here](https://evil.example) ![t](https://evil.example/t.gif)"
PAYLOADS = [
    LINK,
    IMAGE,
    BOLD_LINK_IMAGE,
    "# Heading",
    "- list item",
    "1. numbered",
    "> quote",
    "<img src=https://evil.example/x.png>",
    "<a href='https://evil.example'>x</a>",
    "$\\LaTeX$ and $$x^2$$",
    ":material/warning: :smile: :red[alarm]",
    "a | table | row",
    "~~struck~~ _em_ __strong__",
    "https://evil.example www.evil.example mallory@evil.example",
    "back\\slash \\[",
]


def unescape(markdown: str) -> str:
    """What CommonMark shows for backslash escapes (and the joiners are invisible)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_text_shows_exactly_the_characters_it_was_given(payload: str) -> None:
    assert unescape(markdown_text(payload)) == payload


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_text_leaves_no_markdown_or_html_character_unescaped(payload: str) -> None:
    escaped = markdown_text(payload).replace(WORD_JOINER, "")
    # Every significant character is preceded by a backslash (which is itself escaped when literal).
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped)
    assert not re.search(r"[\\`*_\[\]()#+\-.!|<>~$:{}&@]", unescaped)


@pytest.mark.parametrize(
    "payload",
    ["https://evil.example", "www.evil.example", "mallory@evil.example", ":smile:", ":material/home:"],
)
def test_markdown_text_breaks_urls_emails_and_shortcodes_that_streamlit_links_after_parsing(
    payload: str,
) -> None:
    shown = markdown_text(payload).replace("\\", "")
    assert shown != payload
    assert shown.replace(WORD_JOINER, "") == payload


@pytest.mark.parametrize(
    ("payload", "visible"),
    [
        ("evil\u202egpj.exe", "evil<U+202E>gpj.exe"),
        ("a\u2066b\u2069", "a<U+2066>b<U+2069>"),
        ("rtl\u200f\u200e\u061c", "rtl<U+200F><U+200E><U+061C>"),
        ("bell\x07 esc\x1b[31m", "bell<U+0007> esc<U+001B>[31m"),
        ("c1\x85\x9b", "c1<U+0085><U+009B>"),
        ("two\nlines", "two<U+000A>lines"),
    ],
)
def test_markdown_text_shows_control_characters_instead_of_applying_them(payload: str, visible: str) -> None:
    escaped = markdown_text(payload)
    assert unescape(escaped) == visible
    assert not any(c in escaped for c in "\u202e\u2066\u2069\u200f\u200e\u061c\x07\x1b\x85\x9b\n")


def test_server_excerpt_is_short_one_line_without_controls_and_quoted() -> None:
    said = "Bad\x1b[2J request\u202e\n" + "x" * 300
    excerpt = server_excerpt(said)
    assert excerpt.startswith('"Bad [2J request ') and excerpt.endswith('…"')
    assert len(excerpt) <= 82
    assert not any(c in excerpt for c in "\x1b\u202e\n")


def test_server_excerpt_of_nothing_is_empty() -> None:
    assert server_excerpt(" \n\t ") == ""


def test_one_line_keeps_short_text_whole() -> None:
    assert one_line("  it says   success: false ", limit=80) == "it says success: false"
