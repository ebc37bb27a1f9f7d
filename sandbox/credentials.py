"""API credentials and the bearer tokens `/v1/auth` hands out for them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

TOKEN_LIFETIME = 86400  # seconds; Personio's stable tokens live 24 h
SCOPE = "employees:read"


@dataclass(frozen=True)
class Credential:
    """A client id/secret pair and the attributes its whitelist leaves out."""

    client_id: str
    client_secret: str
    withheld: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Token:
    """A `papi-` bearer token issued to one credential at `issued_at` (wall-clock seconds)."""

    value: str
    client_id: str
    issued_at: float

    def expired(self, now: float) -> bool:
        """Whether the 24 hours are over at `now`."""
        return now >= self.issued_at + TOKEN_LIFETIME


class CredentialStore:
    """Known credentials and live tokens. Not thread-safe: the caller holds the sandbox lock."""

    def __init__(self, credentials: list[Credential]) -> None:
        self.credentials: dict[str, Credential] = {c.client_id: c for c in credentials}
        self.tokens: dict[str, Token] = {}
        self._current: dict[str, Token] = {}

    def add(self, credential: Credential) -> None:
        """Add or replace a credential; a replaced one's tokens stop working."""
        self._revoke(credential.client_id)
        self.credentials[credential.client_id] = credential

    def authenticate(self, client_id: str, client_secret: str, now: float) -> Token | None:
        """The token for these credentials, or None when they are wrong.

        Within 24 hours the same pair gets the same token back (Personio's "stable token").
        """
        credential = self.credentials.get(client_id)
        if credential is None or not secrets.compare_digest(credential.client_secret, client_secret):
            return None
        token = self._current.get(client_id)
        if token is None or token.expired(now):
            if token is not None:
                del self.tokens[token.value]
            token = Token(value=f"papi-{secrets.token_urlsafe(64)}", client_id=client_id, issued_at=now)
            self.tokens[token.value] = token
            self._current[client_id] = token
        return token

    def holder(self, token_value: str, now: float) -> Credential | None:
        """The credential a live token belongs to; None for unknown, expired or revoked tokens."""
        token = self.tokens.get(token_value)
        if token is None or token.expired(now):
            return None
        return self.credentials.get(token.client_id)

    def _revoke(self, client_id: str) -> None:
        token = self._current.pop(client_id, None)
        if token is not None:
            self.tokens.pop(token.value, None)
