"""The settings store: an integration's settings validated, saved, loaded and hashed.

`save_settings` is the only writer of settings; the Client Secret is encrypted before it
is stored. The values themselves (`SyncSettings` and its vocabulary) are `sync.core.settings`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage.clock import utcnow
from storage.config import allowed_personio_origins, personio_base_url
from storage.db import write_session
from storage.models import Integration
from storage.secrets import SecretBox, SecretKeyMismatch
from sync.core.errors import NOT_CONFIGURED, SyncError
from sync.core.settings import (
    LANGUAGES,
    TEAM_ATTRIBUTES,
    InvalidSettings,
    SyncSettings,
)
from sync.personio.errors import PERSONIO_ORIGIN, checked_base_url


def settings_of(integration: Integration) -> SyncSettings:
    ordered = tuple(a for a in TEAM_ATTRIBUTES if a in (integration.team_attributes or []))
    return SyncSettings(
        language=integration.language,
        sync_external=integration.sync_external,
        sync_job_title=integration.sync_job_title,
        team_attributes=ordered,
        safety_threshold_pct=integration.safety_threshold_pct,
    )


def settings_hash(integration: Integration) -> str:
    """A fingerprint of everything a Test checks; a passing Test is only valid for this hash."""
    material = {
        "client_id": integration.client_id,
        "secret_set_at": integration.secret_set_at.isoformat() if integration.secret_set_at else None,
        "base_url": integration.base_url,
        "settings": settings_of(integration).__dict__,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=list).encode()).hexdigest()


def is_tested(integration: Integration) -> bool:
    """True when the last passing Test covered exactly the settings as saved."""
    return integration.last_test_ok_at is not None and integration.last_test_settings_hash == settings_hash(
        integration
    )


def default_integration(org_id: int) -> Integration:
    """An organization's integration before anything was saved: inactive, the defaults. Not stored."""
    return Integration(org_id=org_id, base_url=personio_base_url(), updated_at=utcnow())


def get_integration(session: Session, org_id: int) -> Integration:
    """The organization's integration, created (inactive, defaults) on first use. Flushed, not committed."""
    integration = session.exec(select(Integration).where(Integration.org_id == org_id)).first()
    if integration is None:
        integration = default_integration(org_id)
        session.add(integration)
        session.flush()
    return integration


def save_settings(
    engine: Engine,
    org_id: int,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    base_url: str | None = None,
    language: str | None = None,
    sync_external: bool | None = None,
    sync_job_title: bool | None = None,
    team_attributes: list[str] | tuple[str, ...] | None = None,
    safety_threshold_pct: int | None = None,
) -> Integration:
    """Validate and store the given settings (None = leave as is). Raises InvalidSettings."""
    changes: dict[str, Any] = {}
    if client_id is not None:
        if not client_id.strip():
            raise InvalidSettings("The Client ID is empty. Paste the Client ID from Personio.")
        changes["client_id"] = client_id.strip()
    if base_url is not None:
        try:
            changes["base_url"], _host = checked_base_url(base_url, allowed_personio_origins())
        except SyncError as exc:
            raise InvalidSettings(f"{exc.message} {exc.hint}") from exc
    if language is not None:
        if language not in LANGUAGES:
            raise InvalidSettings(f"Unknown language {language!r}. Choose one of: {', '.join(LANGUAGES)}.")
        changes["language"] = language
    if sync_external is not None:
        changes["sync_external"] = sync_external
    if sync_job_title is not None:
        changes["sync_job_title"] = sync_job_title
    if team_attributes is not None:
        unknown = [a for a in team_attributes if a not in TEAM_ATTRIBUTES]
        if unknown:
            raise InvalidSettings(
                f"Unknown team attribute {unknown[0]!r}. Choose from: {', '.join(TEAM_ATTRIBUTES)}."
            )
        changes["team_attributes"] = [a for a in TEAM_ATTRIBUTES if a in team_attributes]
    if safety_threshold_pct is not None:
        if not 1 <= safety_threshold_pct <= 100:
            raise InvalidSettings("The safety threshold is a percentage between 1 and 100.")
        changes["safety_threshold_pct"] = safety_threshold_pct
    if client_secret is not None and not client_secret.strip():
        raise InvalidSettings("The Client Secret is empty. Paste the Client Secret from Personio.")
    _forget_webhook_if_credentials_change(engine, org_id, changes, client_secret)

    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        moved = "base_url" in changes and changes["base_url"] != integration.base_url
        for name, value in changes.items():
            setattr(integration, name, value)
        now = utcnow()
        if client_secret is not None:
            integration.client_secret_encrypted = seal_secret(client_secret.strip(), integration.base_url)
            integration.secret_set_at = now
        elif moved:
            # The secret belongs to the address it was entered for: a new address needs it again.
            integration.client_secret_encrypted = None
            integration.secret_set_at = None
        integration.updated_at = now
        session.add(integration)
    return integration


def _forget_webhook_if_credentials_change(
    engine: Engine, org_id: int, changes: dict[str, Any], client_secret: str | None
) -> None:
    """New credentials or a new address: the webhook registered with the old ones is deleted (with
    the old ones, before they are replaced) and near-real-time updates go off, saying why."""
    with write_session(engine) as session:
        before = get_integration(session, org_id)
    if not (before.near_real_time or before.webhook_id):
        return
    changed = (
        client_secret is not None
        or changes.get("client_id", before.client_id) != before.client_id
        or changes.get("base_url", before.base_url) != before.base_url
    )
    if changed:
        from sync.integration.near_real_time import CREDENTIALS_CHANGED, switch_off  # it uses this store

        switch_off(engine, org_id, because=CREDENTIALS_CHANGED, integration=before)


# A stored secret is sealed together with the origin it was entered for, so that a changed
# address (in the page, or in the database by hand) can never send it anywhere else.
_SEALED_FOR = "for "


def seal_secret(secret: str, origin: str) -> str:
    """The Client Secret encrypted together with the origin it may be sent to."""
    return SecretBox().encrypt(f"{_SEALED_FOR}{origin}\n{secret}")


def _unsealed(ciphertext: str, origin: str) -> str:
    plain = SecretBox().decrypt(ciphertext)
    if plain.startswith(_SEALED_FOR):
        saved_for, _, secret = plain[len(_SEALED_FOR) :].partition("\n")
    else:  # saved before secrets were sealed with their address: it was meant for Personio
        saved_for, secret = PERSONIO_ORIGIN, plain
    if saved_for != origin:
        raise SyncError(
            NOT_CONFIGURED,
            "The Client Secret was saved for another Personio API address than the one now set.",
            "Enter the Client Secret again on the Integration page (it is sent only to the address "
            "it was entered for).",
        )
    return secret


def credentials(integration: Integration) -> tuple[str, str]:
    """The Client ID and decrypted Client Secret. Raises SyncError when they are not set or unreadable."""
    if not integration.client_id or not integration.client_secret_encrypted:
        raise SyncError(
            NOT_CONFIGURED,
            "The Personio Client ID and Client Secret are not set.",
            "Enter them on the Integration page (Personio: Settings > Integrations > API credentials).",
        )
    try:
        secret = _unsealed(integration.client_secret_encrypted, integration.base_url)
    except SecretKeyMismatch as exc:
        raise SyncError(exc.code, exc.message, exc.hint) from exc
    return integration.client_id, secret
