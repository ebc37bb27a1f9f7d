"""Delivery of the outbox to an SMTP server.

A message leaves the outbox (gets `sent_at`) only after the server accepted it. Failed
attempts are retried with exponential backoff. Rows are claimed before sending, by moving
`next_attempt_at` ahead in a write transaction with a conditional update, so two
schedulers never send the same message; a process that dies while sending leaves its
claim to expire, and the message is tried again.

`SMTP_URL` is `smtp://[user:pass@]host[:port][?starttls=1]` or `smtps://...` (implicit
TLS); `SMTP_FROM` is the sender (default `Personio Sync <no-reply@localhost>`).
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import Engine, or_, update
from sqlmodel import col, select

from storage.clock import utcnow
from storage.config import (
    DEFAULT_SMTP_RETRY_BASE_SECONDS,
    DEFAULT_SMTP_RETRY_MAX_SECONDS,
    InvalidSmtpUrl,
    SmtpSettings,
    read,
)
from storage.db import write_session
from storage.models import OutboxEmail
from storage.timestamps import ts

log = logging.getLogger("sync.mailer")

DEFAULT_FROM = "Personio Sync <no-reply@localhost>"
DEFAULT_TIMEOUT_SECONDS = 20.0
RETRY_BASE_SECONDS = DEFAULT_SMTP_RETRY_BASE_SECONDS
RETRY_MAX_SECONDS = DEFAULT_SMTP_RETRY_MAX_SECONDS
BATCH_SIZE = 50
# How long a claimed message is reserved for the process sending it: a message claimed by a
# process that died is tried again after this. The sender renews the claim of each message
# just before sending it, so a slow batch does not let a second scheduler send it as well.
CLAIM_SECONDS = 60
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to deliver email. `password` is never part of `repr` or any message."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_FROM
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry_base_seconds: int = RETRY_BASE_SECONDS
    retry_max_seconds: int = RETRY_MAX_SECONDS

    @property
    def display(self) -> str:
        """The server for log lines: scheme, user and host, never the password."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        tls = "?starttls=1" if self.starttls else ""
        return f"{scheme}://{user}{self.host}:{self.port}{tls}"


def parse_smtp_url(
    url: str,
    *,
    sender: str | None = None,
    retry_base_seconds: int = RETRY_BASE_SECONDS,
    retry_max_seconds: int = RETRY_MAX_SECONDS,
) -> SmtpConfig:
    """Parse `smtp://[user:pass@]host[:port][?starttls=1]` or `smtps://...`. Raises InvalidSmtpUrl."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        # urlsplit's own message may quote the URL, password included: say only what is wrong.
        raise InvalidSmtpUrl("SMTP_URL has an invalid port; use smtp://host:port.") from exc
    if parts.scheme not in ("smtp", "smtps"):
        raise InvalidSmtpUrl("SMTP_URL must start with smtp:// or smtps://.")
    if not parts.hostname:
        raise InvalidSmtpUrl("SMTP_URL has no host; use smtp://[user:pass@]host:port.")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"starttls", "insecure"})
    if unknown:
        raise InvalidSmtpUrl(
            f"SMTP_URL has an unknown option {unknown[0]!r}; only starttls=1 and insecure=1 are known."
        )
    implicit_tls = parts.scheme == "smtps"
    starttls = query.get("starttls", "0").lower() in _TRUE
    if implicit_tls and starttls:
        raise InvalidSmtpUrl("SMTP_URL: smtps:// is TLS from the start; starttls=1 makes no sense with it.")
    if (
        not (implicit_tls or starttls or _is_loopback(parts.hostname))
        and query.get("insecure", "0").lower() not in _TRUE
    ):
        # Without TLS the password and every email (names, addresses) cross the network in clear.
        raise InvalidSmtpUrl(
            "SMTP_URL: smtp:// to another machine without STARTTLS would send the password and every "
            "email in clear. Use smtps://, add ?starttls=1, or (knowingly) ?insecure=1."
        )
    sender = (sender or "").strip() or DEFAULT_FROM
    addresses = getaddresses([sender])
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        raise InvalidSmtpUrl(f"SMTP_FROM {sender!r} is not an email address.")
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        sender=sender,
        retry_base_seconds=max(1, retry_base_seconds),
        retry_max_seconds=max(1, retry_max_seconds),
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def smtp_config_from_env() -> SmtpConfig | None:
    """The SMTP settings from SMTP_URL / SMTP_FROM; None when SMTP_URL is unset.

    SMTP_RETRY_BASE_SECONDS / SMTP_RETRY_MAX_SECONDS tune the backoff (default 30 s and
    30 min). Raises InvalidSmtpUrl for a value that cannot be used.
    """
    settings = read(SmtpSettings)
    url = settings.smtp_url.get_secret_value().strip() if settings.smtp_url is not None else ""
    if not url:
        return None
    return parse_smtp_url(
        url,
        sender=settings.smtp_from,
        retry_base_seconds=settings.smtp_retry_base_seconds,
        retry_max_seconds=settings.smtp_retry_max_seconds,
    )


def retry_delay(
    attempts: int, *, base_seconds: int = RETRY_BASE_SECONDS, max_seconds: int = RETRY_MAX_SECONDS
) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: base, 2x base, 4x base ... capped."""
    exponent = min(max(attempts, 1) - 1, 30)  # the cap applies long before 2**30
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Claimed:
    id: int
    to: str
    subject: str
    body: str
    created_at: datetime
    attempts: int
    claimed_until: datetime


