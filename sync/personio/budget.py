"""The time one fetch may take, and its stop event: checked before every request, between the chunks
of a body, and around every wait (pacing, back-off).

The clock and the sleep are injectable, so a test can show that a wait which would pass the deadline
fails at once, without waiting. `HangUpOnStop` makes a stop quick even while a read waits on a
silent Personio: it shuts the connection in use down, which ends the read at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from sync.core.errors import FetchAbandoned, SyncError
from sync.personio.errors import too_slow
from sync.personio.limits import derived_run_deadline
from sync.personio.pacing import RateLimit

logger = logging.getLogger("sync.personio")


class FetchBudget:
    """One fetch's deadline (fixed `run_deadline` seconds, or derived from the company's size and
    the `rate_limits` it is paced by) and its optional `stop` event."""

    def __init__(
        self,
        *,
        run_deadline: float | None,
        rate_limits: tuple[RateLimit | None, ...],
        employees: int,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._run_deadline = run_deadline
        self._rate_limits = rate_limits
        self._stop = stop
        self._clock = clock
        self._sleep = sleep
        self.started = clock()
        self.seconds = 0.0
        self.fetched = 0  # employees so far, and the total once known: for the message
        self.total: int | None = None
        self.resize(employees)

    @property
    def deadline(self) -> float:
        """The clock reading by which the fetch must be done."""
        return self.started + self.seconds

    def resize(self, employees: int) -> None:
        """The deadline for a company of `employees` (once total_elements is known); a fixed
        `run_deadline` stays as it is."""
        if self._run_deadline is not None:
            self.seconds = self._run_deadline
        else:
            self.seconds = derived_run_deadline(employees, self._rate_limits)

    def check(self) -> None:
        """FetchAbandoned when stopped, SyncError(personio_unavailable) past the deadline."""
        self.check_stop()
        if self._clock() >= self.deadline:
            raise self.too_slow()

    def check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            logger.info("Personio fetch abandoned: the process is stopping")
            raise FetchAbandoned()

    def until(self, request_seconds: float) -> float:
        """When a request sent now must be answered: its own deadline or the fetch's, the earlier."""
        return min(self._clock() + request_seconds, self.deadline)

    def left(self, until: float) -> float:
        return until - self._clock()

    def passed(self, until: float) -> bool:
        return self._clock() >= until

    def pause(self, seconds: float) -> None:
        """Wait `seconds`, unless that passes the deadline (SyncError at once, no waiting) or the stop
        event is set meanwhile (FetchAbandoned as soon as it is)."""
        self.check_stop()
        if self._clock() + seconds >= self.deadline:
            raise self.too_slow()
        if self._stop is None:
            self._sleep(seconds)
        elif self._stop.wait(seconds):
            self.check_stop()

    def too_slow(self) -> SyncError:
        elapsed = self._clock() - self.started
        logger.error(
            "Personio fetch passed its deadline of %.0f s after %.0f s (%d of %s employees)",
            self.seconds,
            elapsed,
            self.fetched,
            self.total,
        )
        got = f"{self.fetched} of {self.total} employees" if self.total is not None else "no employees"
        return too_slow(f"{got} came in {elapsed:.0f} s, and the fetch may take at most {self.seconds:.0f} s")


STOP_POLL_SECONDS = 0.2  # how often a fetch's watcher looks at the stop event


class ConnectionInUse:
    """The network stream of the client's latest connection, learnt from httpcore's `trace`
    extension (each new connection reports it; a kept-alive one stays the latest)."""

    _EVENTS = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})

    def __init__(self) -> None:
        self._stream: Any = None
        # Set each time a request has gone out whole (`sent`): the fetch clears it before asking
        # for the next page in its helper thread, and waits for it before parsing the page it has.
        self.sent = threading.Event()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event in self._EVENTS and info.get("return_value") is not None:
            self._stream = info["return_value"]
        elif event.endswith("send_request_body.complete"):
            self.sent.set()

    def current(self) -> socket.socket | None:
        sock = self._stream.get_extra_info("socket") if self._stream is not None else None
        return sock if isinstance(sock, socket.socket) else None


class HangUpOnStop:
    """While a fetch runs: once `stop` is set, shut the connection in use down, so that a read
    waiting on Personio ends now instead of at its timeout (the fetch then sees the stop and raises
    FetchAbandoned). Does nothing without a stop event."""

    def __init__(self, stop: threading.Event | None, connection: Callable[[], socket.socket | None]) -> None:
        self._stop = stop
        self._connection = connection
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="personio-stop", daemon=True)

    def __enter__(self) -> HangUpOnStop:
        if self._stop is not None:
            self._watcher.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._watcher.is_alive():
            self._watcher.join()

    def _watch(self) -> None:
        assert self._stop is not None
        while not self._done.is_set():
            if self._stop.wait(STOP_POLL_SECONDS):
                break
        else:
            return
        sock = self._connection()
        if sock is None:
            return
        # The plain socket's shutdown, also for TLS: it ends a read blocked in another thread,
        # where ssl.SSLSocket.shutdown would first pull the TLS state from under that read.
        with contextlib.suppress(OSError):  # already closed
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        logger.info("Personio connection hung up: the process is stopping")
