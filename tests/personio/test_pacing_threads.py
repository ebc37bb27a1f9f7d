"""The pacers are shared by every thread of a process (scheduler workers, dashboard sessions): under
threads racing for slots, no window ever holds more requests than its limit, and every client of
one process talking to one address gets the same host pacer."""

from __future__ import annotations

import threading

from sync.personio.pacing import Pacer, RateLimit, shared_host_pacer


class _NoMoreSlots(Exception):
    pass


def test_racing_threads_never_take_more_slots_than_the_minute_allows() -> None:
    limit = RateLimit(per_minute=500, per_second=500)
    frozen = 1000.0  # the clock never moves: once the minute is full, nobody may send again
    credential = Pacer(limit, clock=lambda: frozen)
    host = Pacer(RateLimit(per_minute=300, per_second=300), clock=lambda: frozen)
    sent: list[int] = []
    start = threading.Barrier(8)

    def no_waiting(_seconds: float) -> None:
        raise _NoMoreSlots()

    def client(number: int) -> None:
        start.wait()
        try:
            for _ in range(200):
                credential.acquire(also=[host], sleep=no_waiting)
                sent.append(number)
        except _NoMoreSlots:
            pass

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(sent) == 300  # the host ceiling, the tighter of the two, exactly
    assert credential.sent_in_last_minute() == host.sent_in_last_minute() == 300


def test_every_client_of_one_address_shares_one_host_pacer_whatever_the_thread() -> None:
    limit = RateLimit(per_minute=1800, per_second=1800)
    seen: list[Pacer] = []
    lock = threading.Lock()

    def look_up() -> None:
        pacer = shared_host_pacer("https://api.personio.de/threads-test", limit)
        with lock:
            seen.append(pacer)

    threads = [threading.Thread(target=look_up) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(pacer) for pacer in seen}) == 1
