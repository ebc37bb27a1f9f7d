"""Encryption of secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from APP_SECRET_KEY, or else from a key file under the data
folder that is created on first use with mode 0600. APP_SECRET_KEY may be a
Fernet key or any passphrase (it is then stretched with SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from storage.config import DatabaseSettings, read
from sync.core.errors import ReadableError

KEY_FILE_NAME = "secret.key"


class SecretKeyMismatch(ReadableError):
    """A stored secret cannot be decrypted with the key in use."""

    default_code = "secret_key_mismatch"

    def __init__(self) -> None:
        super().__init__(
            "The stored Personio Client Secret cannot be decrypted with this server's key.",
            "APP_SECRET_KEY (or data/secret.key) changed since the secret was saved. Restore the "
            "previous key, or enter the Client Secret again on the Integration page.",
        )


def _fernet_key_from_text(text: str) -> bytes:
    raw = text.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def load_key(key_file: Path | None = None) -> bytes:
    """The Fernet key: APP_SECRET_KEY, else the key file (created 0600 if absent).

    Raises OSError when the key file cannot be read or created.
    """
    settings = read(DatabaseSettings)
    if settings.app_secret_key is not None:
        return _fernet_key_from_text(settings.app_secret_key.get_secret_value())
    path = key_file or settings.data_dir / KEY_FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
    return path.read_bytes().strip()


class SecretBox:
    """Encrypts and decrypts short strings such as API client secrets."""

    def __init__(self, key: bytes | None = None) -> None:
        self._fernet = Fernet(key or load_key())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretKeyMismatch() from exc
