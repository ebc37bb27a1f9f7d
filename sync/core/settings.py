"""An integration's choices as plain values: what the rules read, and their vocabulary.

Pure: standard library only. The store that saves and loads them is `sync.integration.settings`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.core.errors import ReadableError

TEAM_ATTRIBUTES: tuple[str, ...] = ("supervisor", "team", "department", "office", "employment_type")
TEAM_ATTRIBUTE_LABELS: dict[str, str] = {
    "supervisor": "Supervisor",
    "team": "Team",
    "department": "Department",
    "office": "Office",
    "employment_type": "Employment type",
}
# Languages a user can have; welcome emails have templates for those in EMAIL_LANGUAGES
# and fall back to English for the others (the settings page says so).
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}
EMAIL_LANGUAGES = ("en", "de")
DEFAULT_SAFETY_THRESHOLD_PCT = 25


@dataclass(frozen=True)
class SyncSettings:
    """What the rules need to know about an integration's choices."""

    language: str = "en"
    sync_external: bool = False
    sync_job_title: bool = True
    team_attributes: tuple[str, ...] = ()
    safety_threshold_pct: int = DEFAULT_SAFETY_THRESHOLD_PCT


class InvalidSettings(ReadableError, ValueError):
    """A setting an owner entered cannot be used; the message says which and why."""

    default_code = "invalid_settings"
