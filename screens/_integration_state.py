"""The Integration page's state: the banner, the Activate and Deactivate dialogs, and Run now.

UI only: activating, deactivating and queueing a run go through `sync.integration.lifecycle`.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from screens import _ui
from sync.core.errors import SAFETY_STOP, SyncError
from sync.core.settings import LANGUAGES
from sync.core.states import IntegrationState, RunStatus
from sync.core.text import markdown_text
from sync.integration.lifecycle import activate, deactivate, run_now
from sync.views.integration import IntegrationView
from sync.views.scheduler import scheduler_status

# Which dialog is open lives in session state (closed by its buttons or by dismissing it), so
# a button inside a dialog works whether Streamlit reruns the dialog alone or the whole page.
OPEN_DIALOG_KEY = "integration_open_dialog"


def close_dialog() -> None:
    if _ui.gate() is None:  # also the dialogs' on_dismiss callback: no access, no action
        return
    st.session_state.pop(OPEN_DIALOG_KEY, None)


@st.dialog("Activate the Personio integration", width="medium", on_dismiss=close_dialog)
def activate_dialog(engine: Engine, current: IntegrationView, *, user_id: int) -> None:
    _ui.require_access(role="owner")  # a click in a dialog reruns only the dialog
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
            run = activate(engine, current.org_id, user_id=user_id)
        except SyncError as error:
            _ui.show_error(error.info)
            return
        close_dialog()
        _ui.flash("success", f"The integration is active. The first run (#{run.id}) has started.")
        st.rerun()


@st.dialog("Deactivate the Personio integration", on_dismiss=close_dialog)
def deactivate_dialog(engine: Engine, org_id: int) -> None:
    _ui.require_access(role="owner")  # a click in a dialog reruns only the dialog
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


def show_open_dialog(engine: Engine, view: IntegrationView, *, user_id: int) -> None:
    """The dialog the owner opened, while it still fits the integration's state; else none."""
    open_dialog = st.session_state.get(OPEN_DIALOG_KEY)
    if (
        open_dialog == "activate"
        and view.state not in (IntegrationState.ACTIVE, IntegrationState.PAUSED)
        and view.tested
    ):
        activate_dialog(engine, view, user_id=user_id)
    elif open_dialog == "deactivate" and view.state in (IntegrationState.ACTIVE, IntegrationState.PAUSED):
        deactivate_dialog(engine, view.org_id)
    else:
        close_dialog()


def queue_run(engine: Engine, org_id: int, *, user_id: int, approve_safety: bool = False) -> None:
    """Queue a run (Run now), flash what happened and rerun the page."""
    try:
        run = run_now(engine, org_id, user_id=user_id, approve_safety=approve_safety)
    except SyncError as error:
        _ui.flash("error", f"{error.message} {error.hint}")
    else:
        if run.status == RunStatus.RUNNING:
            _ui.flash("info", f"Run #{run.id} is already running.")
        else:
            _ui.flash("success", f"Run #{run.id} is queued and starts within seconds.")
    st.rerun()


def draw_banner(engine: Engine, current: IntegrationView, *, user_id: int) -> None:
    """The state (active, paused, not active), the open or last run, and whether a scheduler runs."""
    if current.state == IntegrationState.ACTIVE:
        st.success(
            f"**Active.** Next automatic run {_ui.when(current.next_run_at)} · {current.schedule_text}.",
            icon=":material/check_circle:",
        )
    elif current.state == IntegrationState.PAUSED:
        failed = current.pause_error
        message = failed.message if failed else (current.pause_reason or "a run failed")
        st.warning(
            f"**Paused.** Automatic runs are stopped: {markdown_text(message)}",
            icon=":material/pause_circle:",
        )
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
            queue_run(engine, current.org_id, user_id=user_id, approve_safety=True)
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
        verb = "is running" if run.status == RunStatus.RUNNING else "is queued"
        st.info(
            f"Run #{run.id} {verb} (started {_ui.when(run.queued_at)}). This page updates by itself.",
            icon=":material/autorenew:",
        )
    elif current.last_run is not None:
        run = current.last_run
        icon = (
            ":green[:material/check_circle:]"
            if run.status == RunStatus.SUCCEEDED
            else ":red[:material/cancel:]"
        )
        outcome = "succeeded" if run.status == RunStatus.SUCCEEDED else "failed"
        st.caption(
            f"{icon} Last run #{run.id} {outcome} {_ui.when(run.finished_at)}. Details on the Runs page."
        )

    scheduler = scheduler_status(engine)
    if scheduler.running:
        st.caption(
            f":green[:material/radio_button_checked:] The scheduler is running "
            f"(last heartbeat {_ui.when(scheduler.last_seen)})."
        )
    elif current.state != IntegrationState.INACTIVE or current.open_run is not None:
        st.caption(
            ":orange[:material/radio_button_unchecked:] No scheduler is running, so runs wait until one "
            "starts. Start it with `make run` (or `python -m sync.scheduler`)."
        )
