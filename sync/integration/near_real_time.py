"""Near-real-time updates: registering and deleting the organization's webhook in Personio.

Switching on (the owner's switch, `config --near-real-time`) needs an activated integration and
PUBLIC_WEBHOOK_BASE_URL. It gives the organization an opaque id for its receiver URL (once) and a
fresh random token, stores the token encrypted (its plain form is exactly the `Authorization`
value Personio sends back), and registers the URL for the six person and employment events with
Personio's v2 API using the integration's own credentials (scope `personio:webhooks:write`).
Switching off, deactivating the integration and changing its credentials delete the registration.
Personio is called outside any database transaction; what it answered is then stored. A refusal
is kept on the integration (code, message, hint) for the dashboard, and raised for the caller.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from storage.clock import utcnow
from storage.config import WebhookSettings, allowed_personio_origins, read
from storage.db import write_session
from storage.models import Integration
from storage.secrets import SecretBox
from sync.core.errors import NOT_CONFIGURED, SyncError
from sync.core.states import IntegrationState
from sync.integration.settings import credentials, get_integration
from sync.personio.v2 import PersonioV2

WEBHOOK_PATH_PREFIX = "/personio/webhooks/"
DESCRIPTION = "Personio Sync: near-real-time updates of the learning platform"
V2Factory = Callable[..., PersonioV2]

CREDENTIALS_CHANGED = SyncError(
    "credentials_changed",
    "Near-real-time updates were switched off because the Personio credentials or address changed.",
    "Switch near-real-time updates on again: the webhook is then registered with the new credentials.",
)


def webhook_url(base_url: str, path_id: str) -> str:
    return f"{base_url.rstrip('/')}{WEBHOOK_PATH_PREFIX}{path_id}"


def _load(engine: Engine, org_id: int) -> Integration:
    with write_session(engine) as session:
        return get_integration(session, org_id)


def _client(integration: Integration, factory: V2Factory | None) -> PersonioV2:
    client_id, secret = credentials(integration)
    return (factory or PersonioV2)(
        base_url=integration.base_url,
        client_id=client_id,
        client_secret=secret,
        allowed_origins=allowed_personio_origins(),
    )


def _store(engine: Engine, org_id: int, **values: Any) -> Integration:
    with write_session(engine) as session:
        integration = get_integration(session, org_id)
        for name, value in values.items():
            setattr(integration, name, value)
        integration.updated_at = utcnow()
        session.add(integration)
        return integration


def _error_fields(error: SyncError | None) -> dict[str, str | None]:
    return {
        "webhook_error_code": error.code if error else None,
        "webhook_error_message": error.message if error else None,
        "webhook_error_hint": error.hint if error else None,
    }


def switch_on(engine: Engine, org_id: int, *, v2_factory: V2Factory | None = None) -> Integration:
    """Register the webhook and switch near-real-time updates on. Raises SyncError when it cannot be."""
    integration = _load(engine, org_id)
    base = read(WebhookSettings).public_webhook_base_url
    if integration.state == IntegrationState.INACTIVE:
        raise SyncError(
            NOT_CONFIGURED,
            "Near-real-time updates need an active integration.",
            "Test and activate the integration first, then switch near-real-time updates on.",
        )
    if not base:
        raise SyncError(
            NOT_CONFIGURED,
            "Near-real-time updates are not set up on this installation: Personio has no address to "
            "send changes to.",
            "An operator sets PUBLIC_WEBHOOK_BASE_URL to the public https:// address of the webhook "
            "receiver (python -m sync.webhooks) and restarts the dashboard.",
        )
    path_id = integration.webhook_path_id or secrets.token_urlsafe(24)
    token = f"Bearer {secrets.token_urlsafe(32)}"
    url = webhook_url(base, path_id)
    try:
        with _client(integration, v2_factory) as personio:
            if integration.webhook_id:  # a registration left from before: replaced, with a new token
                personio.delete_webhook(integration.webhook_id)
            webhook_id = personio.create_webhook(url=url, token=token, description=DESCRIPTION)
    except SyncError as exc:
        _store(engine, org_id, near_real_time=False, **_error_fields(exc))
        raise
    return _store(
        engine,
        org_id,
        near_real_time=True,
        webhook_path_id=path_id,
        webhook_token_encrypted=SecretBox().encrypt(token),
        webhook_id=webhook_id,
        webhook_url=url,
        webhook_registered_at=utcnow(),
        **_error_fields(None),
    )


def switch_off(
    engine: Engine,
    org_id: int,
    *,
    because: SyncError | None = None,
    integration: Integration | None = None,
    v2_factory: V2Factory | None = None,
) -> Integration:
    """Delete the registration in Personio and switch near-real-time updates off.

    The switch goes off in any case (the receiver then refuses deliveries). When Personio cannot
    delete the registration, its id is kept (the next switch on or off deletes it) and the error is
    stored. `because`: why it was switched off, shown instead (credentials changed).
    `integration`: the integration as it was (its old credentials), when they are being replaced.
    """
    current = integration or _load(engine, org_id)
    failure: SyncError | None = None
    webhook_id = current.webhook_id
    if webhook_id:
        try:
            with _client(current, v2_factory) as personio:
                personio.delete_webhook(webhook_id)
            webhook_id = None
        except SyncError as exc:
            failure = SyncError(
                exc.code,
                "Near-real-time updates are off, but the webhook could not be deleted in Personio: "
                f"{exc.message}",
                f"{exc.hint} Or delete the webhook in Personio (Settings > Integrations > Webhooks).",
            )
    return _store(
        engine,
        org_id,
        near_real_time=False,
        webhook_token_encrypted=None,
        webhook_id=webhook_id,
        webhook_url=None if webhook_id is None else current.webhook_url,
        webhook_registered_at=None if webhook_id is None else current.webhook_registered_at,
        **_error_fields(failure or because),
    )
