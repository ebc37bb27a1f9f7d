"""Faults switched on through the admin API, each for a number of upcoming requests or until cleared.

A counted fault may also wait: with `after: M` the first M requests it would hit pass untouched,
so a fault can start in the middle of a listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

UNTIL_CLEARED = -1
SERVER_ERROR_STATUSES = (500, 502, 503, 504)


class FaultError(ValueError):
    """A fault setting the admin API cannot accept."""


# Faults that hit a number of requests; the count goes down by one per request hit.
BARE_COUNTED = ("rate_limit_storm", "malformed_json", "truncated_page", "auth_server_error")
COUNTED: tuple[str, ...] = (
    "rate_limit_storm",
    "server_error",
    "hang",
    "malformed_json",
    "truncated_page",
    "total_drift",
    "auth_server_error",
    "drip",
    "oversized_page",
    "absurd_total",
)


@dataclass
class Faults:
    """The fault switches. Counts: 0 = off, N = the next N matching requests, -1 = until cleared.

    `waiting[name]`: matching requests still to pass before fault `name` starts hitting.
    """

    remaining: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    waiting: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    server_error_status: int = 500
    hang_seconds: float = 0.0
    drift_delta: int = 5  # > 0: total counts phantom records; < 0: the last records are missing
    empty_result: bool = False
    withheld_attributes: frozenset[str] = frozenset()
    latency_ms: int = 0
    wrong_credentials: bool = False
    drip_seconds: float = 1.0  # a dripping answer sends one byte of its body every this many seconds
    drip_forever: bool = False  # ... and after the body, a space at that pace until the fault is cleared
    # Bumped whenever `drip` is set again: an answer still dripping stops once its epoch is gone.
    drip_epoch: int = 0
    oversized_megabytes: float = 25.0  # the size an oversized page is padded to (1 MB = 1,000,000 bytes)
    absurd_total: int = 10**12  # the total_elements an absurd_total page reports

    def take(self, name: str) -> bool:
        """Whether fault `name` hits this request; uses up one of its count (or of its `after`)."""
        left = self.remaining[name]
        if left == 0:
            return False
        if self.waiting[name] > 0:
            self.waiting[name] -= 1
            return False
        if left > 0:
            self.remaining[name] = left - 1
        return True

    def update(self, settings: Any) -> None:
        """Apply a `PUT /_admin/faults` body (any subset of keys). Raises FaultError, changing nothing."""
        if not isinstance(settings, dict):
            raise FaultError("the body must be a JSON object")
        staged = replace(self, remaining=dict(self.remaining), waiting=dict(self.waiting))
        for name, value in settings.items():
            staged._set(name, value)
        self.__dict__.update(staged.__dict__)

    def _set(self, name: str, value: Any) -> None:
        if name in BARE_COUNTED:
            self._set_count(name, _spec(name, value, {}))
        elif name == "server_error":
            spec = _spec(name, value, {"status": 500})
            status = spec["status"]
            if status not in SERVER_ERROR_STATUSES:
                raise FaultError(f"server_error.status must be one of {SERVER_ERROR_STATUSES}")
            self.server_error_status = status
            self._set_count(name, spec)
        elif name == "hang":
            spec = _spec(name, value, {"seconds": 30})
            seconds = spec["seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise FaultError("hang.seconds must be a number >= 0")
            self.hang_seconds = float(seconds)
            self._set_count(name, spec)
        elif name == "total_drift":
            spec = _spec(name, value, {"delta": 5})
            delta = spec["delta"]
            if not _is_int(delta) or delta == 0:
                raise FaultError("total_drift.delta must be a non-zero integer")
            self.drift_delta = delta
            self._set_count(name, spec)
        elif name == "drip":
            spec = _spec(name, value, {"seconds": 1, "forever": False})
            seconds, forever = spec["seconds"], spec["forever"]
            if not _is_number(seconds) or not 0 < seconds <= 60:
                raise FaultError("drip.seconds must be a number above 0 and at most 60")
            if not isinstance(forever, bool):
                raise FaultError("drip.forever must be true or false")
            self.drip_seconds, self.drip_forever = float(seconds), forever
            self.drip_epoch += 1
            self._set_count(name, spec)
        elif name == "oversized_page":
            spec = _spec(name, value, {"megabytes": 25})
            megabytes = spec["megabytes"]
            if not _is_number(megabytes) or not 0 < megabytes <= 500:
                raise FaultError("oversized_page.megabytes must be a number above 0 and at most 500")
            self.oversized_megabytes = float(megabytes)
            self._set_count(name, spec)
        elif name == "absurd_total":
            spec = _spec(name, value, {"total": 10**12})
            total = spec["total"]
            if not _is_int(total) or total < 0:
                raise FaultError("absurd_total.total must be an integer >= 0")
            self.absurd_total = total
            self._set_count(name, spec)
        elif name in ("empty_result", "wrong_credentials"):
            if not isinstance(value, bool):
                raise FaultError(f"{name} must be true or false")
            setattr(self, name, value)
        elif name == "withheld_attributes":
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
                raise FaultError("withheld_attributes must be a list of attribute keys")
            self.withheld_attributes = frozenset(value)
        elif name == "latency_ms":
            if not _is_int(value) or value < 0:
                raise FaultError("latency_ms must be an integer >= 0")
            self.latency_ms = value
        else:
            raise FaultError(f"unknown fault {name!r}")

    def _set_count(self, name: str, spec: dict[str, Any]) -> None:
        self.remaining[name] = _count(name, spec.get("count", 0))
        after = spec.get("after", 0)
        if not _is_int(after) or after < 0:
            raise FaultError(f"{name}.after must be an integer >= 0")
        self.waiting[name] = after

    def as_dict(self) -> dict[str, Any]:
        """The current switches, in the shape `PUT /_admin/faults` accepts.

        `after` shows only while requests are still to pass, so a plain fault reads as before:
        a bare count, or an object without `after`.
        """
        return {
            "rate_limit_storm": self._counted("rate_limit_storm", {}),
            "server_error": self._counted("server_error", {"status": self.server_error_status}),
            "hang": self._counted("hang", {"seconds": self.hang_seconds}),
            "malformed_json": self._counted("malformed_json", {}),
            "truncated_page": self._counted("truncated_page", {}),
            "total_drift": self._counted("total_drift", {"delta": self.drift_delta}),
            "empty_result": self.empty_result,
            "withheld_attributes": sorted(self.withheld_attributes),
            "latency_ms": self.latency_ms,
            "wrong_credentials": self.wrong_credentials,
            "auth_server_error": self._counted("auth_server_error", {}),
            "drip": self._counted("drip", {"seconds": self.drip_seconds, "forever": self.drip_forever}),
            "oversized_page": self._counted("oversized_page", {"megabytes": self.oversized_megabytes}),
            "absurd_total": self._counted("absurd_total", {"total": self.absurd_total}),
        }

    def _counted(self, name: str, fields: dict[str, Any]) -> int | dict[str, Any]:
        spec: dict[str, Any] = {**fields, "count": self.remaining[name]}
        if self.remaining[name] != 0 and self.waiting[name] > 0:
            spec["after"] = self.waiting[name]
        elif not fields:
            return int(spec["count"])
        return spec


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(name: str, value: Any) -> int:
    if not _is_int(value) or value < UNTIL_CLEARED:
        raise FaultError(f"{name} count must be an integer >= -1")
    return int(value)


def _spec(name: str, value: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """A fault given as `{"count": N, "after": M, ...}` or as a bare count N (other fields take their
    defaults, `after` 0)."""
    if _is_int(value):
        return {**defaults, "count": value}
    keys = ("count", "after", *defaults)
    if not isinstance(value, dict) or set(value) - set(keys):
        raise FaultError(f"{name} must be a count or an object with keys {', '.join(keys)}")
    return {**defaults, **value}
