"""Outbox delivery to a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import make_engine, read_session, write_session
from storage.models import OutboxEmail
from sync.mail import delivery as mailer
from sync.mail.delivery import InvalidSmtpUrl, SmtpConfig, deliver_outbox, parse_smtp_url, retry_delay
from tests.support.smtp import SmtpTestServer, free_port


def add_email(
    engine: Engine, to: str, subject: str = "Hello", body: str = "Body\n", kind: str = "welcome"
) -> int:
    with write_session(engine) as session:
        row = OutboxEmail(to=to, subject=subject, body=body, kind=kind, created_at=utcnow())
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def outbox(engine: Engine) -> list[OutboxEmail]:
    with read_session(engine) as session:
        return list(session.exec(select(OutboxEmail).order_by(col(OutboxEmail.id))).all())


def unsent_messages(engine: Engine) -> list[OutboxEmail]:
    """Messages still in the outbox, oldest first."""
    with read_session(engine) as session:
        query = select(OutboxEmail).where(col(OutboxEmail.sent_at).is_(None)).order_by(col(OutboxEmail.id))
        return list(session.exec(query).all())


# --- SMTP_URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "starttls", "implicit_tls", "user", "password"),
    [
        ("smtp://mail.example.com:2525?insecure=1", "mail.example.com", 2525, False, False, None, None),
        ("smtp://mail.example.com?insecure=1", "mail.example.com", 25, False, False, None, None),
        ("smtp://localhost:1025", "localhost", 1025, False, False, None, None),
        ("smtp://u:p@mail.example.com:587?starttls=1", "mail.example.com", 587, True, False, "u", "p"),
        (
            "smtps://u%40x.de:p%3A%2Fw@mail.example.com",
            "mail.example.com",
            465,
            False,
            True,
            "u@x.de",
            "p:/w",
        ),
        ("smtp://127.0.0.1:1025?starttls=0", "127.0.0.1", 1025, False, False, None, None),
    ],
)
def test_smtp_url_is_parsed(
    url: str, host: str, port: int, starttls: bool, implicit_tls: bool, user: str | None, password: str | None
) -> None:
    config = parse_smtp_url(url)
    assert (config.host, config.port, config.starttls, config.implicit_tls) == (
        host,
        port,
        starttls,
        implicit_tls,
    )
    assert (config.username, config.password) == (user, password)
    assert config.sender == mailer.DEFAULT_FROM


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example.com", "smtp://"),
        ("smtp://:s3cret-pass@", "no host"),
        ("smtp://u:s3cret-pass@mail.example.com?tls=1", "unknown option"),
        ("smtps://u:s3cret-pass@mail.example.com?starttls=1", "TLS from the start"),
        ("smtp://u:s3cret-pass@mail.example.com:99999", "invalid port"),
        # another machine without TLS: the password and every email would cross the network in clear
        ("smtp://u:s3cret-pass@mail.example.com:25", "in clear"),
        ("smtp://u:s3cret-pass@10.1.2.3", "in clear"),
    ],
)
def test_an_unusable_smtp_url_is_refused_without_showing_the_password(url: str, reason: str) -> None:
    with pytest.raises(InvalidSmtpUrl, match=reason) as caught:
        parse_smtp_url(url)
    assert "s3cret-pass" not in str(caught.value)


def test_a_password_is_not_part_of_the_config_repr_or_display() -> None:
    config = parse_smtp_url("smtp://user:s3cret-pass@mail.example.com:587?starttls=1")
    assert "s3cret-pass" not in repr(config)
    assert config.display == "smtp://user@mail.example.com:587?starttls=1"


def test_smtp_from_must_be_an_address() -> None:
    with pytest.raises(InvalidSmtpUrl, match="SMTP_FROM"):
        parse_smtp_url("smtp://localhost:25", sender="Personio Sync")
    assert parse_smtp_url("smtp://localhost:25", sender="Sync <sync@acme.de>").sender == "Sync <sync@acme.de>"


def test_no_smtp_url_means_no_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMTP_URL", raising=False)
    assert mailer.smtp_config_from_env() is None


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (50, 1800), (0, 30)]
)
def test_retries_back_off_exponentially_up_to_thirty_minutes(attempts: int, seconds: int) -> None:
    assert retry_delay(attempts) == timedelta(seconds=seconds)


# --- delivery ----------------------------------------------------------------------------


def test_due_messages_are_delivered_once_and_leave_the_outbox(
    engine: Engine, smtp_server: SmtpTestServer
) -> None:
    for n in range(3):
        add_email(engine, f"user{n}@acme.example", subject=f"Message {n}")
    config = parse_smtp_url(smtp_server.url)

    report = deliver_outbox(engine, config)
    again = deliver_outbox(engine, config)

    assert (report.sent, report.failed) == (3, 0)
    assert (again.sent, again.failed) == (0, 0)
    assert sorted(m.subject for m in smtp_server.messages) == ["Message 0", "Message 1", "Message 2"]
    rows = outbox(engine)
    assert all(row.sent_at is not None and row.attempts == 1 and row.last_error is None for row in rows)


def test_german_umlauts_arrive_intact_in_subject_and_body(
    engine: Engine, smtp_server: SmtpTestServer
) -> None:
    subject = "Willkommen bei Müller & Söhne: Grüße"
    body = "Hallo Jörg,\n\nÄnderungen übernimmt die Plattform aus Personio. Schöne Grüße!\n"
    add_email(engine, "joerg@mueller.example", subject=subject, body=body)

    deliver_outbox(engine, parse_smtp_url(smtp_server.url, sender="Personio Sync <sync@mueller.example>"))

    [received] = smtp_server.messages
    assert received.subject == subject
    assert received.body == body
    assert received.mail_from == "sync@mueller.example"
    assert received.recipients == ("joerg@mueller.example",)
    assert received.message.get_content_charset() == "utf-8"


def test_each_message_has_a_stable_message_id(engine: Engine, smtp_server: SmtpTestServer) -> None:
    first = add_email(engine, "a@acme.example")
    second = add_email(engine, "b@acme.example")
    deliver_outbox(engine, parse_smtp_url(smtp_server.url))
    ids = {m.recipients[0]: m.message_id for m in smtp_server.messages}
    assert ids["a@acme.example"].startswith(f"<outbox-{first}.")
    assert ids["b@acme.example"].startswith(f"<outbox-{second}.")


def test_a_server_that_is_down_is_retried_with_backoff_until_it_takes_the_message(engine: Engine) -> None:
    server = SmtpTestServer()  # not started: the port refuses connections
    message_id = add_email(engine, "owner@acme.example")
    config = parse_smtp_url(server.url)
    start = utcnow()

    def at(seconds: int) -> Callable[[], datetime]:
        return lambda: start + timedelta(seconds=seconds)

    down = deliver_outbox(engine, config, clock=at(0))
    [row] = outbox(engine)
    assert (down.sent, down.failed) == (0, 1)
    assert row.sent_at is None and row.attempts == 1
    assert row.last_error is not None and "connection refused" in row.last_error
    assert row.next_attempt_at == start + timedelta(seconds=30)

    # Not due yet: nothing is attempted, the attempt count stays.
    assert deliver_outbox(engine, config, clock=at(29)) == mailer.DeliveryReport()
    assert outbox(engine)[0].attempts == 1

    second = deliver_outbox(engine, config, clock=at(30))
    assert second.failed == 1
    [row] = outbox(engine)
    assert row.attempts == 2
    assert row.next_attempt_at == start + timedelta(seconds=30 + 60)

    server.start()
    try:
        delivered = deliver_outbox(engine, config, clock=at(90))
        assert delivered.sent == 1
        assert [m.message_id.split(".")[0] for m in server.messages] == [f"<outbox-{message_id}"]
        [row] = outbox(engine)
        assert row.sent_at is not None and row.attempts == 3 and row.last_error is None
    finally:
        server.stop()


def test_a_refused_recipient_does_not_hold_up_the_other_messages(
    engine: Engine, smtp_server: SmtpTestServer
) -> None:
    smtp_server.refuse_recipient("gone@acme.example")
    add_email(engine, "gone@acme.example")
    add_email(engine, "here@acme.example")

    report = deliver_outbox(engine, parse_smtp_url(smtp_server.url))

    assert (report.sent, report.failed) == (1, 1)
    assert [m.recipients for m in smtp_server.messages] == [("here@acme.example",)]
    gone, here = outbox(engine)
    assert gone.sent_at is None and gone.last_error is not None and "550" in gone.last_error
    assert here.sent_at is not None


# AUTH over plain text is what the loopback test server is for.
AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@AUTH_WITHOUT_TLS
def test_login_with_the_right_password_delivers(engine: Engine) -> None:
    server = SmtpTestServer(login=("mailer", "pässwörd-1"))
    server.start()
    try:
        add_email(engine, "owner@acme.example")
        config = parse_smtp_url(f"smtp://mailer:p%C3%A4ssw%C3%B6rd-1@{server.host}:{server.port}")
        assert deliver_outbox(engine, config).sent == 1
        assert len(server.messages) == 1
    finally:
        server.stop()


@AUTH_WITHOUT_TLS
def test_a_rejected_login_is_recorded_without_the_password(engine: Engine) -> None:
    server = SmtpTestServer(login=("mailer", "right-password"))
    server.start()
    try:
        add_email(engine, "owner@acme.example")
        config = parse_smtp_url(f"smtp://mailer:wrong-s3cret@{server.host}:{server.port}")
        report = deliver_outbox(engine, config)
        assert report.failed == 1 and server.messages == []
        [row] = outbox(engine)
        assert row.last_error is not None
        assert "user name or password" in row.last_error
        assert "wrong-s3cret" not in row.last_error
        assert all("wrong-s3cret" not in error for error in report.errors)
    finally:
        server.stop()


def test_a_password_never_reaches_last_error_when_the_server_is_unreachable(engine: Engine) -> None:
    add_email(engine, "owner@acme.example")
    config = parse_smtp_url(f"smtp://mailer:s3cret-pass@127.0.0.1:{free_port()}")
    deliver_outbox(engine, config)
    [row] = outbox(engine)
    assert row.last_error is not None and "s3cret-pass" not in row.last_error
    assert "mailer@127.0.0.1" in row.last_error


def test_two_concurrent_deliverers_never_send_a_message_twice(
    engine: Engine, database: str, smtp_server: SmtpTestServer
) -> None:
    for n in range(40):
        add_email(engine, f"user{n}@acme.example")
    config = parse_smtp_url(smtp_server.url)
    engines = [make_engine(database) for _ in range(2)]  # str(engine.url) hides the password
    reports: list[mailer.DeliveryReport] = []
    barrier = threading.Barrier(2)

    def deliver(own: Engine) -> None:
        barrier.wait()
        while (report := deliver_outbox(own, config, limit=5)).sent:
            reports.append(report)

    threads = [threading.Thread(target=deliver, args=(own,)) for own in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for own in engines:
        own.dispose()

    recipients = [m.recipients[0] for m in smtp_server.messages]
    assert sorted(recipients) == sorted(f"user{n}@acme.example" for n in range(40))
    assert sum(r.sent for r in reports) == 40
    assert all(row.sent_at is not None for row in outbox(engine))


def test_a_claimed_message_is_not_sent_by_another_process_until_the_claim_expires(engine: Engine) -> None:
    add_email(engine, "owner@acme.example")
    now = utcnow()
    [claimed] = mailer.claim_due_messages(engine, now=now)
    assert mailer.claim_due_messages(engine, now=now) == []
    assert mailer.claim_due_messages(engine, now=now + timedelta(seconds=mailer.CLAIM_SECONDS + 1)) != []
    assert claimed.to == "owner@acme.example"


def test_a_message_claimed_by_a_dead_process_is_sent_by_another_after_at_most_a_minute(
    engine: Engine, smtp_server: SmtpTestServer
) -> None:
    add_email(engine, "owner@acme.example")
    claimed_at = utcnow()
    assert mailer.claim_due_messages(engine, now=claimed_at) != []  # ... and then the process died
    config = parse_smtp_url(smtp_server.url)

    assert deliver_outbox(engine, config, clock=lambda: claimed_at + timedelta(seconds=59)).sent == 0
    report = deliver_outbox(engine, config, clock=lambda: claimed_at + timedelta(seconds=61))

    assert report.sent == 1 and [m.recipients[0] for m in smtp_server.messages] == ["owner@acme.example"]
    assert unsent_messages(engine) == []


def test_a_message_whose_claim_was_taken_over_is_not_renewed_by_the_slow_process(engine: Engine) -> None:
    add_email(engine, "owner@acme.example")
    now = utcnow()
    [slow] = mailer.claim_due_messages(engine, now=now)
    later = now + timedelta(seconds=mailer.CLAIM_SECONDS + 1)
    [taken] = mailer.claim_due_messages(engine, now=later)  # the slow claim ran out: another took it
    assert taken.id == slow.id

    assert mailer._renew_claim(engine, slow, later) is False
    assert mailer._renew_claim(engine, taken, later) is True


def test_unsent_messages_lists_what_waits(engine: Engine, smtp_server: SmtpTestServer) -> None:
    add_email(engine, "a@acme.example")
    deliver_outbox(engine, parse_smtp_url(smtp_server.url))
    add_email(engine, "b@acme.example")
    assert [m.to for m in unsent_messages(engine)] == ["b@acme.example"]


def test_smtp_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_URL", "smtp://localhost:2525")
    monkeypatch.setenv("SMTP_FROM", "Sync <sync@acme.example>")
    monkeypatch.setenv("SMTP_RETRY_BASE_SECONDS", "2")
    monkeypatch.setenv("SMTP_RETRY_MAX_SECONDS", "8")
    config = mailer.smtp_config_from_env()
    assert isinstance(config, SmtpConfig)
    assert (config.port, config.sender, config.retry_base_seconds, config.retry_max_seconds) == (
        2525,
        "Sync <sync@acme.example>",
        2,
        8,
    )
    monkeypatch.setenv("SMTP_RETRY_BASE_SECONDS", "soon")
    with pytest.raises(InvalidSmtpUrl, match="SMTP_RETRY_BASE_SECONDS"):
        mailer.smtp_config_from_env()


def test_a_server_that_is_down_is_logged_once_per_batch_with_a_count(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(7):
        add_email(engine, f"user{n}@acme.example")
    config = parse_smtp_url(f"smtp://127.0.0.1:{free_port()}")  # nothing listens there

    with caplog.at_level("WARNING", logger="sync.mailer"):
        report = deliver_outbox(engine, config)

    assert report.failed == 7
    [line] = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert line.startswith("7 emails not sent (ids ") and "connection refused" in line
    assert all(row.attempts == 1 and row.sent_at is None for row in outbox(engine))


def test_different_errors_of_one_batch_get_a_line_each(
    engine: Engine, smtp_server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.refuse_recipient("gone@acme.example")
    add_email(engine, "gone@acme.example")
    add_email(engine, "here@acme.example")

    with caplog.at_level("WARNING", logger="sync.mailer"):
        report = deliver_outbox(engine, parse_smtp_url(smtp_server.url))

    assert (report.sent, report.failed) == (1, 1)
    [line] = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert "to gone@acme.example not sent (attempt 1)" in line and "550" in line
