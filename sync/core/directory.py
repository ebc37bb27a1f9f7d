"""The platform's directory as the plan sees it: one organization's users and teams, as values.

Pure: standard library only. `sync.integration.snapshot` reads it from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: int
    email: str
    first_name: str
    last_name: str
    job_title: str | None
    status: str  # active | deactivated
    role: str
    personio_id: str | None
    supervisor_id: int | None
    source: str
    # The address as it is matched (case-insensitive); the plan reads it several times per user.
    email_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "email_key", self.email.lower())


@dataclass(frozen=True, slots=True)
class DirectoryTeam:
    id: int
    name: str
    source_attribute: str | None
    source_key: str | None
    members: dict[int, str]  # user id -> member | lead

    @property
    def managed(self) -> bool:
        return self.source_attribute is not None


@dataclass(frozen=True, slots=True)
class Directory:
    users: tuple[DirectoryUser, ...]
    teams: tuple[DirectoryTeam, ...]
    # The SHA-256 of the rows the snapshot was read from (`sync.integration.snapshot`); "" when the
    # directory was made some other way. The same digest means the same directory.
    digest: str = field(default="", compare=False)
