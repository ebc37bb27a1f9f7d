"""Integration (owners): credentials, sync rules, team attributes, Save, Test with preview, Activate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from pages import _ui
from storage.clock import utcnow
from sync.errors import SAFETY_STOP, SyncError
from sync.lifecycle import activate, deactivate, run_now
from sync.runner import TestResult, test_integration
from sync.settings import (
    EMAIL_LANGUAGES,
    LANGUAGES,
    TEAM_ATTRIBUTE_LABELS,
    TEAM_ATTRIBUTES,
    InvalidSettings,
    save_settings,
)
from sync.views import IntegrationView, integration_view, scheduler_status, team_examples
from sync.views_changes import PLANNED_LABELS, changes_frame, filter_changes, warnings_frame

TEST_KEY = "integration_test"
SECRET_ROUND_KEY = "integration_secret_round"
REPLACE_SECRET_KEY = "integration_replace_secret"
REFRESH_SECONDS = 2.0
LANGUAGE_NAMES_IN_ENGLISH = {"en": "English", "de": "German", "fr": "French", "es": "Spanish"}


@dataclass(frozen=True)
class StoredTest:
    result: TestResult
    tested_at: Any


who = _ui.require_owner()
engine = _ui.engine()
assert who.org_id is not None
org_id: int = who.org_id
found = integration_view(engine, org_id)
if found is None:
    st.error("Your organization no longer exists.", icon=":material/error:")
    st.info("Log out and ask your account manager.", icon=":material/lightbulb:")
    st.stop()
assert found is not None
view: IntegrationView = found


# --- the add-on gate -------------------------------------------------------------------------

if not view.addon_enabled:
    st.title("Personio integration")
    with st.container(border=True):
        st.subheader("Users and teams straight from Personio")
        st.markdown(
            "The Personio integration keeps your learning platform in step with your HR system: "
            "new employees get an account and a welcome email, changes to names, emails and job titles "
            "follow, leavers are deactivated (never deleted), and teams are built from departments, "
            "teams, offices, supervisors and employment types. You preview every change before "
            "anything happens, and a daily sync does the rest."
        )
        st.info(
            f"The Personio integration is a paid add-on and is not enabled for {view.org_name}. "
            "Your account manager enables it: contact them to get started.",
            icon=":material/workspace_premium:",
        )
    st.stop()


# --- dialogs ---------------------------------------------------------------------------------
# Which dialog is open lives in session state (closed by its buttons or by dismissing it), so
# a button inside a dialog works whether Streamlit reruns the dialog alone or the whole page.

OPEN_DIALOG_KEY = "integration_open_dialog"


def close_dialog() -> None:
    st.session_state.pop(OPEN_DIALOG_KEY, None)


@st.dialog("Activate the Personio integration", width="medium", on_dismiss=close_dialog)
def activate_dialog(current: IntegrationView) -> None:
    language = LANGUAGES.get(current.language, current.language)
    st.markdown(
        f"""When you activate:

- **The first sync run starts now.** It creates, updates and deactivates users and teams
  exactly as the preview of your last Test showed (Personio may have changed since).
- After that, the sync runs **{current.schedule_text}**.
- New users get a welcome email in **{language}**.
- Users are never deleted: people who leave are deactivated. Users you created by hand are
  never touched.
- If a run would deactivate more than {current.safety_threshold_pct}% of the synced users, it
  stops before changing anything and you are emailed.

