"""The texts people are sent: welcome emails and owner notifications, in English and German."""

from __future__ import annotations

import pytest

from storage.clock import utcnow
from storage.models import Run
from sync.core.errors import AUTH_FAILED, SAFETY_STOP, ErrorInfo
from sync.mail import texts

AUTH_ERROR = ErrorInfo(
    code=AUTH_FAILED,
    message="Personio rejected the Client ID / Client Secret (401).",
    hint="Create new API credentials in Personio and save them on the Integration page.",
)
SAFETY_ERROR = ErrorInfo(
    code=SAFETY_STOP,
    message="The run would deactivate 40 of 120 active users (33 %), more than the threshold of 25 %.",
    hint="Check Personio, or approve this run if the deactivations are expected.",
)


def test_welcome_email_in_english_names_the_person_the_org_and_the_login() -> None:
    text = texts.welcome_message(language="en", first_name="Ada", org_name="Acme", email="ada@acme.example")
    assert text.language == "en"
    assert "Acme" in text.subject
    assert text.body.startswith("Hello Ada,")
    assert "ada@acme.example" in text.body and "Forgot password" in text.body


def test_welcome_email_in_german() -> None:
    text = texts.welcome_message(
        language="de", first_name="Jörg", org_name="Müller & Söhne", email="joerg@mueller.example"
    )
    assert text.language == "de"
    assert text.subject == "Willkommen bei Müller & Söhne auf der Lernplattform"
    assert text.body.startswith("Hallo Jörg,")
    assert "„Passwort vergessen?“" in text.body


@pytest.mark.parametrize("language", ["fr", "es", ""])
def test_languages_without_a_template_get_english(language: str) -> None:
    text = texts.welcome_message(language=language, first_name="", org_name="Acme", email="x@acme.example")
    assert text.language == "en"
    assert text.body.startswith("Hello x@acme.example,")  # no first name: the address


def _run(trigger: str = "automatic") -> Run:
    return Run(id=12, org_id=1, trigger=trigger, queued_at=utcnow().replace(hour=4, minute=0))


@pytest.mark.parametrize("language", ["en", "de"])
def test_failure_email_says_what_failed_why_what_to_do_and_where_to_look(language: str) -> None:
    text = texts.failure_message(
        language=language, org_name="Acme", run=_run(), error=AUTH_ERROR, would_deactivate=None
    )
    assert "Acme" in text.subject and "12" in text.subject
    assert AUTH_ERROR.message in text.body
    assert AUTH_ERROR.hint in text.body
    assert "Runs" in text.body and "12" in text.body
    assert "04:00 UTC" in text.body
    assert ("pausiert" if language == "de" else "paused") in text.body


@pytest.mark.parametrize(
    ("language", "phrase"), [("en", "deactivated 40 users"), ("de", "40 Benutzer deaktiviert")]
)
def test_safety_stop_email_names_how_many_users_would_have_been_deactivated(
    language: str, phrase: str
) -> None:
    text = texts.failure_message(
        language=language, org_name="Acme", run=_run(), error=SAFETY_ERROR, would_deactivate=40
    )
    assert ("Sicherheitsstopp" if language == "de" else "safety stop") in text.subject
    assert phrase in text.body
    assert SAFETY_ERROR.message in text.body
