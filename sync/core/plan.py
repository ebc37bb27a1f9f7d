"""Desired directory vs current directory -> a Plan of changes. Pure: no I/O, no clock.

The Plan is what the dashboard's Test previews and exactly what `apply` executes.
Matching is by Personio id, then by email (case-insensitive), never by name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sync.core.changes import COUNT_KEYS, Change, MembershipAdd, NewTeam, NewUser, UserUpdate, numeric_first
from sync.core.directory import Directory, DirectoryUser
from sync.core.employees import SkippedRecord
from sync.core.errors import SAFETY_STOP, ErrorInfo
from sync.core.plan_teams import plan_teams
from sync.core.rules import DesiredState, DesiredUser
from sync.core.settings import SyncSettings
from sync.core.states import ChangeAction, ChangeEntity, UserStatus

MIN_DEACTIVATIONS_FOR_SAFETY_STOP = 5
USER_FIELDS = ("email", "first_name", "last_name", "job_title")

__all__ = ["COUNT_KEYS", "Change", "Plan", "check_safety", "make_plan"]


@dataclass(frozen=True)
class Plan:
    new_users: tuple[NewUser, ...] = ()
    user_updates: tuple[UserUpdate, ...] = ()
    # (personio id of a user, personio id of its supervisor or None): links to set
    supervisors: tuple[tuple[str, str | None], ...] = ()
    new_teams: tuple[NewTeam, ...] = ()
    team_renames: tuple[tuple[int, str], ...] = ()
    team_deletes: tuple[int, ...] = ()
    membership_adds: tuple[MembershipAdd, ...] = ()
    membership_removes: tuple[tuple[int, int], ...] = ()  # (team id, user id)
    membership_roles: tuple[tuple[int, int, str], ...] = ()  # (team id, user id, role)
    changes: tuple[Change, ...] = ()
    warnings: tuple[SkippedRecord, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    active_synced_before: int = 0
    active_after: int = 0
    # An empty plan's (source key, directory digest): what it was made from, for a later run that
    # finds the same to skip planning (sync/integration/unchanged.py). None: not to be remembered.
    unchanged_from: tuple[str, str] | None = None

    @property
    def is_empty(self) -> bool:
        return not self.changes


@dataclass
class _Matching:
    """Which desired user goes to which current user."""

    by_pid: dict[str, DirectoryUser]  # desired pid -> matched current user
    adopted: dict[str, DirectoryUser]  # desired pid -> user matched by email (link or relink)
    creates: list[DesiredUser]


def _match(desired: DesiredState, directory: Directory) -> _Matching:
    linked = {u.personio_id: u for u in directory.users if u.personio_id}
    # Unlinked users, and users linked to an id Personio no longer lists, can be (re)linked by email.
    adoptable = {
        u.email_key: u
        for u in directory.users
        if u.personio_id is None
        or (u.personio_id not in desired.users and u.personio_id not in desired.skipped_ids)
    }
    by_pid: dict[str, DirectoryUser] = {}
    adopted: dict[str, DirectoryUser] = {}
    creates: list[DesiredUser] = []
    taken: set[int] = set()
    for pid in desired.users:
        current = linked.get(pid)
        if current is not None:
            by_pid[pid] = current
            taken.add(current.id)
    for pid, want in desired.users.items():
        if pid in by_pid or not want.active:
            continue
        candidate = adoptable.get(want.email.lower())
        if candidate is not None and candidate.id not in taken:
            adopted[pid] = candidate
            taken.add(candidate.id)
        else:
            creates.append(want)
    return _Matching(by_pid=by_pid, adopted=adopted, creates=creates)


def make_plan(desired: DesiredState, directory: Directory, settings: SyncSettings) -> Plan:
    """Everything a run would change, as data. See DESIGN.md section 4."""
    users_by_id = {u.id: u for u in directory.users}
    match = _match(desired, directory)
    matched: dict[str, DirectoryUser] = {**match.by_pid, **match.adopted}
    warnings: list[SkippedRecord] = list(desired.warnings)
    changes: list[Change] = []
    counts: Counter[str] = Counter({k: 0 for k in COUNT_KEYS})

    # --- email ownership: a final email may belong to one user only --------------------
    owner_now: dict[str, int] = {u.email_key: u.id for u in directory.users}
    wants = {
        user.id: desired.users[pid].email.lower()
        for pid, user in matched.items()
        if user.email_key != desired.users[pid].email.lower()
    }
    moving_away = _users_free_to_move(wants, owner_now)
    claimed: dict[str, int | str] = {}

    def email_free(email: str, me: int | str) -> bool:
        key = email.lower()
        if key in claimed:
            return claimed[key] == me
        owner = owner_now.get(key)
        return owner is None or owner == me or owner in moving_away

    def claim_email(email: str, me: int | str) -> None:
        claimed[email.lower()] = me

    creates: list[DesiredUser] = []
    for want in match.creates:
        if email_free(want.email, want.personio_id):
            claim_email(want.email, want.personio_id)
            creates.append(want)
        else:
            warnings.append(
                SkippedRecord(
                    want.personio_id,
                    f"The email address {want.email} belongs to another platform user: the employee "
                    "is not created. Change one of the two addresses.",
                )
            )

    # Personio ids that will be linked users after this run (for supervisor links).
    matched_ids = {u.id for u in matched.values()}
    final_pid_to_user: dict[str, int | None] = {
        u.personio_id: u.id for u in directory.users if u.personio_id and u.id not in matched_ids
    }
    for pid, user in matched.items():
        final_pid_to_user[pid] = user.id
    for want in creates:
        final_pid_to_user[want.personio_id] = None  # created by apply

    def supervisor_target(want: DesiredUser) -> str | None:
        sup = want.supervisor_personio_id
        return sup if sup and sup in final_pid_to_user and sup != want.personio_id else None

    user_pid = {u.id: u.personio_id for u in directory.users}

    def email_of_pid(pid: str | None) -> str | None:
        if pid is None:
            return None
        if pid in desired.users:
            return desired.users[pid].email
        uid = final_pid_to_user.get(pid)
        return users_by_id[uid].email if uid is not None else None

    # --- creates ---------------------------------------------------------------------
    new_users: list[NewUser] = []
    supervisors: list[tuple[str, str | None]] = []
    for want in creates:
        new_users.append(
            NewUser(want.personio_id, want.email, want.first_name, want.last_name, want.job_title)
        )
        sup = supervisor_target(want) if desired.supervisors_known else None
        if sup:
            supervisors.append((want.personio_id, sup))
        changes.append(
            Change(
                ChangeEntity.USER,
                ChangeAction.CREATE,
                want.email,
                want.personio_id,
                None,
                {
                    "email": want.email,
                    "first_name": want.first_name,
                    "last_name": want.last_name,
                    "job_title": want.job_title,
                    "supervisor": email_of_pid(sup),
                    "language": settings.language,
                },
            )
        )
        counts["users_created"] += 1

    # --- updates, links, reactivations, deactivations of matched users ------------------
    updates: list[UserUpdate] = []
    deactivate: list[tuple[DirectoryUser, str, str | None]] = []  # (user, reason, pid)

    def current_supervisor(user: DirectoryUser) -> str | None:
        if user.supervisor_id is None:
            return None
        # a manual supervisor (no Personio id) is replaced by Personio's
        return user_pid.get(user.supervisor_id) or f"user:{user.supervisor_id}"

    def unchanged(user: DirectoryUser, want: DesiredUser) -> bool:
        """The common case of a run: nothing about this user differs. Cheap, so checked first."""
        return (
            user.personio_id == want.personio_id
            and user.status == (UserStatus.ACTIVE if want.active else UserStatus.DEACTIVATED)
            and user.email_key == want.email
            and (user.first_name or None) == (want.first_name or None)
            and (user.last_name or None) == (want.last_name or None)
            and (not desired.sync_job_title or (user.job_title or None) == (want.job_title or None))
            and (not desired.supervisors_known or supervisor_target(want) == current_supervisor(user))
        )

    # Only the users that differ are looked at in order (the order of the changes).
    differ = [pid for pid, user in matched.items() if not unchanged(user, desired.users[pid])]
    for pid in sorted(differ, key=numeric_first):
        user, want = matched[pid], desired.users[pid]
        values: dict[str, Any] = {}
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if user.personio_id != pid:
            values["personio_id"], before["personio_id"], after["personio_id"] = pid, user.personio_id, pid
            values["source"] = "personio"
        for name in USER_FIELDS:
            if name == "job_title" and not desired.sync_job_title:
                continue
            new, old = getattr(want, name), getattr(user, name)
            if name == "email":
                if new.lower() == old.lower():
                    continue
                if not email_free(new, user.id):
                    warnings.append(
                        SkippedRecord(
                            pid,
                            f"The new email address {new} belongs to another platform user: "
                            f"{old} keeps its address.",
                        )
                    )
                    continue
                claim_email(new, user.id)
            if (new or None) != (old or None):
                values[name], before[name], after[name] = new, old, new
        sup = supervisor_target(want)
        if desired.supervisors_known and sup != current_supervisor(user):
            supervisors.append((pid, sup))
            before["supervisor"] = users_by_id[user.supervisor_id].email if user.supervisor_id else None
            after["supervisor"] = email_of_pid(sup)
        if not want.active:
            if user.status == UserStatus.ACTIVE:
                deactivate.append((user, "Inactive in Personio.", pid))
            if values:  # keep names and titles current even for leavers
                updates.append(UserUpdate(user.id, values))
                changes.append(Change(ChangeEntity.USER, ChangeAction.UPDATE, want.email, pid, before, after))
                counts["users_updated"] += 1
            continue
        if user.status != UserStatus.ACTIVE:
            values["status"] = UserStatus.ACTIVE
            before["status"], after["status"] = user.status, UserStatus.ACTIVE
            updates.append(UserUpdate(user.id, values))
            changes.append(Change(ChangeEntity.USER, ChangeAction.REACTIVATE, want.email, pid, before, after))
            counts["users_reactivated"] += 1
        elif values or "supervisor" in after:
            if values:
                updates.append(UserUpdate(user.id, values))
            action = ChangeAction.LINK if "personio_id" in values else ChangeAction.UPDATE
            changes.append(Change(ChangeEntity.USER, action, want.email, pid, before, after))
            counts["users_updated"] += 1

    for user in directory.users:
        if user.personio_id is None or user.id in matched_ids or user.status != UserStatus.ACTIVE:
            continue
        if user.personio_id in desired.skipped_ids:
            continue  # a bad record this time: leave the user as it is
        if user.personio_id in desired.out_of_scope:
            deactivate.append(
                (user, "No longer in scope (external employees are not synced).", user.personio_id)
            )
        elif user.personio_id not in desired.users:
            deactivate.append((user, "No longer returned by Personio.", user.personio_id))

    # The last active owner stays active, whatever Personio says.
    active_owners = [u for u in directory.users if u.role == "owner" and u.status == UserStatus.ACTIVE]
    leaving_owner_ids = {u.id for u, _, _ in deactivate if u.role == "owner"}
    if active_owners and all(u.id in leaving_owner_ids for u in active_owners):
        keep = min(active_owners, key=lambda u: u.id)
        deactivate = [d for d in deactivate if d[0].id != keep.id]
        warnings.append(
            SkippedRecord(
                keep.personio_id,
                f"{keep.email} is the last active owner of the organization and stays active.",
            )
        )
    deactivated_ids: set[int] = set()
    for user, reason, leaver_pid in sorted(deactivate, key=lambda d: d[0].id):
        deactivated_ids.add(user.id)
        updates.append(UserUpdate(user.id, {"status": UserStatus.DEACTIVATED}))
        changes.append(
            Change(
                ChangeEntity.USER,
                ChangeAction.DEACTIVATE,
                user.email,
                leaver_pid,
                {"status": UserStatus.ACTIVE},
                {"status": UserStatus.DEACTIVATED, "reason": reason},
            )
        )
        counts["users_deactivated"] += 1

    # --- teams ---------------------------------------------------------------------
    team_plan = plan_teams(desired, directory, final_pid_to_user, deactivated_ids, users_by_id)
    changes.extend(team_plan.changes)
    for key, value in team_plan.counts.items():
        counts[key] += value

    counts["skipped"] = len(warnings)
    active_synced_before = sum(1 for u in directory.users if u.personio_id and u.status == UserStatus.ACTIVE)
    active_after = sum(1 for u in desired.users.values() if u.active)
    return Plan(
        new_users=tuple(new_users),
        user_updates=tuple(updates),
        supervisors=tuple(supervisors),
        new_teams=team_plan.new_teams,
        team_renames=team_plan.renames,
        team_deletes=team_plan.deletes,
        membership_adds=team_plan.adds,
        membership_removes=team_plan.removes,
        membership_roles=team_plan.roles,
        changes=tuple(changes),
        warnings=tuple(warnings),
        counts=dict(counts),
        active_synced_before=active_synced_before,
        active_after=active_after,
    )


def _users_free_to_move(wants: dict[int, str], owner_now: dict[str, int]) -> set[int]:
    """Users whose email change can happen: the new address is free, or its owner moves too.

    A chain that ends at an owner who stays is blocked along its whole length; a cycle
    (two users swapping addresses) moves as a whole (apply parks addresses in between).
    """
    free: set[int] = set()
    for start in wants:
        chain: list[int] = []
        user: int | None = start
        while user is not None and user in wants and user not in free and user not in chain:
            chain.append(user)
            owner = owner_now.get(wants[user])
            user = None if owner in (None, user) else owner
        # The walk ended at: a free address (None), a user known to move, or a cycle back into
        # the chain: all move. A user who is not changing address blocks the chain.
        if user is None or user in free or user in chain:
            free.update(chain)
    return free


def check_safety(plan: Plan, settings: SyncSettings, *, approved: bool = False) -> ErrorInfo | None:
    """The mass-deactivation and empty-source guards. None when the plan may be applied."""
    if approved:
        return None
    if plan.active_synced_before > 0 and plan.active_after == 0:
        return ErrorInfo(
            code=SAFETY_STOP,
            message=(
                f"Personio returned no employee in scope while {plan.active_synced_before} synced users are "
                "active. The run stopped before changing anything."
            ),
            hint=(
                "Check in Personio that the API credentials can read employees and that the sync rules "
                "(external users) are right. If this is intended, approve the run (dashboard, or "
                "`python -m sync run SLUG --approve-safety`)."
            ),
        )
    leaving = plan.counts.get("users_deactivated", 0)
    limit = plan.active_synced_before * settings.safety_threshold_pct / 100
    if leaving >= MIN_DEACTIVATIONS_FOR_SAFETY_STOP and leaving > limit:
        share = round(100 * leaving / max(plan.active_synced_before, 1))
        return ErrorInfo(
            code=SAFETY_STOP,
            message=(
                f"The run would deactivate {leaving} of {plan.active_synced_before} active synced users "
                f"({share}%, more than the safety threshold of {settings.safety_threshold_pct}%). "
                "It stopped before changing anything."
            ),
            hint=(
                "Check the leavers in Personio. If they are right, approve this run once (dashboard, or "
                "`python -m sync run SLUG --approve-safety`); the threshold is a setting of the integration."
            ),
        )
    return None