You can deactivate at any time; settings and history are kept."""
    )
    left, right = st.columns(2)
    if left.button("Cancel", key="activate_cancel", width="stretch"):
        close_dialog()
        st.rerun()
    if right.button("Activate integration", type="primary", key="activate_confirm", width="stretch"):
        try:
            run = activate(engine, org_id, user_id=who.id)
        except SyncError as error:
            _ui.show_error(error.info)
            return
        close_dialog()
        _ui.flash("success", f"The integration is active. The first run (#{run.id}) has started.")
        st.rerun()


@st.dialog("Deactivate the Personio integration", on_dismiss=close_dialog)
def deactivate_dialog() -> None:
    st.markdown(
        "Automatic runs stop. Users and teams stay as they are, and your settings and run history "
        "are kept. You can activate again at any time."
    )
    left, right = st.columns(2)
    if left.button("Cancel", key="deactivate_cancel", width="stretch"):
        close_dialog()
        st.rerun()
    if right.button("Deactivate", type="primary", key="deactivate_confirm", width="stretch"):
        deactivate(engine, org_id)
        close_dialog()
        _ui.flash("success", "The integration is deactivated. No further runs will start.")
        st.rerun()


def queue_run(*, approve_safety: bool = False) -> None:
    try:
        run = run_now(engine, org_id, user_id=who.id, approve_safety=approve_safety)
    except SyncError as error:
        _ui.flash("error", f"{error.message} {error.hint}")
    else:
        if run.status == "running":
            _ui.flash("info", f"Run #{run.id} is already running.")
        else:
            _ui.flash("success", f"Run #{run.id} is queued and starts within seconds.")
    st.rerun()


# --- header: title, actions top right ----------------------------------------------------------

head, actions = st.columns([3, 2], vertical_alignment="bottom")
with head:
    st.title("Personio integration")
    st.caption(f"{view.org_name} · users and teams from Personio, kept in step {view.schedule_text}")
with actions, st.container(horizontal=True, horizontal_alignment="right"):
    if view.state in ("active", "paused"):
        if st.button("Run now", icon=":material/play_arrow:", key="run_now"):
            queue_run()
        if st.button("Deactivate", icon=":material/pause:", key="deactivate"):
            st.session_state[OPEN_DIALOG_KEY] = "deactivate"
    elif st.button(
        "Activate",
        type="primary",
        icon=":material/power_settings_new:",
        key="activate",
        disabled=not view.tested,
        help=None if view.tested else "Save your settings and run a passing Test first.",
    ):
        st.session_state[OPEN_DIALOG_KEY] = "activate"

open_dialog = st.session_state.get(OPEN_DIALOG_KEY)
if open_dialog == "activate" and view.state not in ("active", "paused") and view.tested:
    activate_dialog(view)
elif open_dialog == "deactivate" and view.state in ("active", "paused"):
    deactivate_dialog()
else:
    close_dialog()

_ui.show_flash()


# --- state banner (refreshes itself while a run is queued or running) -------------------------


def draw_banner(current: IntegrationView) -> None:
    if current.state == "active":
        st.success(
            f"**Active.** Next automatic run {_ui.when(current.next_run_at)} · {current.schedule_text}.",
            icon=":material/check_circle:",
        )
    elif current.state == "paused":
        failed = current.pause_error
        message = failed.message if failed else (current.pause_reason or "a run failed")
        st.warning(f"**Paused.** Automatic runs are stopped: {message}", icon=":material/pause_circle:")
        if failed:
            st.info(failed.hint, icon=":material/lightbulb:")
        st.caption(
            "To resume, fix the cause and click Run now: a successful run resumes the schedule "
            "(so does saving settings that pass the Test)."
        )
        if (
            failed
            and failed.code == SAFETY_STOP
            and st.button("Approve these deactivations and run now", key="approve_safety", type="primary")
        ):
            queue_run(approve_safety=True)
    elif not current.configured:
        st.info(
            "**Not active yet.** 1. Enter your Personio API credentials and Save. "
            "2. Test and check the preview. 3. Activate.",
            icon=":material/info:",
        )
    elif not current.tested:
        st.info(
            "**Not active.** Test your settings and check the preview, then Activate.",
            icon=":material/info:",
        )
    else:
        st.info(
            "**Not active.** Your settings passed the Test: Activate to start syncing.",
            icon=":material/info:",
        )

    if current.open_run is not None:
        run = current.open_run
        verb = "is running" if run.status == "running" else "is queued"
        st.info(
            f"Run #{run.id} {verb} (started {_ui.when(run.queued_at)}). This page updates by itself.",
            icon=":material/autorenew:",
        )
    elif current.last_run is not None:
        run = current.last_run
        icon = ":green[:material/check_circle:]" if run.status == "succeeded" else ":red[:material/cancel:]"
        outcome = "succeeded" if run.status == "succeeded" else "failed"
        st.caption(
            f"{icon} Last run #{run.id} {outcome} {_ui.when(run.finished_at)}. Details on the Runs page."
        )

    scheduler = scheduler_status(engine)
    if scheduler.running:
        st.caption(
            f":green[:material/radio_button_checked:] The scheduler is running "
            f"(last heartbeat {_ui.when(scheduler.last_seen)})."
        )
    elif current.state != "inactive" or current.open_run is not None:
        st.caption(
            ":orange[:material/radio_button_unchecked:] No scheduler is running, so runs wait until one "
            "starts. Start it with `make run` (or `python -m sync.scheduler`)."
        )


open_at_start = view.open_run.id if view.open_run else None


@st.fragment(run_every=REFRESH_SECONDS if open_at_start else None)
def banner() -> None:
    current = integration_view(engine, org_id)
    if current is None:
        st.stop()
    assert current is not None
    still_open = current.open_run.id if current.open_run else None
    if still_open != open_at_start:
        st.rerun()  # a run finished or started: redraw the page (buttons, banner, timer)
    draw_banner(current)


banner()
st.divider()


# --- settings --------------------------------------------------------------------------------


def section(title: str, description: str) -> Any:
    left, right = st.columns([1, 2], gap="large")
    with left:
        st.markdown(f"**{title}**")
        st.caption(description)
    return right


secret_round = st.session_state.setdefault(SECRET_ROUND_KEY, 0)
stored_test: StoredTest | None = st.session_state.get(TEST_KEY)
fetched_examples = stored_test.result.team_examples if stored_test else None

with section(
    "Personio API credentials",
    "The integration reads employees through Personio's API with credentials your Personio admin creates.",
):
    with st.expander("How to create API credentials in Personio"):
        st.markdown(
            """1. In Personio, open **Settings > Integrations > API credentials** and click
   **Generate new credentials**.
