"""The texts people are sent, in English and German (other languages get English). Pure.

Each function returns a `MessageText`; queueing it is `sync.mail.outbox`, delivery `sync.mail.delivery`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sync.core.errors import SAFETY_STOP, ErrorInfo
from sync.core.states import Trigger


class RunFacts(Protocol):
    """What a message says about a run (a storage.models.Run has these)."""

    id: int | None
    trigger: str
    queued_at: datetime
    started_at: datetime | None


TEMPLATE_LANGUAGES = ("en", "de")


@dataclass(frozen=True)
class MessageText:
    """One email, ready for the outbox."""

    subject: str
    body: str
    language: str


def template_language(language: str) -> str:
    """The language a template exists for: the user's, else English."""
    return language if language in TEMPLATE_LANGUAGES else "en"


def welcome_message(*, language: str, first_name: str, org_name: str, email: str) -> MessageText:
    """The email a user gets when a sync created their account."""
    lang = template_language(language)
    name = first_name.strip() or email
    if lang == "de":
        return MessageText(
            subject=f"Willkommen bei {org_name} auf der Lernplattform",
            body=(
                f"Hallo {name},\n\n"
                f"{org_name} hat für dich ein Konto auf der Lernplattform angelegt.\n\n"
                f"Dein Login: {email}\n"
                "Dein Passwort legst du beim ersten Besuch über „Passwort vergessen?“ fest.\n\n"
                "Dein Konto wird aus Personio gepflegt: Änderungen an Name, E-Mail-Adresse oder Team "
                "übernimmt die Plattform von dort. Fragen dazu beantwortet deine Personalabteilung.\n\n"
                "Viel Freude beim Lernen!\n"
            ),
            language=lang,
        )
    return MessageText(
        subject=f"Welcome to {org_name} on the learning platform",
        body=(
            f"Hello {name},\n\n"
            f"{org_name} has created an account for you on the learning platform.\n\n"
            f"Your login: {email}\n"
            "On your first visit, choose 'Forgot password?' to set your password.\n\n"
            "Your account is kept up to date from Personio: changes to your name, email address or team "
            "come from there. Your HR team can answer questions about it.\n\n"
            "Enjoy learning!\n"
        ),
        language=lang,
    )


def _when(run: RunFacts) -> str:
    moment: datetime = run.started_at or run.queued_at
    return moment.strftime("%Y-%m-%d %H:%M UTC")


_TRIGGER_EN: dict[str, str] = {
    Trigger.AUTOMATIC: "automatic run",
    Trigger.ACTIVATION: "first run after activation",
    Trigger.MANUAL: "manual run",
    Trigger.WEBHOOK: "Personio-change run",
}
_TRIGGER_DE: dict[str, str] = {
    Trigger.AUTOMATIC: "automatische Lauf",
    Trigger.ACTIVATION: "erste Lauf nach der Aktivierung",
    Trigger.MANUAL: "manuelle Lauf",
    Trigger.WEBHOOK: "durch Änderungen in Personio ausgelöste Lauf",
}


def failure_message(
    *,
    language: str,
    org_name: str,
    run: RunFacts,
    error: ErrorInfo,
    would_deactivate: int | None,
    paused: bool = True,
) -> MessageText:
    """The owners' email about a failed run or a safety stop: what, why, what to do, where to look.

    `paused`: whether this failure paused automatic runs (a safety stop of a manual run on an
    integration that is not active pauses nothing, and the email does not claim it).
    """
    lang = template_language(language)
    if error.code == SAFETY_STOP:
        return _safety_stop_message(lang, org_name, run, error, would_deactivate, paused)
    if lang == "de":
        what = _TRIGGER_DE.get(run.trigger, "Lauf")
        return MessageText(
            subject=f"Personio-Synchronisierung für {org_name} fehlgeschlagen (Lauf {run.id})",
            body=(
                "Hallo,\n\n"
                f"der {what} {run.id} der Personio-Synchronisierung für {org_name} "
                f"({_when(run)}) ist fehlgeschlagen. Die Benutzer und Teams wurden nicht verändert.\n\n"
                f"Fehler: {error.message}\n"
                f"Was zu tun ist: {error.hint}\n\n"
                "Automatische Läufe sind pausiert, bis ein manueller Lauf („Jetzt synchronisieren“) "
                "erfolgreich ist oder gespeicherte neue Einstellungen den Test bestehen. Bis dahin "
                "erhältst du zu diesem Problem keine weiteren E-Mails.\n\n"
                f"Details: Dashboard > Runs > Lauf {run.id}.\n"
            ),
            language=lang,
        )
    what = _TRIGGER_EN.get(run.trigger, "run")
    return MessageText(
        subject=f"Personio sync for {org_name} failed (run {run.id})",
        body=(
            "Hello,\n\n"
            f"the {what} {run.id} of the Personio sync for {org_name} ({_when(run)}) failed. "
            "Users and teams were not changed.\n\n"
            f"Error: {error.message}\n"
            f"What to do: {error.hint}\n\n"
            "Automatic runs are paused until a manual run (Run now) succeeds or new settings pass "
            "the Test. Until then you get no further emails about this problem.\n\n"
            f"Details: dashboard > Runs > run {run.id}.\n"
        ),
        language=lang,
    )


