"""Execute a Plan inside the caller's transaction, set-based: a handful of statements per kind
of change, never one query per employee. Writes the run's change log and queues welcome emails.

`apply_plan` only does what the plan says; the caller commits (or rolls back everything).
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    DateTime,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlmodel import Session

from storage.models import OutboxEmail, RunChange, RunWarning, Team, TeamMember, User, table
from sync.core.changes import ROLE_VALUES
from sync.core.plan import Plan
from sync.core.states import UserStatus
from sync.mail.texts import welcome_message

# Rows per executemany: big enough to be set-based, small enough to keep memory flat.
CHUNK_ROWS = 20_000
IN_LIST_LIMIT = 900
# How SQLAlchemy's SQLite dialect stores a DateTime (UTC, without an offset).
SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"

users_t = table(User)
teams_t = table(Team)
members_t = table(TeamMember)


def apply_plan(
    session: Session,
    plan: Plan,
    *,
    org_id: int,
    org_name: str,
    run_id: int | None,
    language: str,
    now: datetime,
) -> None:
    """Write every change of `plan` for organization `org_id` (see module docstring)."""
    apply_directory(
        session, plan, org_id=org_id, org_name=org_name, run_id=run_id, language=language, now=now
    )
    if run_id is not None:
        log_run(session, plan, run_id)


def apply_directory(
    session: Session,
    plan: Plan,
    *,
    org_id: int,
    org_name: str,
    run_id: int | None,
    language: str,
    now: datetime,
) -> None:
    """The directory half of `apply_plan`: users, teams, memberships, and the welcome emails."""
    _delete_teams(session, plan.team_deletes)
    _rename_teams(session, plan.team_renames)
    linked = _insert_users(session, plan, org_id=org_id, language=language, now=now)
    _update_users(session, plan, now=now)
    # Every linked user's id (100,000 rows at 100,000 employees): read only when a link or a
    # membership is to be written.
    user_ids = _user_ids_by_pid(session, org_id) if plan.supervisors or plan.membership_adds else {}
    _set_supervisors(session, plan, user_ids, now=now, linked=linked)
    team_ids = _insert_teams(session, plan, org_id=org_id, now=now)
    _apply_memberships(session, plan, user_ids, team_ids)
    _queue_welcome_emails(
        session, plan, org_id=org_id, org_name=org_name, run_id=run_id, language=language, now=now
    )


def _executemany(session: Session, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
    """One executemany per CHUNK_ROWS rows: set-based, without holding every row in memory at once."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK_ROWS)):
        session.execute(statement, chunk)


def _insert(session: Session, target: Table, rows: Iterable[dict[str, Any]]) -> None:
    """Bulk insert `rows` (all with the same keys) into `target`, CHUNK_ROWS at a time.

    SQLAlchemy's per-row parameter processing costs three times the write itself at 100,000
    employees, so the rows go straight to the driver (`_insert_values`), with values converted
    the way SQLAlchemy stores them: on SQLite UTC timestamps as text and JSON as text, on
    PostgreSQL naive UTC timestamps, JSON as text and enumerations as plain text. Other
    databases take the portable path.
    """
    dialect = session.connection().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        _executemany(session, insert(target), rows)
        return
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return
    names = tuple(first)
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    converter_for = _copy_converter if dialect == "postgresql" else _sqlite_converter
    converters = [(i, c) for i, name in enumerate(names) if (c := converter_for(target.c[name].type))]

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        picked = pick(row)
        if not converters:
            return tuple(picked)
        as_list = list(picked)
        for i, convert in converters:
            as_list[i] = convert(as_list[i])
        return tuple(as_list)

    _insert_values(session, target, names, map(values, itertools.chain((first,), iterator)))


