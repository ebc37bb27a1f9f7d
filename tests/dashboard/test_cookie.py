"""The session cookie's script (screens/_cookie.py): what it sets, and that only a token gets in."""

from __future__ import annotations

import pytest

from screens._cookie import COOKIE_NAME, cookie_script


def test_the_script_sets_a_strict_cookie_on_the_app_path_and_secure_over_https() -> None:
    script = cookie_script("abc_DEF-123", max_age_seconds=43200, path="/sync")
    assert f"{COOKIE_NAME}=abc_DEF-123; Path=/sync; Max-Age=43200; SameSite=Strict" in script
    assert 'window.location.protocol === "https:"' in script and "; Secure" in script
    assert "HttpOnly" not in script  # a script cannot set it; the token alone is no identity


def test_clearing_sets_an_empty_value_that_expires_at_once() -> None:
    assert f"{COOKIE_NAME}=; Path=/; Max-Age=0; SameSite=Strict" in cookie_script(
        "", max_age_seconds=0, path="/"
    )


@pytest.mark.parametrize("value", ['x"; document.location="//evil', "a b", "</script>", "ä"])
def test_nothing_but_a_token_is_written_into_the_script(value: str) -> None:
    with pytest.raises(ValueError, match="url-safe"):
        cookie_script(value, max_age_seconds=10, path="/")