def claim_due_messages(
    engine: Engine, *, now: datetime, limit: int = BATCH_SIZE, claim_seconds: int = CLAIM_SECONDS
) -> list[_Claimed]:
    """Reserve up to `limit` unsent messages that are due, for this process alone."""
    claimed: list[_Claimed] = []
    with write_session(engine) as session:
        due = session.exec(
            select(OutboxEmail)
            .where(
                col(OutboxEmail.sent_at).is_(None),
                or_(
                    col(OutboxEmail.next_attempt_at).is_(None),
                    ts(col(OutboxEmail.next_attempt_at)) <= ts(now),
                ),
            )
            .order_by(col(OutboxEmail.id))
            .limit(limit)
        ).all()
        for row in due:
            # Conditional: on PostgreSQL a concurrent claimer blocks on the row, then finds the
            # condition false; on SQLite BEGIN IMMEDIATE already serializes the claimers.
            result = session.execute(
                update(OutboxEmail)
                .where(
                    col(OutboxEmail.id) == row.id,
                    col(OutboxEmail.sent_at).is_(None),
                    or_(
                        col(OutboxEmail.next_attempt_at).is_(None),
                        ts(col(OutboxEmail.next_attempt_at)) <= ts(now),
                    ),
                )
                .values(next_attempt_at=now + timedelta(seconds=claim_seconds))
            )
            if getattr(result, "rowcount", 0) == 1 and row.id is not None:
                claimed.append(
                    _Claimed(
                        id=row.id,
                        to=row.to,
                        subject=row.subject,
                        body=row.body,
                        created_at=row.created_at,
                        attempts=row.attempts,
                        claimed_until=now + timedelta(seconds=claim_seconds),
                    )
                )
    return claimed


def build_message(
    *, message_id: int, to: str, subject: str, body: str, sender: str, created_at: datetime
) -> EmailMessage:
    """The MIME message for one outbox row: UTF-8 text, a stable Message-ID per row."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(created_at.replace(tzinfo=UTC))
    domain = _sender_domain(sender)
    # Stable per outbox row: should a message be retried after the server took it but before
    # we recorded that (a crash in between), receiving systems can recognise the duplicate.
    message["Message-ID"] = (
        f"<outbox-{message_id}.{int(created_at.replace(tzinfo=UTC).timestamp())}@{domain}>"
    )
    message.set_content(body, charset="utf-8")
    return message


def _sender_domain(sender: str) -> str:
    addresses = getaddresses([sender])
    domain = addresses[0][1].rpartition("@")[2] if addresses else ""
    return domain or "localhost"


def describe_error(exc: BaseException, config: SmtpConfig) -> str:
    """A short, secret-free description of a delivery failure, for `last_error` and the log."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = ", ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())
        detail = f"the server refused the recipient ({codes})"
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        detail = f"the server rejected the user name or password ({exc.smtp_code})"
    elif isinstance(exc, smtplib.SMTPResponseException):
        detail = f"the server answered {exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        detail = "the server closed the connection"
    elif isinstance(exc, ConnectionRefusedError):
        detail = "connection refused (is the mail server running?)"
    elif isinstance(exc, TimeoutError | socket.timeout):
        detail = "the server did not answer in time"
    elif isinstance(exc, socket.gaierror):
        detail = "the host name could not be resolved"
    elif isinstance(exc, ssl.SSLError):
        detail = f"TLS failed ({exc.reason or type(exc).__name__})"
    elif isinstance(exc, OSError):
        detail = exc.strerror or type(exc).__name__
    else:
        detail = type(exc).__name__
    text = f"{config.display}: {detail}"
    if config.password:
        text = text.replace(config.password, "***")
    return text[:500]


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)).strip()


SmtpFactory = Callable[[SmtpConfig], smtplib.SMTP]


def connect(config: SmtpConfig) -> smtplib.SMTP:
    """An SMTP connection, TLS and login done as the config asks. Raises OSError / SMTPException."""
    if config.implicit_tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout_seconds, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
    try:
        client.ehlo()
        if config.starttls:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if config.username:
            _login(client, config.username, config.password or "")
    except BaseException:
        _close(client)
        raise
    return client


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    if (username + password).isascii():
        client.login(username, password)
        return
    # smtplib encodes credentials as ASCII; AUTH PLAIN (RFC 4616) carries UTF-8, so a
    # password with umlauts goes that way.
    if "plain" not in client.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPAuthenticationError(
            504, b"the server offers no AUTH PLAIN for a non-ASCII password"
        )
    token = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode("ascii")
    code, reply = client.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


