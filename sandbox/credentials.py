"""API credentials and the bearer tokens `/v1/auth` hands out for them."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

TOKEN_LIFETIME = 86400  # seconds; Personio's stable tokens live 24 h
SCOPE = "employees:read"

# API v2 scopes a credential can be granted in Personio (Settings > Integrations > API credentials).
PERSONS_READ = "personio:persons:read"
EMPLOYMENTS_READ = "personio:employments:read"
WEBHOOKS_READ = "personio:webhooks:read"
WEBHOOKS_WRITE = "personio:webhooks:write"
V2_SCOPES: frozenset[str] = frozenset({PERSONS_READ, EMPLOYMENTS_READ, WEBHOOKS_READ, WEBHOOKS_WRITE})


@dataclass(frozen=True)
class Credential:
    """A client id/secret pair, the attributes its whitelist leaves out, whether it may read
    employees at all (without that access Personio signs it in but answers 403 on employees), and
    the API v2 scopes granted to it (every one unless told otherwise)."""

    client_id: str
    client_secret: str
    withheld: frozenset[str] = frozenset()
    employees_access: bool = True
    scopes: frozenset[str] = V2_SCOPES


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
    """Known credentials and live tokens. Not thread-safe: the caller holds the sandbox lock.

    Tokens that stopped working (expired and replaced, revoked, or issued before a reset: `retired`)
    are remembered, so a dead token can be told apart from one that was never issued.
    """

    def __init__(self, credentials: list[Credential], *, retired: Iterable[str] = ()) -> None:
        self.credentials: dict[str, Credential] = {c.client_id: c for c in credentials}
        self.tokens: dict[str, Token] = {}
        self.retired: set[str] = set(retired)
        self._current: dict[str, Token] = {}

    def check(self, client_id: str, client_secret: str) -> Credential | None:
        """The credential with this id and secret (compared in constant time), or None."""
        credential = self.credentials.get(client_id)
        if credential is None or not secrets.compare_digest(
            credential.client_secret.encode(), client_secret.encode()
        ):
            return None
        return credential

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
                self.retired.add(token.value)
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

    def issued(self, token_value: str) -> bool:
        """Whether this store (or one before a reset) ever handed out `token_value`."""
        return token_value in self.tokens or token_value in self.retired

    def every_issued(self) -> set[str]:
        """Every token value ever handed out, live or not (carried over a reset)."""
        return self.retired | set(self.tokens)

    def _revoke(self, client_id: str) -> None:
        token = self._current.pop(client_id, None)
        if token is not None:
            self.tokens.pop(token.value, None)
            self.retired.add(token.value)
