"""Scheduler heartbeats: one row per scheduler process, so people can see which are alive.

A scheduler records its row at start, refreshes `last_seen` every tick (and while a long
run executes) and sets `stopped_at` when it stops on purpose. A row whose `last_seen` is
old without `stopped_at` belongs to a scheduler that died.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlmodel import col

from storage.db import write_session
from storage.models import SchedulerHeartbeat

# Rows of schedulers gone this long are removed when a scheduler starts.
HEARTBEAT_RETENTION = timedelta(days=7)


def new_instance_id() -> str:
    """`host:pid:random`: unique per scheduler process, readable in the dashboard."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def record_heartbeat(engine: Engine, *, instance_id: str, now: datetime) -> None:
    """Insert or refresh this instance's heartbeat row."""
    with write_session(engine) as session:
        beat = session.get(SchedulerHeartbeat, instance_id)
        if beat is None:
            host, _, rest = instance_id.partition(":")
            pid = rest.partition(":")[0]
            beat = SchedulerHeartbeat(
                instance_id=instance_id,
                host=host,
                pid=int(pid) if pid.isdigit() else os.getpid(),
                started_at=now,
                last_seen=now,
            )
        beat.last_seen = now
        beat.stopped_at = None
        session.add(beat)


def mark_stopped(engine: Engine, *, instance_id: str, now: datetime) -> None:
    """Record that this instance stopped on purpose."""
    with write_session(engine) as session:
        session.execute(
            update(SchedulerHeartbeat)
            .where(col(SchedulerHeartbeat.instance_id) == instance_id)
            .values(last_seen=now, stopped_at=now)
        )


def forget_old_heartbeats(engine: Engine, *, now: datetime, keep: timedelta = HEARTBEAT_RETENTION) -> int:
    """Delete heartbeat rows not seen for `keep`; returns how many."""
    with write_session(engine) as session:
        result = session.execute(
            delete(SchedulerHeartbeat).where(col(SchedulerHeartbeat.last_seen) < now - keep)
        )
        return int(getattr(result, "rowcount", 0) or 0)