2. Give them a name (for example "Learning platform") and grant **read access to Employees**.
3. Allow these **employee attributes**:
   - required: **first name, last name, email, status**;
   - optional, for the features you use: **position** (job title), **supervisor**,
     **department**, **team**, **office**, **employment type** (needed to tell internal from
     external employees).
4. Copy the **Client ID** and the **Client Secret** here. Personio shows the secret only once."""
        )
    client_id = st.text_input("Client ID", value=view.client_id, key="integration_client_id")
    replacing = st.session_state.get(REPLACE_SECRET_KEY, False) or not view.has_secret
    new_secret = ""
    if replacing:
        new_secret = st.text_input(
            "Client Secret",
            type="password",
            key=f"integration_client_secret_{secret_round}",
            help="Stored encrypted. It is never shown again, to anyone.",
            placeholder="Paste the new Client Secret" if view.has_secret else "Paste the Client Secret",
        )
        if view.has_secret and st.button("Keep the current secret", key="keep_secret", type="tertiary"):
            st.session_state[REPLACE_SECRET_KEY] = False
            st.rerun()
    else:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(
                f":material/lock: A secret is set (saved {_ui.when(view.secret_set_at, relative=False)})."
            )
            if st.button("Replace", key="replace_secret", type="tertiary", icon=":material/edit:"):
                st.session_state[REPLACE_SECRET_KEY] = True
                st.rerun()
    base_url = st.text_input(
        "API address",
        value=view.base_url,
        key="integration_base_url",
        help="Personio's API is at https://api.personio.de. Change it only for a test system.",
    )

with section(
    "Default language",
    "The language of the welcome email each new user gets, and their language on the platform.",
):
    codes = list(LANGUAGES)
    language = st.selectbox(
        "Default language",
        options=codes,
        index=codes.index(view.language) if view.language in codes else 0,
        format_func=lambda code: LANGUAGES[code],
        key="integration_language",
    )
    written = " and ".join(LANGUAGE_NAMES_IN_ENGLISH.get(c, LANGUAGES[c]) for c in EMAIL_LANGUAGES)
    st.caption(
        f"Welcome emails are written in {written}. For other languages the welcome email is sent "
        "in English, while the user's platform language is still set as chosen."
    )

with section("Synchronization rules", "Which Personio employees become users of the platform."):
    sync_external = st.toggle("Sync external users", value=view.sync_external, key="integration_external")
    st.caption(
        "Internal employees are always synced. External employees (employment type External in "
        "Personio) are synced only when this is on."
    )

with section("User fields", "What the sync keeps up to date for every synced user."):
    for label in ("First name", "Last name", "Email", "Status"):
        st.checkbox(label, value=True, disabled=True, key=f"integration_field_{label}", help="Always synced.")
    sync_job_title = st.checkbox(
        "Job title",
        value=view.sync_job_title,
        key="integration_job_title",
        help="From the Personio attribute 'position'. Switching it off leaves existing titles as they are.",
    )

with section(
    "Team synchronization",
    "Build teams from Personio. Members are the active synced users; teams the sync did not "
    "create are never touched.",
):
    chosen: list[str] = []
    source_note = "from your last Test" if fetched_examples else "examples"
    for attribute in TEAM_ATTRIBUTES:
        examples = team_examples(attribute, fetched_examples)
        if st.checkbox(
            TEAM_ATTRIBUTE_LABELS[attribute],
            value=attribute in view.team_attributes,
            key=f"integration_team_{attribute}",
        ):
            chosen.append(attribute)
        st.caption(f"Creates teams such as {', '.join(f'`{n}`' for n in examples)} ({source_note})")

with section(
    "Safety stop",
    "Protects against mass deactivation, for example when Personio returns too few employees.",
):
    safety = st.number_input(
        "Stop a run that would deactivate more than this share of synced users (%)",
        min_value=1,
        max_value=100,
        value=view.safety_threshold_pct,
        step=1,
        key="integration_safety",
    )
    st.caption("A stopped run changes nothing; you are emailed and can approve it once.")


def pending_changes() -> dict[str, Any]:
    """What the form holds that differs from the saved settings (save_settings keyword arguments)."""
    pending: dict[str, Any] = {}
    if client_id.strip() != view.client_id:
        pending["client_id"] = client_id
    if new_secret.strip():
        pending["client_secret"] = new_secret
    if base_url.strip().rstrip("/") != view.base_url:
        pending["base_url"] = base_url
    if language != view.language:
        pending["language"] = language
    if sync_external != view.sync_external:
        pending["sync_external"] = sync_external
    if sync_job_title != view.sync_job_title:
        pending["sync_job_title"] = sync_job_title
    if tuple(chosen) != view.team_attributes:
        pending["team_attributes"] = chosen
    if int(safety) != view.safety_threshold_pct:
        pending["safety_threshold_pct"] = int(safety)
    return pending


def save(pending: dict[str, Any]) -> bool:
    """Save; on a setting that cannot be used, show why and return False."""
    try:
        save_settings(engine, org_id, **pending)
    except InvalidSettings as invalid:
        st.error(str(invalid), icon=":material/error:")
        st.info("Correct the setting and save again. Nothing was saved.", icon=":material/lightbulb:")
        return False
    if "client_secret" in pending:
        st.session_state[SECRET_ROUND_KEY] = secret_round + 1
        st.session_state[REPLACE_SECRET_KEY] = False
    return True


st.divider()
pending = pending_changes()
with st.container(horizontal=True, vertical_alignment="center"):
    save_clicked = st.button("Save", type="primary", key="save", icon=":material/save:")
    test_clicked = st.button("Test", key="test", icon=":material/science:")
    if pending:
        st.caption("You have unsaved changes. Test saves them first.")
    elif view.tested:
        st.caption(
            ":green[:material/check_circle:] The settings as saved passed a Test "
            f"{_ui.when(view.last_test_ok_at)}."
        )
    elif view.configured:
        st.caption("The settings as saved have not passed a Test yet.")

if save_clicked:
    if not pending:
        st.info("Nothing to save: the settings are as saved.", icon=":material/info:")
    elif save(pending):
        _ui.flash("success", "Settings saved. Run a Test to check them and preview the changes.")
        st.rerun()

if test_clicked and (not pending or save(pending)):
    with st.status("Testing the connection to Personio…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting")

        def on_progress(message: str, fraction: float) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)

        result = test_integration(engine, org_id, on_progress=on_progress)
        status.update(
            label="Test passed" if result.ok else "Test failed",
            state="complete" if result.ok else "error",
            expanded=False,
        )
    st.session_state[TEST_KEY] = StoredTest(result=result, tested_at=utcnow())
    st.rerun()


# --- the last Test: error, or metrics and the preview of every planned change -------------------


def draw_test(stored: StoredTest) -> None:
    result = stored.result
    st.subheader("Test result")
    if result.error is not None:
        _ui.show_error(result.error, prefix="Test failed: ")
    else:
        st.success(
            f"Test passed {_ui.when(stored.tested_at)}: Personio returned {result.employees} employees. "
            "Below is exactly what a run would change now.",
            icon=":material/check_circle:",
        )
        if not view.tested:
            st.warning(
                "The settings changed after this Test. Test again before you activate.",
                icon=":material/warning:",
            )
    if result.error is not None and not result.changes:
        return
    keys = list(PLANNED_LABELS)
    for row in (keys[:5], keys[5:]):
        for column, key in zip(st.columns(5), row, strict=True):
            column.metric(PLANNED_LABELS[key], result.counts.get(key, 0), border=True)

    frame = changes_frame(result.changes)
    st.markdown(f"**Planned changes** ({len(frame)})")
    entity_col, action_col, search_col = st.columns([1, 1, 2])
    entities = entity_col.multiselect(
        "Entity", sorted(frame["Entity"].unique()), key="preview_entity", placeholder="All"
    )
    actions = action_col.multiselect(
        "Action", sorted(frame["Action"].unique()), key="preview_action", placeholder="All"
    )
    search = search_col.text_input("Search", key="preview_search", placeholder="Name, email, team, value…")
    shown = filter_changes(frame, entities=entities, actions=actions, search=search)
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        height=380,
        column_config={"Change": st.column_config.TextColumn(width="large")},
        key="preview_table",
    )
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(f"Showing {len(shown)} of {len(frame)} planned changes.")
        st.download_button(
            "Download CSV",
            shown.to_csv(index=False).encode(),
            file_name="personio-sync-preview.csv",
            mime="text/csv",
            icon=":material/download:",
            key="preview_csv",
            on_click="ignore",
        )
    if result.warnings:
        st.markdown(f"**Warnings** ({len(result.warnings)})")
        st.caption("These Personio records are skipped. Fix them in Personio; the next run picks them up.")
        st.dataframe(
            warnings_frame(result.warnings), hide_index=True, width="stretch", key="preview_warnings"
        )


if stored_test is not None:
    st.divider()
    draw_test(stored_test)
