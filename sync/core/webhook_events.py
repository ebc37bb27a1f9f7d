"""A Personio webhook delivery, checked against Personio's schema. Pure: standard library only.

Personio POSTs `{"company_id", "event_name", "occurred_at", "payload", "meta"?}`; the notification
is "dataless" (it names what changed, not the new values), so the product only needs to know that
an organization changed and which event it was. `parse_delivery` refuses anything else; its strings
lose their control characters before they are stored. `dedupe_key` is the same for Personio's
retries of one event (they carry the same body), so a retried delivery is no second event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync.core.text import is_control

EVENT_NAMES = (
    "person.created",
    "person.updated",
    "person.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
)
MAX_BODY_BYTES = 64 * 1024  # a dataless notification is a few hundred bytes
_MAX_DEPTH = 8


@dataclass(frozen=True)
class Delivery:
    """What a delivery says, ready to be stored."""

    company_id: str
    event_name: str
    occurred_at: datetime
    payload: dict[str, Any]


def _clean(value: Any, depth: int = 0) -> Any:
    """`value` with control characters removed from every string (keys included); None if too deep."""
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(value, str):
        return "".join(char for char in value if not is_control(char))
    if isinstance(value, dict):
        return {_clean(key, depth + 1): _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    return value


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_delivery(body: bytes) -> Delivery | None:
    """The delivery in `body`, or None when it is not one (not JSON, a field missing or of the wrong
    type, an event the product does not know, more than MAX_BODY_BYTES)."""
    if len(body) > MAX_BODY_BYTES:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    company_id, event_name = data.get("company_id"), data.get("event_name")
    occurred_at, payload, meta = data.get("occurred_at"), data.get("payload"), data.get("meta", {})
    if isinstance(company_id, bool) or not isinstance(company_id, str | int):
        return None
    if event_name not in EVENT_NAMES or not isinstance(occurred_at, str):
        return None
    if not isinstance(payload, dict) or not isinstance(meta, dict | None):
        return None
    moment = _moment(occurred_at)
    if moment is None:
        return None
    try:
        cleaned = _clean(payload)
    except ValueError:
        return None
    return Delivery(
        company_id=_clean(str(company_id))[:100], event_name=event_name, occurred_at=moment, payload=cleaned
    )


def dedupe_key(delivery: Delivery) -> str:
    """The same hex digest for every delivery of one event (Personio's retries and duplicates)."""
    canonical = json.dumps(
        [delivery.company_id, delivery.event_name, delivery.occurred_at.isoformat(), delivery.payload],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