def _insert_values(
    session: Session, target: Table, names: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Bulk insert rows that are already driver values, in the order of `names`: JSON as text,
    timestamps as `_driver_timestamp` gives them, enumerations as plain text.

    SQLite through executemany, PostgreSQL through COPY (its own bulk load), in the session's
    transaction. The path of the few row kinds a big run writes by the hundred thousand (users,
    memberships, changes, emails): one tuple per row, built once, nothing converted per value.
    """
    connection = session.connection()
    if connection.dialect.name not in ("sqlite", "postgresql"):
        _executemany(session, insert(target), (dict(zip(names, values, strict=True)) for values in rows))
        return
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(n) for n in names)
    iterator = iter(rows)
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {quote(target.name)} ({columns}) FROM STDIN") as copy,
        ):
            for values in iterator:
                copy.write_row(values)
        return
    statement = f"INSERT INTO {quote(target.name)} ({columns}) VALUES ({', '.join('?' for _ in names)})"
    while chunk := list(islice(iterator, CHUNK_ROWS)):
        connection.exec_driver_sql(statement, chunk)


def _driver_timestamp(session: Session, value: datetime) -> Any:
    """`value` as `_insert_values` takes it on this session's engine (as SQLAlchemy stores it)."""
    if session.connection().dialect.name == "sqlite":
        return _sqlite_timestamp(value)
    return _naive_utc(value)


def _copy_converter(column_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, JSON):
        return _json_text
    if isinstance(column_type, DateTime):
        return _naive_utc
    if isinstance(column_type, String):
        return _plain_text  # a StrEnum goes as its value, whatever the driver makes of an Enum
    return None


def _naive_utc(value: datetime | None) -> datetime | None:
    """The columns are `timestamp without time zone` holding UTC (as SQLAlchemy writes them)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _plain_text(value: Any) -> Any:
    return str(value) if isinstance(value, str) and type(value) is not str else value


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, JSON):
        return _json_text
    if isinstance(column_type, DateTime):
        return _sqlite_timestamp
    return None


def _json_text(value: Any) -> str | None:
    """A JSON value as SQLAlchemy's JSON type stores it (text; None stays NULL), encoded by orjson:
    the change log holds two JSON values per change, and the standard library's encoder cost a
    third of an initial run at 20,000 employees."""
    return None if value is None else orjson.dumps(value).decode()


@lru_cache(maxsize=64)
def _sqlite_timestamp(value: datetime | None) -> str | None:
    """A timestamp as SQLAlchemy's SQLite dialect stores it; a run writes the same few many times."""
    return None if value is None else value.astimezone(UTC).strftime(SQLITE_TIMESTAMP)


def _delete_teams(session: Session, team_ids: tuple[int, ...]) -> None:
    # In slices: a database allows only so many bound values in one statement.
    for start in range(0, len(team_ids), IN_LIST_LIMIT):
        some = team_ids[start : start + IN_LIST_LIMIT]
        session.execute(delete(members_t).where(members_t.c.team_id.in_(some)))
        session.execute(delete(teams_t).where(teams_t.c.id.in_(some)))


def _placeholder(kind: str, row_id: int) -> str:
    """A value no real name or address can hold, storable on every engine (PostgreSQL text refuses
    NUL): a random token per call, so it never meets a real value, even a hand-made one."""
    return f"~{kind} {row_id} {uuid.uuid4().hex}"


def _rename_teams(session: Session, renames: tuple[tuple[int, str], ...]) -> None:
    # Two steps, so that teams may swap names without breaking uniqueness in between.
    statement = update(teams_t).where(teams_t.c.id == bindparam("_id")).values(name=bindparam("_name"))
    _executemany(
        session, statement, [{"_id": tid, "_name": _placeholder("renaming", tid)} for tid, _ in renames]
    )
    _executemany(session, statement, [{"_id": tid, "_name": name} for tid, name in renames])


def _insert_users(
    session: Session, plan: Plan, *, org_id: int, language: str, now: datetime
) -> frozenset[str]:
    """Insert the new users; the Personio ids whose supervisor link went in with the row.

    Each new user gets its id before the insert (`_reserve_user_ids`), so a link to a supervisor
    that already exists, or that is inserted before it (supervisors go first), is part of the row:
    a first sync does not write every user twice. The links left (a chain of new users that loops
    back on itself, an address adopted in this run) are set by `_set_supervisors` afterwards.
    """
    if not plan.new_users:
        return frozenset()
    stamp = _driver_timestamp(session, now)
    active = str(UserStatus.ACTIVE)
    ids = _reserve_user_ids(session, len(plan.new_users))
    new_ids = {new.personio_id: user_id for new, user_id in zip(plan.new_users, ids, strict=True)}
    wanted = {pid: sup for pid, sup in plan.supervisors if sup and pid in new_ids}
    # Supervisors who are already users; one whose Personio id changes in this run does not
    # stand for their old one any more.
    relinked = {u.user_id for u in plan.user_updates if "personio_id" in u.values}
    existing = {
        pid: uid
        for pid, uid in _user_ids_of(session, org_id, {s for s in wanted.values() if s not in new_ids})
        if uid not in relinked
    }
    order = supervisors_first([new.personio_id for new in plan.new_users], wanted)
    position = {pid: i for i, pid in enumerate(order)}
    by_pid = {new.personio_id: new for new in plan.new_users}
    linked: set[str] = set()
    rows: list[tuple[Any, ...]] = []
    for pid in order:
        _, email, first_name, last_name, job_title = by_pid[pid]  # unpacked: faster than 5 attribute reads
        sup = wanted.get(pid)
        supervisor_id = existing.get(sup) if sup else None
        if sup in new_ids and position[sup] < position[pid]:
            supervisor_id = new_ids[sup]
        if supervisor_id is not None:
            linked.add(pid)
        rows.append(
            (
                new_ids[pid],
                org_id,
                email,
                email.lower(),
                first_name,
                last_name,
                job_title,
                active,
                "member",
                language,
                pid,
                "personio",
                supervisor_id,
                stamp,
                stamp,
            )
        )
    names = (
        "id", "org_id", "email", "email_key", "first_name", "last_name", "job_title", "status", "role",
        "language", "personio_id", "source", "supervisor_id", "created_at", "updated_at",
    )  # fmt: skip
    _insert_values(session, users_t, names, rows)
    return frozenset(linked)


def supervisors_first(pids: list[str], supervisor_of: dict[str, str]) -> list[str]:
    """`pids` ordered so that each comes after its supervisor where that is one of `pids` too
    (otherwise in the given order). Each chain of supervisors that loops back on itself is
    cut once: its first user comes before their supervisor."""
    members = set(pids)
    placed: set[str] = set()
    order: list[str] = []
    for start in pids:
        chain: list[str] = []
        in_chain: set[str] = set()
        pid: str | None = start
        while pid is not None and pid in members and pid not in placed and pid not in in_chain:
            chain.append(pid)
            in_chain.add(pid)
            pid = supervisor_of.get(pid)
        for link in reversed(chain):
            placed.add(link)
            order.append(link)
    return order


def _reserve_user_ids(session: Session, count: int) -> list[int]:
    """`count` user ids no row has or will be given: from the id sequence on PostgreSQL; above
    the highest id on SQLite (the write transaction holds the database's write lock)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        result = connection.execute(
            text("SELECT nextval(pg_get_serial_sequence('\"user\"', 'id')) FROM generate_series(1, :n)"),
            {"n": count},
        )
        return [int(value) for (value,) in result]
    highest = connection.execute(select(func.coalesce(func.max(users_t.c.id), 0))).scalar_one()
    return list(range(int(highest) + 1, int(highest) + 1 + count))


def _update_users(session: Session, plan: Plan, *, now: datetime) -> None:
    # Addresses that change move out of the way first, so two users may swap addresses.
    moving = [
        {"_id": u.user_id, "_key": _placeholder("moving", u.user_id)}
        for u in plan.user_updates
        if "email" in u.values
    ]
    _executemany(
        session,
        update(users_t).where(users_t.c.id == bindparam("_id")).values(email_key=bindparam("_key")),
        moving,
    )
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for change in plan.user_updates:
        values = dict(change.values)
        if "email" in values:
            values["email_key"] = values["email"].lower()
        if values.get("status") == UserStatus.DEACTIVATED:
            values["deactivated_at"] = now
        elif values.get("status") == UserStatus.ACTIVE:
            values["deactivated_at"] = None
        values["updated_at"] = now
        groups[tuple(sorted(values))].append(
            {"_id": change.user_id, **{f"_{k}": v for k, v in values.items()}}
        )
    for columns, rows in groups.items():
        statement = (
            update(users_t)
            .where(users_t.c.id == bindparam("_id"))
            .values({name: bindparam(f"_{name}") for name in columns})
        )
        session.execute(statement, rows)


def _user_ids_by_pid(session: Session, org_id: int) -> dict[str, int]:
    rows = session.execute(
        select(users_t.c.personio_id, users_t.c.id).where(
            users_t.c.org_id == org_id, users_t.c.personio_id.is_not(None)
        )
    ).all()
    return {pid: uid for pid, uid in rows}


def _user_ids_of(session: Session, org_id: int, pids: set[str]) -> list[tuple[str, int]]:
    """(Personio id, user id) of the organization's users with one of `pids`."""
    ordered = sorted(pids)
    found: list[tuple[str, int]] = []
    for start in range(0, len(ordered), IN_LIST_LIMIT):  # a statement takes only so many values
        rows = session.execute(
            select(users_t.c.personio_id, users_t.c.id).where(
                users_t.c.org_id == org_id, users_t.c.personio_id.in_(ordered[start : start + IN_LIST_LIMIT])
            )
        ).all()
        found.extend((pid, uid) for pid, uid in rows)
    return found


def _set_supervisors(
    session: Session, plan: Plan, user_ids: dict[str, int], *, now: datetime, linked: frozenset[str]
) -> None:
    """The supervisor links of the plan that `_insert_users` did not write with the row."""
    rows = [
        {"_id": user_ids[pid], "_sup": user_ids.get(sup) if sup else None, "_now": now}
        for pid, sup in plan.supervisors
        if pid in user_ids and pid not in linked
    ]
    connection = session.connection()
    if connection.dialect.name == "sqlite" and rows:
        # Every user of a first sync gets one: straight to the driver, as `_insert` does.
        quote = connection.dialect.identifier_preparer.quote
        stamp = _sqlite_timestamp(now)
        connection.exec_driver_sql(
            f"UPDATE {quote(users_t.name)} SET supervisor_id = ?, updated_at = ? WHERE id = ?",
            [(row["_sup"], stamp, row["_id"]) for row in rows],
        )
        return
    statement = (
        update(users_t)
        .where(users_t.c.id == bindparam("_id"))
        .values(supervisor_id=bindparam("_sup"), updated_at=bindparam("_now"))
    )
    _executemany(session, statement, rows)


def _insert_teams(session: Session, plan: Plan, *, org_id: int, now: datetime) -> dict[tuple[str, str], int]:
    rows = [
        {
            "org_id": org_id,
            "name": t.name,
            "source_attribute": t.attribute,
            "source_key": t.key,
            "created_at": now,
        }
        for t in plan.new_teams
    ]
    _insert(session, teams_t, rows)
    if not plan.membership_adds:  # the ids are for the memberships to add
        return {}
    result = session.execute(
        select(teams_t.c.source_attribute, teams_t.c.source_key, teams_t.c.id).where(
            teams_t.c.org_id == org_id, teams_t.c.source_attribute.is_not(None)
        )
    ).all()
    return {(attr, key): tid for attr, key, tid in result}


def _apply_memberships(
    session: Session, plan: Plan, user_ids: dict[str, int], team_ids: dict[tuple[str, str], int]
) -> None:
    _executemany(
        session,
        delete(members_t).where(
            members_t.c.team_id == bindparam("_t"), members_t.c.user_id == bindparam("_u")
        ),
        [{"_t": tid, "_u": uid} for tid, uid in plan.membership_removes],
    )
    _executemany(
        session,
        update(members_t)
        .where(members_t.c.team_id == bindparam("_t"), members_t.c.user_id == bindparam("_u"))
        .values(role=bindparam("_r")),
        [{"_t": tid, "_u": uid, "_r": role} for tid, uid, role in plan.membership_roles],
    )
    rows: list[tuple[int, int, str]] = []
    team: tuple[str, str] | None = None
    team_id: int | None = None
    for add_team, pid, role in plan.membership_adds:  # each team's adds come together
        if add_team is not team:
            team, team_id = add_team, team_ids.get(add_team)
        user_id = user_ids.get(pid)
        if team_id is not None and user_id is not None:
            rows.append((team_id, user_id, str(role)))
    _insert_values(session, members_t, ("team_id", "user_id", "role"), rows)


def log_run(session: Session, plan: Plan, run_id: int) -> None:
    """The log half of `apply_plan`: the run's change log and warnings."""
    # The role values of membership changes are shared (ROLE_VALUES): each is encoded once.
    encoded = {id(value): _json_text(value) for value in ROLE_VALUES.values()}
    rows = (
        (
            run_id,
            str(entity),
            str(action),
            key,
            personio_id,
            encoded.get(id(before)) or _json_text(before),
            encoded.get(id(after)) or _json_text(after),
        )
        for entity, action, key, personio_id, before, after in plan.changes
    )
    names = ("run_id", "entity", "action", "key", "personio_id", "before", "after")
    _insert_values(session, table(RunChange), names, rows)
    _insert(
        session,
        table(RunWarning),
        [{"run_id": run_id, "personio_id": w.personio_id, "reason": w.reason} for w in plan.warnings],
    )


def _queue_welcome_emails(
    session: Session,
    plan: Plan,
    *,
    org_id: int,
    org_name: str,
    run_id: int | None,
    language: str,
    now: datetime,
) -> None:
    stamp = _driver_timestamp(session, now)

    def rows() -> Iterator[tuple[Any, ...]]:
        for new in plan.new_users:
            message = welcome_message(
                language=language, first_name=new.first_name, org_name=org_name, email=new.email
            )
            yield (
                org_id,
                new.email,
                message.subject,
                message.body,
                "welcome",
                message.language,
                run_id,
                stamp,
                0,
                stamp,
            )

    names = (
        "org_id", "to", "subject", "body", "kind", "language", "run_id", "created_at", "attempts",
        "next_attempt_at",
    )  # fmt: skip
    _insert_values(session, table(OutboxEmail), names, rows())