# Failures of one message; anything else (connection lost, refused, timeout) ends the batch.
_PER_MESSAGE_ERRORS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
    UnicodeError,
    ValueError,
)


def deliver_outbox(
    engine: Engine,
    config: SmtpConfig,
    *,
    limit: int = BATCH_SIZE,
    smtp_factory: SmtpFactory = connect,
    clock: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send the due messages of the outbox (at most `limit`) over one connection.

    Never raises for delivery problems: each failed message gets `attempts + 1`,
    `last_error` and a later `next_attempt_at`. Database errors propagate. `clock` gives
    the current time (tests move it instead of waiting).
    """
    batch = claim_due_messages(engine, now=clock(), limit=limit)
    if not batch:
        return DeliveryReport()
    sent = 0
    failures: list[tuple[_Claimed, str]] = []
    client: smtplib.SMTP | None = None

    def fail(items: Sequence[_Claimed], exc: BaseException) -> None:
        error = describe_error(exc, config)
        for item in items:
            failures.append((item, error))
            _record_failure(engine, item, error, config, clock())

    try:
        for index, item in enumerate(batch):
            try:
                if client is None:
                    client = smtp_factory(config)
            except (OSError, smtplib.SMTPException) as exc:
                fail(batch[index:], exc)  # unreachable, TLS or login failed: the whole rest waits
                break
            if not _renew_claim(engine, item, clock()):
                continue  # our claim ran out and another process took the message
            try:
                message = build_message(
                    message_id=item.id,
                    to=item.to,
                    subject=item.subject,
                    body=item.body,
                    sender=config.sender,
                    created_at=item.created_at,
                )
                client.send_message(message)
            except _PER_MESSAGE_ERRORS as exc:
                fail([item], exc)  # this message only; the session is still usable
                continue
            except (OSError, smtplib.SMTPException) as exc:
                fail(batch[index:], exc)  # the session broke
                client.close()
                client = None
                break
            # Recorded at once, message by message, so a crash loses as little as possible.
            _record_sent(engine, item, clock())
            sent += 1
    finally:
        if client is not None:
            _close(client)
    for line in failure_summary(failures):
        log.warning("%s", line)
    return DeliveryReport(sent=sent, failed=len(failures), errors=tuple(error for _, error in failures))


def _renew_claim(engine: Engine, item: _Claimed, now: datetime) -> bool:
    """Reserve `item` for CLAIM_SECONDS from now, right before sending it; False when it is not ours."""
    with write_session(engine) as session:
        result = session.execute(
            update(OutboxEmail)
            .where(
                col(OutboxEmail.id) == item.id,
                col(OutboxEmail.sent_at).is_(None),
                ts(col(OutboxEmail.next_attempt_at)) == ts(item.claimed_until),
            )
            .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
        )
        return getattr(result, "rowcount", 0) == 1


def failure_summary(failures: Sequence[tuple[_Claimed, str]]) -> list[str]:
    """One log line per distinct error of a batch, with how many messages it held back.

    A server that is down fails every message of the batch the same way: one line, not fifty.
    """
    by_error: dict[str, list[_Claimed]] = {}
    for item, error in failures:
        by_error.setdefault(error, []).append(item)
    lines = []
    for error, items in by_error.items():
        first = items[0]
        if len(items) == 1:
            lines.append(f"email {first.id} to {first.to} not sent (attempt {first.attempts + 1}): {error}")
        else:
            ids = ", ".join(str(item.id) for item in items[:5]) + (", ..." if len(items) > 5 else "")
            lines.append(f"{len(items)} emails not sent (ids {ids}): {error}")
    return lines


def _record_sent(engine: Engine, item: _Claimed, now: datetime) -> None:
    with write_session(engine) as session:
        session.execute(
            update(OutboxEmail)
            .where(col(OutboxEmail.id) == item.id, col(OutboxEmail.sent_at).is_(None))
            .values(sent_at=now, attempts=item.attempts + 1, last_error=None, next_attempt_at=None)
        )


def _record_failure(engine: Engine, item: _Claimed, error: str, config: SmtpConfig, now: datetime) -> None:
    attempts = item.attempts + 1
    delay = retry_delay(
        attempts, base_seconds=config.retry_base_seconds, max_seconds=config.retry_max_seconds
    )
    with write_session(engine) as session:
        session.execute(
            update(OutboxEmail)
            .where(col(OutboxEmail.id) == item.id, col(OutboxEmail.sent_at).is_(None))
            .values(attempts=attempts, last_error=error, next_attempt_at=now + delay)
        )
