"""Read-only queries about the scheduler: whether one is running, and its heartbeats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col
from sqlmodel import select as model_select

from storage.clock import utcnow
from storage.db import read_session
from storage.models import SchedulerHeartbeat
from sync.views.times import as_utc, table_time

HEARTBEAT_FRESH = timedelta(seconds=60)


@dataclass(frozen=True)
class SchedulerStatus:
    running: bool
    last_seen: datetime | None
    live_instances: int


def scheduler_status(engine: Engine, *, now: datetime | None = None) -> SchedulerStatus:
    """Whether a scheduler is running: its latest heartbeat is younger than HEARTBEAT_FRESH."""
    now = now or utcnow()
    with read_session(engine) as session:
        last_seen = session.execute(
            select(func.max(col(SchedulerHeartbeat.last_seen))).where(
                col(SchedulerHeartbeat.stopped_at).is_(None)
            )
        ).scalar_one()
        live = session.execute(
            select(func.count())
            .select_from(SchedulerHeartbeat)
            .where(
                col(SchedulerHeartbeat.stopped_at).is_(None),
                col(SchedulerHeartbeat.last_seen) >= now - HEARTBEAT_FRESH,
            )
        ).scalar_one()
    return SchedulerStatus(
        running=int(live) > 0, last_seen=as_utc(last_seen) if last_seen else None, live_instances=int(live)
    )


def heartbeats_frame(engine: Engine, *, now: datetime | None = None, limit: int = 50) -> pd.DataFrame:
    now = now or utcnow()
    with read_session(engine) as session:
        beats = session.exec(
            model_select(SchedulerHeartbeat).order_by(col(SchedulerHeartbeat.last_seen).desc()).limit(limit)
        ).all()
    records = []
    for beat in beats:
        if beat.stopped_at is not None:
            state = "Stopped"
        elif as_utc(now) - as_utc(beat.last_seen) <= HEARTBEAT_FRESH:
            state = "Running"
        else:
            state = "Silent"
        records.append(
            {
                "State": state,
                "Instance": beat.instance_id,
                "Host": beat.host,
                "PID": beat.pid,
                "Started (UTC)": table_time(beat.started_at),
                "Last seen (UTC)": table_time(beat.last_seen),
                "Seconds ago": int((as_utc(now) - as_utc(beat.last_seen)).total_seconds()),
            }
        )
    return pd.DataFrame(
        records,
        columns=["State", "Instance", "Host", "PID", "Started (UTC)", "Last seen (UTC)", "Seconds ago"],
    )
