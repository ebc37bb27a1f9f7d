"""Integration (owners): credentials, sync rules, team attributes, Save, Test with preview, Activate."""

from __future__ import annotations

from typing import Any

import streamlit as st

from screens import _ui
from screens._integration_state import OPEN_DIALOG_KEY, draw_banner, queue_run, show_open_dialog
from screens._near_real_time import draw_switch
from screens._test_preview import StoredTest, draw_test
from sync.core.settings import (
    EMAIL_LANGUAGES,
    LANGUAGES,
    TEAM_ATTRIBUTE_LABELS,
    TEAM_ATTRIBUTES,
    InvalidSettings,
)
from sync.core.states import IntegrationState
from sync.core.text import markdown_text
from sync.integration.preview import test_integration
from sync.integration.settings import save_settings
from sync.views.integration import IntegrationView, integration_view, near_real_time_view, team_examples

TEST_KEY = "integration_test"
SECRET_ROUND_KEY = "integration_secret_round"
REPLACE_SECRET_KEY = "integration_replace_secret"
REFRESH_SECONDS = 2.0
LANGUAGE_NAMES_IN_ENGLISH = {"en": "English", "de": "German", "fr": "French", "es": "Spanish"}


who = _ui.require_access(role="owner")
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
            "The Personio integration is a paid add-on and is not enabled for "
            f"{markdown_text(view.org_name)}. Your account manager enables it: contact them to get started.",
            icon=":material/workspace_premium:",
        )
    st.stop()


# --- header: title, actions top right ----------------------------------------------------------

head, actions = st.columns([3, 2], vertical_alignment="bottom")
with head:
    st.title("Personio integration")
    st.caption(
        f"{markdown_text(view.org_name)} · users and teams from Personio, kept in step {view.schedule_text}"
    )
with actions, st.container(horizontal=True, horizontal_alignment="right"):
    if view.state in (IntegrationState.ACTIVE, IntegrationState.PAUSED):
        if st.button("Run now", icon=":material/play_arrow:", key="run_now"):
            queue_run(engine, org_id, user_id=who.id)
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

show_open_dialog(engine, view, user_id=who.id)

_ui.show_flash()


# --- state banner (refreshes itself while a run is queued or running) -------------------------

open_at_start = view.open_run.id if view.open_run else None


@st.fragment(run_every=REFRESH_SECONDS if open_at_start else None)
def banner() -> None:
    _ui.require_access(role="owner")  # a click here reruns only this fragment, not the router
    current = integration_view(engine, org_id)
    if current is None:
        st.stop()
    assert current is not None
    still_open = current.open_run.id if current.open_run else None
    if still_open != open_at_start:
        st.rerun()  # a run finished or started: redraw the page (buttons, banner, timer)
    draw_banner(engine, current, user_id=who.id)


banner()
st.divider()


def section(title: str, description: str) -> Any:
    left, right = st.columns([1, 2], gap="large")
    with left:
        st.markdown(f"**{title}**")
        st.caption(description)
    return right


# --- near-real-time updates (acts at once: not part of Save) ---------------------------------

with section("Near-real-time updates", "Changes in Personio reach the platform within about two minutes."):
    draw_switch(engine, org_id, near_real_time_view(engine, org_id, now=_ui.now()))
st.divider()


# --- settings --------------------------------------------------------------------------------


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
    if view.has_secret and base_url.strip().rstrip("/") != view.base_url and not new_secret.strip():
        st.warning(
            "A new API address clears the saved Client Secret: the secret is only ever sent to the "
            "address it was entered for. Enter it again after saving.",
            icon=":material/key_off:",
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
        st.caption(
            f"Creates teams such as {', '.join(f'“{markdown_text(n)}”' for n in examples)} ({source_note})"
        )

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
        if "base_url" in pending and "client_secret" not in pending and view.has_secret:
            _ui.flash(
                "warning",
                "Settings saved. The API address changed, so the Client Secret was cleared: enter it again.",
            )
        else:
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
    st.session_state[TEST_KEY] = StoredTest(result=result, tested_at=_ui.now())
    st.rerun()


# --- the last Test: error, or metrics and the preview of every planned change -------------------

if stored_test is not None:
    st.divider()
    draw_test(stored_test, settings_tested=view.tested)
