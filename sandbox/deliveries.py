"""Webhook deliveries: each event goes to every subscribed webhook in background threads, never
inside the admin call that caused it.

As Personio does it (/work/shared/reference/personio-webhooks.md, "Delivery"): a `POST` with the
JSON event, acknowledged by a 2xx within 3 seconds, redirects not followed. No acknowledgement in
time (timeout, refused connection) or a 5xx other than 501: retried, up to 6 more attempts with
growing delays over up to 3 days, each attempt up to 2 requests in a row (the "fast attempt"): at
most 14 requests. Any other answer ends the delivery as failed. The delays are multiplied by
`retry_scale` so tests need not wait minutes.

For tests, `drop_next` deliveries are never sent and `duplicate_next` are sent twice.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sandbox.events import Event
from sandbox.webhooks import WebhookStore

ACK_TIMEOUT = 3.0  # seconds Personio waits for the 2xx
REQUESTS_PER_ATTEMPT = 2  # the fast attempt: a failed request is repeated at once, once
RETRY_DELAYS: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0, 43200.0, 172800.0)  # ~62.6 h in all
MAX_RESPONSE_BYTES = 65536
MAX_KEPT = 10_000  # finished deliveries beyond this are forgotten, oldest first
WORKERS = 8
USER_AGENT = "Personio-Webhooks/1.0 (sandbox)"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DROPPED = "dropped"
CANCELLED = "cancelled"

# (url, headers, body, timeout) -> (HTTP status or None, error text or None)
Sender = Callable[[str, dict[str, str], bytes, float], tuple[int | None, str | None]]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def retryable(status: int | None) -> bool:
    """Whether an answer (None: none within the deadline) is worth another attempt."""
    return status is None or (500 <= status <= 599 and status != 501)


def post(url: str, headers: dict[str, str], body: bytes, timeout: float) -> tuple[int | None, str | None]:
    """One delivery request: the status, or None and why no acknowledgement came in `timeout`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        if time.monotonic() - started > timeout:
            return None, f"no acknowledgement within {timeout:g} s"
        return response.status, None
    except TimeoutError:
        return None, f"no acknowledgement within {timeout:g} s"
    except (OSError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"[:200]
    finally:
        connection.close()


@dataclass(frozen=True)
class DeliveryRequest:
    """One HTTP request of a delivery."""

    attempt: int
    at: str
    status: int | None
    error: str | None
    seconds: float


@dataclass
class Delivery:
    """One event on its way to one webhook."""

    id: str
    event_id: str
    event_name: str
    webhook_id: str
    url: str
    headers: dict[str, str]
    body: bytes
    created_at: str
    status: str = PENDING
    duplicate: bool = False  # the second copy a `duplicate` fault sends
    attempts: int = 0
    requests: list[DeliveryRequest] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """For `GET /_admin/deliveries`: never the headers (they carry the webhook's token)."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_name": self.event_name,
            "webhook_id": self.webhook_id,
            "url": self.url,
            "status": self.status,
            "delivered": self.status == DELIVERED,
            "duplicate": self.duplicate,
            "attempts": self.attempts,
            "status_codes": [request.status for request in self.requests],
            "requests": [vars(request) for request in self.requests],
            "created_at": self.created_at,
            "event": json.loads(self.body),
        }


class Deliverer:
    """Pending deliveries in a time-ordered queue, worked off by daemon threads started on first use.

    Its own lock guards everything here; the admin API calls in with the sandbox lock held, the
    workers never take the sandbox lock, so the two never wait on each other in a circle.
    """

    def __init__(
        self,
        *,
        retry_scale: float = 1.0,
        send: Sender = post,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_scale = retry_scale
        self.drop_next = 0
        self.duplicate_next = 0
        self._send = send
        self._monotonic = monotonic
        self._condition = threading.Condition()
        self._deliveries: dict[str, Delivery] = {}
        self._due: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._workers: list[threading.Thread] = []

    # ----- called by the admin API (sandbox lock held) ------------------------------------------

    def enqueue(
        self, company_id: str, events: Iterable[Event], webhooks: WebhookStore, now: datetime
    ) -> None:
        """Queue every event for each webhook subscribed to it; returns at once."""
        queued = False
        with self._condition:
            for event in events:
                body = json.dumps(
                    {
                        "company_id": company_id,
                        "event_name": event.name,
                        "occurred_at": _iso(now),
                        "payload": event.payload,
                        "meta": {"event_id": (event_id := str(uuid.uuid4()))},
                    },
                    separators=(",", ":"),
                ).encode()
                for webhook in webhooks.subscribers(event.name):
                    copies = 1
                    if self.drop_next > 0:
                        self.drop_next -= 1
                        copies = 0
                    elif self.duplicate_next > 0:
                        self.duplicate_next -= 1
                        copies = 2
                    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
                    headers.update(webhook.delivery_headers())
                    for copy in range(max(copies, 1)):
                        delivery = Delivery(
                            id=str(uuid.uuid4()),
                            event_id=event_id,
                            event_name=event.name,
                            webhook_id=webhook.id,
                            url=webhook.url,
                            headers=headers,
                            body=body,
                            created_at=_iso(now),
                            status=PENDING if copies else DROPPED,
                            duplicate=copy == 1,
                        )
                        self._deliveries[delivery.id] = delivery
                        if copies:
                            self._schedule(delivery.id, 0.0)
                            queued = True
            self._forget_old()
            if queued:
                self._start_workers()
                self._condition.notify_all()

    def cancel(self, webhook_id: str) -> None:
        """A deleted webhook gets nothing more: its pending deliveries end as cancelled."""
        with self._condition:
            for delivery in self._deliveries.values():
                if delivery.webhook_id == webhook_id and delivery.status == PENDING:
                    delivery.status = CANCELLED

    def listing(self, **filters: str) -> list[dict[str, Any]]:
        """Every delivery kept, oldest first, matching `filters` (webhook_id, event_name, status)."""
        with self._condition:
            return [
                delivery.as_dict()
                for delivery in self._deliveries.values()
                if all(getattr(delivery, name) == value for name, value in filters.items())
            ]

    def clear(self) -> None:
        """Forget every delivery; pending ones are not sent any more."""
        with self._condition:
            for delivery in self._deliveries.values():
                if delivery.status == PENDING:
                    delivery.status = CANCELLED  # one a worker holds right now stops after its request
            self._deliveries.clear()
            self._due.clear()

    def reset(self, retry_scale: float) -> None:
        """Back to the start: no deliveries, no faults, the start-up retry scale."""
        with self._condition:
            self.clear()
            self.drop_next = self.duplicate_next = 0
            self.retry_scale = retry_scale

    # ----- the workers -------------------------------------------------------------------------

    def _schedule(self, delivery_id: str, delay: float) -> None:
        heapq.heappush(self._due, (self._monotonic() + delay, next(self._order), delivery_id))

    def _forget_old(self) -> None:
        excess = len(self._deliveries) - MAX_KEPT
        if excess <= 0:
            return
        finished = [key for key, delivery in self._deliveries.items() if delivery.status != PENDING]
        for key in finished[:excess]:
            del self._deliveries[key]

    def _start_workers(self) -> None:
        while len(self._workers) < WORKERS:
            worker = threading.Thread(
                target=self._work, name=f"webhook-delivery-{len(self._workers)}", daemon=True
            )
            self._workers.append(worker)
            worker.start()

    def _next_due(self) -> Delivery:
        with self._condition:
            while True:
                if self._due:
                    wait = self._due[0][0] - self._monotonic()
                    if wait <= 0:
                        delivery = self._deliveries.get(heapq.heappop(self._due)[2])
                        if delivery is not None and delivery.status == PENDING:
                            delivery.attempts += 1
                            return delivery
                        continue
                    self._condition.wait(wait)
                else:
                    self._condition.wait()

    def _work(self) -> None:
        while True:
            delivery = self._next_due()
            try:
                self._attempt(delivery)
            except Exception as error:  # a bug here must not kill the worker
                with self._condition:
                    delivery.status = FAILED
                    delivery.requests.append(
                        DeliveryRequest(delivery.attempts, _iso(datetime.now(UTC)), None, repr(error), 0.0)
                    )

    def _attempt(self, delivery: Delivery) -> None:
        """One attempt: up to two requests; then delivered, failed, or scheduled again."""
        for _request in range(REQUESTS_PER_ATTEMPT):
            started = time.monotonic()
            at = _iso(datetime.now(UTC))
            status, error = self._send(delivery.url, delivery.headers, delivery.body, ACK_TIMEOUT)
            with self._condition:
                delivery.requests.append(
                    DeliveryRequest(
                        delivery.attempts, at, status, error, round(time.monotonic() - started, 3)
                    )
                )
                if delivery.status != PENDING:  # cancelled or cleared meanwhile
                    return
                if status is not None and 200 <= status <= 299:
                    delivery.status = DELIVERED
                    return
                if not retryable(status):
                    delivery.status = FAILED
                    return
        with self._condition:
            if delivery.status != PENDING:
                return
            if delivery.attempts > len(RETRY_DELAYS):
                delivery.status = FAILED
                return
            self._schedule(delivery.id, RETRY_DELAYS[delivery.attempts - 1] * self.retry_scale)
            self._condition.notify()
