"""Support (staff): organizations, add-on switch, schedule, scheduler heartbeats, email outbox.

Staff see no client secret here or anywhere: no view returns one.
"""

from __future__ import annotations

import streamlit as st

from screens import _account, _ui
from screens._near_real_time import draw_state
from sync.core.states import IntegrationState
from sync.core.timetable import describe_schedule
from sync.integration.lifecycle import set_addon, set_schedule
from sync.views.integration import near_real_time_view
from sync.views.scheduler import heartbeats_frame, scheduler_status
from sync.views.support import organizations_frame, organizations_overview, outbox_frame, outbox_summary

SCHEDULE_CHOICES: list[int | None] = [None, 1, 2, 3, 4, 6, 8, 12]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


who = _ui.require_access(role="staff")
engine = _ui.engine()

st.title("Organizations")
st.caption("Every customer organization, its Personio add-on and integration, and the scheduler.")
_ui.show_flash()

orgs = organizations_overview(engine)
scheduler = scheduler_status(engine)
outbox = outbox_summary(engine)

metrics = st.columns(5)
metrics[0].metric("Organizations", len(orgs), border=True)
metrics[1].metric("Active integrations", sum(o.state == IntegrationState.ACTIVE for o in orgs), border=True)
metrics[2].metric("Paused", sum(o.state == IntegrationState.PAUSED for o in orgs), border=True)
metrics[3].metric(
    "Scheduler",
    "Running" if scheduler.running else "Not running",
    border=True,
    help=f"Last heartbeat {_ui.when(scheduler.last_seen)}",
)
metrics[4].metric("Emails failing", outbox.failing, border=True, help=f"{outbox.pending} waiting to be sent")

st.dataframe(organizations_frame(orgs), hide_index=True, width="stretch", key="support_orgs")

if orgs:
    st.subheader("Manage an organization")
    by_id = {o.id: o for o in orgs}
    with st.container(border=True):
        chosen_id = st.selectbox(
            "Organization",
            list(by_id),
            format_func=lambda i: f"{by_id[i].name} ({by_id[i].slug})",
            key="support_org",
        )
        org = by_id[chosen_id]
        left, right = st.columns(2, gap="large")
        with left:
            enabled = st.toggle(
                "Personio add-on enabled",
                value=org.addon_enabled,
                key=f"support_addon_{org.id}",
                help="The paid add-on. Owners see the integration only while it is enabled.",
            )
            if enabled != org.addon_enabled:
                set_addon(engine, org.id, enabled)
                _ui.flash(
                    "success",
                    f"The Personio add-on is now {'enabled' if enabled else 'disabled'} for {org.name}.",
                )
                st.rerun()
            labels: dict[str, str] = {
                IntegrationState.INACTIVE: "not active",
                IntegrationState.ACTIVE: "active",
                IntegrationState.PAUSED: "paused",
            }
            state = labels.get(org.state, org.state)
            st.caption(
                f"Integration {state}"
                + ("" if org.configured else ", credentials not entered yet")
                + f" · next run {_ui.when(org.next_run_at) if org.state == 'active' else '—'}"
            )
        with right:
            every = st.selectbox(
                "Schedule",
                SCHEDULE_CHOICES,
                index=SCHEDULE_CHOICES.index(org.schedule_every_hours)
                if org.schedule_every_hours in SCHEDULE_CHOICES
                else 0,
                format_func=lambda hours: _sentence(describe_schedule(hours)),
                key=f"support_schedule_{org.id}",
            )
            if every != org.schedule_every_hours:
                set_schedule(engine, org.id, every)
                _ui.flash("success", f"{org.name} now syncs {describe_schedule(every)}.")
                st.rerun()
        st.markdown("**Near-real-time updates**")
        draw_state(near_real_time_view(engine, org.id, now=_ui.now()))
        if st.button("Open this organization's runs", icon=":material/history:", key="support_open_runs"):
            st.session_state["runs_org"] = org.id
            st.switch_page("screens/runs.py")

st.subheader("Scheduler")
if scheduler.running:
    st.success(
        f"Running: {scheduler.live_instances} instance(s), last heartbeat {_ui.when(scheduler.last_seen)}.",
        icon=":material/check_circle:",
    )
else:
    st.warning(
        "No scheduler is running: queued and scheduled runs wait. Start one with `make run` "
        "(or `python -m sync.scheduler`).",
        icon=":material/warning:",
    )
beats = heartbeats_frame(engine)
if not beats.empty:
    st.dataframe(beats, hide_index=True, width="stretch", key="support_heartbeats")

st.subheader("Email outbox")
st.caption(
    f"{outbox.sent} sent · {outbox.pending} waiting · {outbox.failing} failing. "
    "An email leaves the outbox only when the mail server accepted it."
)
only_failures = st.toggle("Only failures", value=outbox.failing > 0, key="support_outbox_failures")
emails = outbox_frame(engine, failures_only=only_failures)
if emails.empty:
    st.caption("No failed emails." if only_failures else "No emails yet.")
else:
    st.dataframe(
        emails,
        hide_index=True,
        width="stretch",
        key="support_outbox",
        column_config={"Last error": st.column_config.TextColumn(width="large")},
    )

_account.sessions_section(who)
