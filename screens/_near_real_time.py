"""Near-real-time updates (Personio webhooks): the owner's switch on the Integration page, and the
same state, read-only, on the Support page."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from screens import _ui
from sync.core.errors import SyncError
from sync.integration.near_real_time import switch_off, switch_on
from sync.views.integration import NearRealTimeView

WHAT_IT_DOES = (
    "Personio tells the platform about every hire, change and leave as it happens, and a sync "
    "follows within about two minutes instead of at the next scheduled run. The scheduled run stays "
    "as the daily check that catches anything a lost message missed."
)
WHAT_IT_NEEDS = (
    "Needs: an active integration; the scope **personio:webhooks:write** on these API credentials "
    "(Personio: Settings > Integrations > API credentials); and the installation's public webhook "
    "address, set by the operator."
)


def draw_state(view: NearRealTimeView) -> None:
    """On or off, since when, the events received, and the last error with its hint."""
    if view.on:
        st.markdown(f":green[:material/bolt:] **On**: registered in Personio {_ui.when(view.registered_at)}.")
    else:
        st.markdown(":material/schedule: **Off**: changes reach the platform with the scheduled runs.")
    last = _ui.when(view.last_event_at) if view.last_event_at else "never"
    st.caption(f"Last change received: {last} · changes in the last 24 hours: {view.events_24h}")
    if view.left_in_personio and not view.error:
        st.warning(
            "The webhook is still registered in Personio; switching on or off again deletes it.",
            icon=":material/warning:",
        )
    if view.error is not None:
        _ui.show_error(view.error)


def _blocked_because(view: NearRealTimeView) -> str | None:
    if not view.installed:
        return (
            "This installation has no public webhook address yet: ask your account manager "
            "(the operator sets PUBLIC_WEBHOOK_BASE_URL)."
        )
    if not view.can_switch_on:
        return "Test and activate the integration first."
    return None


def draw_switch(engine: Engine, org_id: int, view: NearRealTimeView) -> None:
    """The owner's switch; each click is a rerun of the page, whose gate re-checked access."""
    st.caption(WHAT_IT_DOES)
    st.caption(WHAT_IT_NEEDS)
    draw_state(view)
    if view.on:
        if st.button("Switch off", key="near_real_time_off", icon=":material/toggle_off:"):
            with st.spinner("Deleting the webhook in Personio…"):
                after = switch_off(engine, org_id)
            if after.webhook_error_code:
                _ui.flash(
                    "warning", "Near-real-time updates are off; the webhook could not be deleted in Personio."
                )
            else:
                _ui.flash("success", "Near-real-time updates are off: the webhook in Personio is deleted.")
            st.rerun()
        return
    blocked = _blocked_because(view)
    if st.button(
        "Switch on",
        key="near_real_time_on",
        icon=":material/toggle_on:",
        disabled=blocked is not None,
        help=blocked,
    ):
        try:
            with st.spinner("Registering the webhook in Personio…"):
                switch_on(engine, org_id)
        except SyncError:  # stored with the integration: the state below shows it with its hint
            _ui.flash("error", "Near-real-time updates could not be switched on.")
        else:
            _ui.flash(
                "success",
                "Near-real-time updates are on: changes in Personio now reach the platform within minutes.",
            )
        st.rerun()
    if blocked:
        st.caption(blocked)
