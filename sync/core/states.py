"""The closed sets of states and kinds the product stores, as enums. Pure: standard library only.

Each is a `StrEnum`: a member is a `str` equal to its value, so it is written to and read from
the database's string columns, compared with what a query returns, used as a dict key and
dumped to JSON exactly as the plain string (`RunStatus.QUEUED == "queued"`). The database keeps
the same strings; nothing is migrated.

Besides the run status, trigger, integration state and a change's entity and action, the user
status and the team member role are here too: the plan, apply and the read models compare
them as literals often. The account role (owner | admin | member) and a user's or team's
source (personio | manual) are not states of the sync and stay plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is: queued, running (claimed with a lease), then succeeded or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Trigger(StrEnum):
    """What queued a run: the schedule, a person (Run now, CLI), the activation of the integration
    or changes Personio announced through its webhooks (near-real-time updates)."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"
    ACTIVATION = "activation"
    WEBHOOK = "webhook"


class IntegrationState(StrEnum):
    """Whether an organization's integration runs on its schedule: inactive -> active <-> paused."""

    INACTIVE = "inactive"
    ACTIVE = "active"
    PAUSED = "paused"


class ChangeEntity(StrEnum):
    """What a planned or applied change is about: a user, a team or a team membership."""

    USER = "user"
    TEAM = "team"
    MEMBERSHIP = "membership"


class ChangeAction(StrEnum):
    """What a change does to its entity.

    user: create | update | link | deactivate | reactivate; team: create | rename | delete;
    membership: add | remove | update (a role).
    """

    CREATE = "create"
    UPDATE = "update"
    LINK = "link"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    RENAME = "rename"
    DELETE = "delete"
    ADD = "add"
    REMOVE = "remove"


class UserStatus(StrEnum):
    """Whether a platform user may sign in and is counted as synced: active or deactivated."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class TeamRole(StrEnum):
    """A user's role in a team: a member or a lead."""

    MEMBER = "member"
    LEAD = "lead"
