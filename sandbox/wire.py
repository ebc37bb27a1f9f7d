"""Requests and responses as plain values, so endpoint code never touches sockets."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    """One HTTP request. Header names are lower-case; query values keep every repeat (`attributes[]`)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """The first value of query parameter `name`, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body). Raises ValueError for invalid JSON."""
        if not self.body.strip():
            return None
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        """The body parsed as `application/x-www-form-urlencoded`."""
        return parse_qs(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case (`application/json`)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class Response:
    """What to send back, plus the misbehaviours a fault can ask the server for."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (added latency, hangs)
    cut_short: bool = False  # send half the body, then drop the connection
    drip_seconds: float = 0.0  # > 0: send the body one byte every this many seconds
    drip_forever: bool = False  # after a dripped body, keep sending a space at that pace
    # While dripping: whether the drip fault is still on (once cleared, the rest goes at once).
    dripping: Callable[[], bool] | None = None


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response; non-ASCII stays UTF-8 as Personio sends it, so clients must decode properly."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status=status, body=body, headers=headers or {})


def personio_error(status: int, message: str, *, code: int | None = None) -> Response:
    """Personio's v1 error envelope: `{"success": false, "error": {"code", "message"}}`."""
    return json_response(
        status, {"success": False, "error": {"code": status if code is None else code, "message": message}}
    )