def _safety_stop_message(
    lang: str, org_name: str, run: RunFacts, error: ErrorInfo, would_deactivate: int | None, paused: bool
) -> MessageText:
    if lang == "de":
        count = (
            f"Er hätte {would_deactivate} Benutzer deaktiviert"
            if would_deactivate is not None
            else "Er hätte ungewöhnlich viele Benutzer deaktiviert"
        )
        return MessageText(
            subject=f"Personio-Synchronisierung für {org_name}: Sicherheitsstopp (Lauf {run.id})",
            body=(
                "Hallo,\n\n"
                f"der Lauf {run.id} der Personio-Synchronisierung für {org_name} ({_when(run)}) wurde "
                f"angehalten, bevor er etwas verändert hat. {count}.\n\n"
                f"Grund: {error.message}\n"
                f"Was zu tun ist: {error.hint}\n\n"
                "Sind die Deaktivierungen gewollt (zum Beispiel nach einer Umstrukturierung), kann ein "
                "Owner genau diesen Lauf im Dashboard auf der Seite Integration freigeben. Sonst prüfe "
                "in Personio, warum die Mitarbeitenden fehlen (Status, Zugriffsrechte der "
                "API-Zugangsdaten).\n\n"
                + (
                    "Automatische Läufe sind pausiert, bis ein manueller Lauf erfolgreich ist oder neue "
                    "Einstellungen den Test bestehen.\n\n"
                    if paused
                    else ""
                )
                + f"Details: Dashboard > Runs > Lauf {run.id}.\n"
            ),
            language=lang,
        )
    count = (
        f"It would have deactivated {would_deactivate} users"
        if would_deactivate is not None
        else "It would have deactivated an unusually large number of users"
    )
    return MessageText(
        subject=f"Personio sync for {org_name}: safety stop (run {run.id})",
        body=(
            "Hello,\n\n"
            f"run {run.id} of the Personio sync for {org_name} ({_when(run)}) stopped before changing "
            f"anything. {count}.\n\n"
            f"Reason: {error.message}\n"
            f"What to do: {error.hint}\n\n"
            "If the deactivations are expected (for example after a reorganisation), an owner can "
            "approve this one run on the Integration page of the dashboard. Otherwise check in "
            "Personio why the employees are missing (their status, the access rights of the API "
            "credentials).\n\n"
            + (
                "Automatic runs are paused until a manual run succeeds or new settings pass the Test.\n\n"
                if paused
                else ""
            )
            + f"Details: dashboard > Runs > run {run.id}.\n"
        ),
        language=lang,
    )


def repeated_crash_message(
    *,
    language: str,
    org_name: str,
    run: RunFacts,
    previous_run_id: int | None,
    paused: bool,
    for_support: bool,
) -> MessageText:
    """The email about two runs in a row whose process died (lease expired twice): to the owners, or
    (`for_support`) to the support staff, since the cause is most likely on our side.

    `paused`: whether automatic runs were paused by it (an integration that was not active is not).
    """
    lang = "en" if for_support else template_language(language)
    runs_de = f"Läufe {previous_run_id} und {run.id}" if previous_run_id else f"Lauf {run.id}"
    runs_en = f"runs {previous_run_id} and {run.id}" if previous_run_id else f"run {run.id}"
    if for_support:
        return MessageText(
            subject=f"Scheduler died twice in a row on {org_name} ({runs_en})",
            body=(
                "Hello,\n\n"
                f"the process running the Personio sync of {org_name} ended twice in a row before the run "
                f"finished ({runs_en}, the last one {_when(run)}); both leases expired. Nothing was "
                "changed. A process that dies on one organization usually points to that organization's "
                "data (its size, a record the sync cannot handle) or to the machine (memory).\n\n"
                + (
                    "Automatic runs of this organization are paused; its owners were emailed.\n\n"
                    if paused
                    else "Its owners were emailed.\n\n"
                )
                + "What to do: check the scheduler's log and the machine's (out-of-memory kills) around "
                "that time, then ask the owners to click Run now.\n"
                f"Details: dashboard > Runs > run {run.id}.\n"
            ),
            language=lang,
        )
    if lang == "de":
        return MessageText(
            subject=f"Personio-Synchronisierung für {org_name} zweimal abgebrochen ({runs_de})",
            body=(
                "Hallo,\n\n"
                f"die Personio-Synchronisierung für {org_name} wurde zweimal hintereinander abgebrochen, "
                f"bevor sie fertig war ({runs_de}, zuletzt {_when(run)}): der Prozess, der sie "
                "ausführte, wurde beendet. Die Benutzer und Teams wurden nicht verändert.\n\n"
                + (
                    "Automatische Läufe sind pausiert, bis ein manueller Lauf („Jetzt synchronisieren“) "
                    "erfolgreich ist. "
                    if paused
                    else ""
                )
                + "Unser Support wurde informiert und sieht sich die Ursache an; du musst nichts "
                "weiter tun. Bis dahin erhältst du zu diesem Problem keine weiteren E-Mails.\n\n"
                f"Details: Dashboard > Runs > Lauf {run.id}.\n"
            ),
            language=lang,
        )
    return MessageText(
        subject=f"Personio sync for {org_name} stopped twice in a row ({runs_en})",
        body=(
            "Hello,\n\n"
            f"the Personio sync for {org_name} stopped twice in a row before it finished ({runs_en}, the "
            f"last one {_when(run)}): the process running it ended. Users and teams were not changed.\n\n"
            + ("Automatic runs are paused until a manual run (Run now) succeeds. " if paused else "")
            + "Our support team has been told and is looking into the cause; there is nothing else you "
            "need to do. Until then you get no further emails about this problem.\n\n"
            f"Details: dashboard > Runs > run {run.id}.\n"
        ),
        language=lang,
    )
