"""A real SMTP server (aiosmtpd) on a free loopback port that records what it accepts.

`stop()` and `start()` simulate an outage: while stopped the port refuses connections,
and the server comes back on the same port, so an `SMTP_URL` stays valid.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword


@dataclass(frozen=True)
class ReceivedEmail:
    """One message as the server accepted it."""

    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        """The text body, with line ends as written (SMTP carries them as CRLF)."""
        part = self.message.get_body(("plain",))
        assert part is not None
        content = part.get_content()
        assert isinstance(content, str)
        return content.replace("\r\n", "\n")

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class _RecordingHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[ReceivedEmail] = []
        self.refused_recipients: set[str] = set()

    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        if address.lower() in self.refused_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        with self.lock:
            self.received.append(
                ReceivedEmail(
                    mail_from=str(envelope.mail_from),
                    recipients=tuple(str(r) for r in envelope.rcpt_tos),
                    raw=raw,
                )
            )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpTestServer:
    """aiosmtpd on 127.0.0.1:`port`, recording every accepted message.

    With `login=(user, password)` the server requires AUTH (over plain text: loopback only).
    """

    def __init__(self, port: int | None = None, *, login: tuple[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.login = login
        self._handler = _RecordingHandler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The SMTP_URL for this server (with the credentials when it requires AUTH)."""
        auth = f"{self.login[0]}:{self.login[1]}@" if self.login else ""
        return f"smtp://{auth}{self.host}:{self.port}"

    def refuse_recipient(self, address: str) -> None:
        """Answer 550 to RCPT TO for `address` (a permanent per-message failure)."""
        self._handler.refused_recipients.add(address.lower())

    def _authenticate(
        self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            self.login is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.login
        )
        # handled=False: aiosmtpd answers 235 or 535 itself
        return AuthResult(success=ok, handled=False)

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        auth: dict[str, Any] = {}
        if self.login is not None:
            auth = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        controller = Controller(
            self._handler, hostname=self.host, port=self.port, enable_SMTPUTF8=True, ready_timeout=10, **auth
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    @property
    def messages(self) -> list[ReceivedEmail]:
        """A snapshot of the messages accepted so far."""
        with self._handler.lock:
            return list(self._handler.received)

    def messages_to(self, address: str) -> list[ReceivedEmail]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.recipients)]


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """A running SMTP server on loopback; stopped after the test."""
    server = SmtpTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
