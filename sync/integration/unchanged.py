"""Runs that would change nothing skip planning.

A plan is a pure function of what Personio returned, the sync settings, the rules' code and the
directory (`sync.core.plan`). When a run's plan found nothing to change, the run remembers what it
was planned from: the SHA-256 of Personio's answer (every page as it came, `FetchResult.digest`)
with the settings and the code of the modules that decide (`source_key`), and the digest of the
directory as the plan read it (`Directory.digest`). A later run or Test that fetches the same answer
reads only the directory's digest; when that is the same too, its plan is the remembered one (no
change, the same warnings and counts) and making it again is skipped. Anything else, a changed
employee, setting, rule or directory row, plans in full as before.

The directory digest of a skipped plan may be read before the run's own transaction: nothing is
written then, and a change made in the directory meanwhile is the next run's, as it would be for a
change made just after the run.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlmodel import Session

from storage.clock import utcnow
from storage.db import read_session
from storage.models import UnchangedPlan
from sync.core.changes import empty_counts
from sync.core.employees import SkippedRecord
from sync.core.errors import describe_exception
from sync.core.plan import Plan
from sync.core.settings import SyncSettings
from sync.integration import snapshot

log = logging.getLogger("sync.runner")

# The code a plan depends on: Personio's answer -> employees -> desired state, rows -> directory,
# both -> plan, and the modules that pass one to the next (the client, source, this one). A change
# to any of them (a new rule, a fix) plans everything once more.
DECIDING_MODULES: tuple[str, ...] = (
    "sync.personio.client",
    "sync.personio.parsing",
    "sync.core.employees",
    "sync.core.rules",
    "sync.core.settings",
    "sync.core.states",
    "sync.core.text",
    "sync.integration.snapshot",
    "sync.integration.source",
    "sync.integration.unchanged",
    "sync.core.directory",
    "sync.core.changes",
    "sync.core.plan",
    "sync.core.plan_teams",
)


@cache
def rules_version() -> str:
    """The SHA-256 of the deciding modules' code: their source files, or what the interpreter
    loaded when a deployment ships without them (a module's `__file__` is then its .pyc)."""
    sha = hashlib.sha256()
    for name in sorted(DECIDING_MODULES):
        sha.update(name.encode())
        sha.update(Path(str(importlib.import_module(name).__file__)).read_bytes())
    return sha.hexdigest()


def source_key(listing_digest: str, sync_settings: SyncSettings) -> str | None:
    """What a plan was made from, short of the directory: Personio's answer, the settings, the rules.

    None for an answer without a digest (a source made without the Personio client).
    """
    if not listing_digest:
        return None
    parts = {"rules": rules_version(), "personio": listing_digest, "settings": asdict(sync_settings)}
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


class DigestWhileFetching:
    """The reads that decide whether a plan is remembered (the organization's remembered plan, the
    directory's digest), in a thread of their own while the fetch waits on Personio; `plan` then
    only compares.

        with DigestWhileFetching(engine, org_id) as early:
            source = fetch_source(...)
        with write_session(engine) as session:  # the read is over: no write lock waits for it
            plan = plan_source(source, session, org_id, settings, early=early)

    At 100,000 employees the digest takes about half a second; the fetch waits on Personio for
    longer than that (a few milliseconds per page), so it costs the run next to nothing. A read that
    fails (a busy database) only means the run plans in full.
    """

    def __init__(self, engine: Engine, org_id: int) -> None:
        self._engine, self._org_id = engine, org_id
        self._remembered: UnchangedPlan | None = None
        self._digest: str | None = None
        self._thread = threading.Thread(target=self._read, name=f"digest-{org_id}", daemon=True)

    def __enter__(self) -> DigestWhileFetching:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._thread.join()

    def _read(self) -> None:
        try:
            with read_session(self._engine) as session:
                remembered = session.get(UnchangedPlan, self._org_id)
                if remembered is not None:
                    self._digest = snapshot.directory_digest(session, self._org_id)
                    self._remembered = remembered
        except Exception as exc:  # the run then plans in full
            log.info(
                "could not read the directory digest of org %s early: %s",
                self._org_id,
                describe_exception(exc),
            )

    def plan(self, key: str) -> Plan | None:
        """The remembered plan when it was made from `key` and from the directory read meanwhile."""
        self._thread.join()
        remembered = self._remembered
        if remembered is None or remembered.source_key != key or self._digest != remembered.directory_digest:
            return None
        return _plan_of(remembered.outcome)


def remember_unchanged(session: Session, org_id: int, made: Plan) -> None:
    """Remember a plan that changes nothing (`Plan.unchanged_from` set), in the caller's transaction."""
    if made.unchanged_from is None or not made.is_empty:
        return
    key, directory_digest = made.unchanged_from
    remembered = session.get(UnchangedPlan, org_id) or UnchangedPlan(
        org_id=org_id, source_key=key, directory_digest=directory_digest, recorded_at=utcnow()
    )
    remembered.source_key, remembered.directory_digest = key, directory_digest
    remembered.outcome = _outcome_of(made)
    remembered.recorded_at = utcnow()
    session.add(remembered)


def _outcome_of(made: Plan) -> dict[str, Any]:
    return {
        "warnings": [[w.personio_id, w.reason] for w in made.warnings],
        "counts": made.counts,
        "active_synced_before": made.active_synced_before,
        "active_after": made.active_after,
    }


def _plan_of(outcome: dict[str, Any]) -> Plan | None:
    """The remembered plan; None for an outcome this version cannot read (it then plans in full)."""
    try:
        warnings = tuple(SkippedRecord(pid, str(reason)) for pid, reason in outcome["warnings"])
        counts = {**empty_counts(), **{str(k): int(v) for k, v in outcome["counts"].items()}}
        before, after = int(outcome["active_synced_before"]), int(outcome["active_after"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return Plan(warnings=warnings, counts=counts, active_synced_before=before, active_after=after)
