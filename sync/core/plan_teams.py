"""The team half of a plan: which managed teams to create, rename or delete, and who is in them. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sync.core.changes import ROLE_VALUES, Change, MembershipAdd, NewTeam, TeamKey, numeric_first, role_value
from sync.core.directory import Directory, DirectoryTeam, DirectoryUser
from sync.core.rules import DesiredState, DesiredTeam, unique_names
from sync.core.states import ChangeAction, ChangeEntity, TeamRole

# Plain strings in the plan (a TeamRole is hashed and turned into text slower, per membership).
MEMBER, LEAD = TeamRole.MEMBER.value, TeamRole.LEAD.value


@dataclass(frozen=True)
class TeamPlan:
    new_teams: tuple[NewTeam, ...]
    renames: tuple[tuple[int, str], ...]
    deletes: tuple[int, ...]
    adds: tuple[MembershipAdd, ...]
    removes: tuple[tuple[int, int], ...]
    roles: tuple[tuple[int, int, str], ...]
    changes: tuple[Change, ...]
    counts: dict[str, int]


def in_id_order(pids: Iterable[str], rank: dict[str, int]) -> list[str]:
    """Personio ids in the order `numeric_first` gives; `rank` holds the position of the usual ones
    (the desired users, sorted once per plan instead of once per team)."""
    try:
        return sorted(pids, key=rank.__getitem__)
    except KeyError:
        return sorted(pids, key=numeric_first)


def _by_personio_id(members: dict[int, str], pid_of_user: dict[int, str | None]) -> dict[str | None, str]:
    """A team's {user id: role} keyed by Personio id instead (C loops, no Python one per member)."""
    return dict(zip(map(pid_of_user.get, members), members.values(), strict=True))


def plan_teams(
    desired: DesiredState,
    directory: Directory,
    final_pid_to_user: dict[str, int | None],
    deactivated_ids: set[int],
    users_by_id: dict[int, DirectoryUser],
) -> TeamPlan:
    managed: dict[TeamKey, DirectoryTeam] = {
        (t.source_attribute, t.source_key or ""): t for t in directory.teams if t.source_attribute is not None
    }
    unmanaged_names = [t.name for t in directory.teams if t.source_attribute is None]
    final_names = unique_names([t.name for t in desired.teams], taken=unmanaged_names)
    wanted: dict[TeamKey, tuple[DesiredTeam, str]] = {
        (t.attribute, t.key): (t, name) for t, name in zip(desired.teams, final_names, strict=True)
    }
    email = {pid: u.email for pid, u in desired.users.items()}
    rank = {pid: n for n, pid in enumerate(sorted(desired.users, key=numeric_first))}
    membership, added = ChangeEntity.MEMBERSHIP, ChangeAction.ADD
    pid_of_user = {u.id: u.personio_id for u in directory.users}
    changes: list[Change] = []
    counts: Counter[str] = Counter()
    new_teams: list[NewTeam] = []
    renames: list[tuple[int, str]] = []
    deletes: list[int] = []
    adds: list[MembershipAdd] = []
    removes: list[tuple[int, int]] = []
    roles: list[tuple[int, int, str]] = []

    def join(key: TeamKey, name: str, pids: list[str], target: dict[str, str]) -> None:
        """`pids` join the team `key` (called `name`) in the role `target` gives them."""
        adds.extend([MembershipAdd(key, pid, target[pid]) for pid in pids])
        changes.extend(
            [
                Change(
                    membership, added, f"{name} / {email.get(pid, pid)}", pid, None, ROLE_VALUES[target[pid]]
                )
                for pid in pids
            ]
        )
        counts["memberships_added"] += len(pids)

    for key, team in sorted(managed.items(), key=lambda kv: kv[1].id):
        if key not in wanted:
            deletes.append(team.id)
            changes.append(
                Change(
                    ChangeEntity.TEAM,
                    ChangeAction.DELETE,
                    team.name,
                    None,
                    {"name": team.name, "members": len(team.members)},
                    None,
                )
            )
            counts["teams_deleted"] += 1

    will_exist = set(final_pid_to_user)
    for key, (want, name) in wanted.items():
        target: dict[str, str] = dict.fromkeys(want.members, MEMBER)
        if want.leads:
            target.update(dict.fromkeys(want.leads, LEAD))
        # Only users that will exist can be members (a create may have been refused).
        if not (want.members <= will_exist and want.leads <= will_exist):
            for pid in [pid for pid in target if pid not in will_exist]:
                del target[pid]
        current = managed.get(key)
        if current is None:
            if not target:
                continue
            new_teams.append(NewTeam(want.attribute, want.key, name))
            changes.append(
                Change(
                    ChangeEntity.TEAM,
                    ChangeAction.CREATE,
                    name,
                    None,
                    None,
                    {"name": name, "source": want.attribute, "members": len(target)},
                )
            )
            counts["teams_created"] += 1
            join(key, name, in_id_order(target, rank), target)
            continue
        if current.name != name:
            renames.append((current.id, name))
            changes.append(
                Change(
                    ChangeEntity.TEAM, ChangeAction.RENAME, name, None, {"name": current.name}, {"name": name}
                )
            )
            counts["teams_updated"] += 1
        have: dict[int, str] = current.members  # read only
        if deactivated_ids.isdisjoint(have) and _by_personio_id(have, pid_of_user) == target:
            continue  # the usual case: nobody joins, leaves or changes role
        for user_id, role in sorted(have.items()):
            member_pid = pid_of_user.get(user_id)
            if member_pid is None or member_pid not in target or user_id in deactivated_ids:
                removes.append((current.id, user_id))
                changes.append(
                    Change(
                        ChangeEntity.MEMBERSHIP,
                        ChangeAction.REMOVE,
                        f"{name} / {users_by_id[user_id].email}",
                        member_pid,
                        role_value(role),
                        None,
                    )
                )
                counts["memberships_removed"] += 1
            elif target[member_pid] != role:
                roles.append((current.id, user_id, target[member_pid]))
                changes.append(
                    Change(
                        ChangeEntity.MEMBERSHIP,
                        ChangeAction.UPDATE,
                        f"{name} / {users_by_id[user_id].email}",
                        member_pid,
                        role_value(role),
                        role_value(target[member_pid]),
                    )
                )
                counts["teams_updated"] += 1
        have_pids = {pid_of_user.get(uid) for uid in have}
        missing = [pid for pid in target if pid not in have_pids]
        join(key, name, in_id_order(missing, rank), target)

    return TeamPlan(
        new_teams=tuple(new_teams),
        renames=tuple(renames),
        deletes=tuple(deletes),
        adds=tuple(adds),
        removes=tuple(removes),
        roles=tuple(roles),
        changes=tuple(changes),
        counts=dict(counts),
    )
