"""Who may deliver, and recording what they delivered (the receiver's database side).

Authentication: the organization is found by the opaque id in its URL, then the `Authorization`
header must equal the token registered for it (stored encrypted, compared in constant time) and
near-real-time updates must be switched on. These are reads, which a running sync never blocks.

Recording: an accepted event goes to an in-process queue that one writer thread inserts into the
database, so the answer to Personio comes at once even while a large run holds SQLite's write
lock for seconds (Personio wants a 2xx within 3 s). The writer retries until the database takes
the rows; at shutdown it writes what is left. An event lost by a crash before it was written is
caught by the daily run, which is the reconciliation for lost webhooks anyway. A retry or
duplicate of an event (same body, same `dedupe_key`) is stored once.
"""

from __future__ import annotations

import hmac
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, WebhookEvent
from storage.secrets import SecretBox
from sync.core.errors import describe_exception
from sync.core.webhook_events import Delivery, dedupe_key

log = logging.getLogger("sync.webhooks")
MAX_PATH_ID_CHARS = 100
WRITE_BATCH = 200
RETRY_SECONDS = 0.5


class Caller(Enum):
    """What the receiver knows about a request before reading its body."""

    UNKNOWN = "unknown"  # no organization has this URL (or its updates are switched off): 404
    UNAUTHORIZED = "unauthorized"  # wrong or missing Authorization: 401
    KNOWN = "known"


@dataclass(frozen=True)
class Verdict:
    caller: Caller
    org_id: int | None = None


def authenticate(engine: Engine, box: SecretBox, path_id: str, authorization: str | None) -> Verdict:
    """Whether `authorization` is the token of the organization whose URL ends in `path_id`."""
    if not path_id or len(path_id) > MAX_PATH_ID_CHARS:
        return Verdict(Caller.UNKNOWN)
    with read_session(engine) as session:
        found = session.exec(
            select(Integration.org_id, Integration.webhook_token_encrypted, Integration.near_real_time).where(
                col(Integration.webhook_path_id) == path_id
            )
        ).first()
    if found is None or not found[2] or not found[1]:
        return Verdict(Caller.UNKNOWN)
    org_id, sealed, _on = found
    try:
        expected = box.decrypt(sealed).encode("utf-8")
    except Exception:  # a token sealed with another key: nobody can match it
        return Verdict(Caller.UNAUTHORIZED)
    given = (authorization or "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, expected):
        return Verdict(Caller.UNAUTHORIZED)
    return Verdict(Caller.KNOWN, org_id)


@dataclass(frozen=True)
class Accepted:
    org_id: int
    delivery: Delivery
    received_at: datetime


def store(engine: Engine, events: list[Accepted]) -> int:
    """Insert `events` (duplicates skipped: same organization and dedupe key); returns how many are new."""
    new = 0
    with write_session(engine) as session:
        for event in events:
            key = dedupe_key(event.delivery)
            exists = session.exec(
                select(WebhookEvent.id).where(
                    WebhookEvent.org_id == event.org_id, WebhookEvent.dedupe_key == key
                )
            ).first()
            if exists is not None:
                continue
            row = WebhookEvent(
                org_id=event.org_id,
                event_name=event.delivery.event_name,
                occurred_at=event.delivery.occurred_at,
                received_at=event.received_at,
                dedupe_key=key,
                payload=event.delivery.payload,
            )
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                continue  # another receiver stored the same event a moment ago
            new += 1
    return new


class Inbox:
    """The queue between the request handlers and the database, with its one writer thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.Queue[Accepted | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._closing = threading.Event()
        self._writer = threading.Thread(target=self._write_forever, name="webhook-writer", daemon=True)
        self._writer.start()

    def submit(self, org_id: int, delivery: Delivery) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(Accepted(org_id=org_id, delivery=delivery, received_at=utcnow()))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted event is in the database; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is left (for up to `timeout` seconds), then stop the writer."""
        self.flush(timeout)
        self._closing.set()
        self._queue.put(None)
        self._writer.join(timeout=timeout)

    def _write_forever(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < WRITE_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._write(batch)
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _write(self, batch: list[Accepted]) -> None:
        attempts = 0
        while True:
            try:
                store(self.engine, batch)
                return
            except Exception as exc:  # the database is busy or away: keep the events and retry
                attempts += 1
                if attempts == 1 or attempts % 20 == 0:
                    log.warning(
                        "recording %s webhook event(s) failed (attempt %s), retrying: %s",
                        len(batch),
                        attempts,
                        describe_exception(exc),
                    )
                if self._closing.is_set() and attempts >= 3:
                    log.error(
                        "%s webhook event(s) not recorded at shutdown; the daily run catches up", len(batch)
                    )
                    return
                self._closing.wait(RETRY_SECONDS)
