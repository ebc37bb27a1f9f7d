"""Runs: every sync run, newest first, with a detail panel for the selected run.

Owners see their organization; support staff pick one organization or all of them.
The table and panel refresh themselves while a run is queued or running.
"""

from __future__ import annotations

import streamlit as st

from screens import _ui
from sync.core.states import RunStatus
from sync.core.text import markdown_text
from sync.views.changes import changes_frame, warnings_frame
from sync.views.integration import addon_enabled
from sync.views.runs import (
    PAGE_SIZE,
    TRIGGER_LABELS,
    RunDetail,
    changes_per_run,
    has_open_run,
    list_runs,
    refresh_seconds,
    run_detail,
    runs_frame,
)
from sync.views.scheduler import scheduler_status
from sync.views.support import organizations_overview

ALL = 0
COUNT_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Users",
        [
            ("users_created", "Created"),
            ("users_updated", "Updated"),
            ("users_deactivated", "Deactivated"),
            ("users_reactivated", "Reactivated"),
        ],
    ),
    ("Teams", [("teams_created", "Created"), ("teams_updated", "Renamed"), ("teams_deleted", "Deleted")]),
    ("Memberships", [("memberships_added", "Added"), ("memberships_removed", "Removed")]),
]

who = _ui.require_access()
engine = _ui.engine()

if who.is_staff:
    orgs = organizations_overview(engine)
    names = {ALL: "All organizations"} | {o.id: o.name for o in orgs}
    head, picker = st.columns([3, 2], vertical_alignment="bottom")
    head.title("Sync runs")
    choice = picker.selectbox("Organization", list(names), format_func=lambda i: names[i], key="runs_org")
    org_id: int | None = None if choice == ALL else int(choice)
else:
    who = _ui.require_access(role="owner")
    org_id = who.org_id
    assert org_id is not None
    st.title("Sync runs")
    if not addon_enabled(engine, org_id):
        st.info(
            "The Personio integration is a paid add-on that is not enabled for your organization. "
            "Your account manager enables it.",
            icon=":material/workspace_premium:",
        )
        st.stop()

show_org = who.is_staff and org_id is None


def draw_detail(detail: RunDetail) -> None:
    with st.container(border=True):
        st.subheader(f"Run #{detail.id} · {detail.status_heading}")
        trigger = TRIGGER_LABELS.get(detail.trigger, detail.trigger)
        by = detail.triggered_by
        st.caption(
            f"{markdown_text(detail.org_name)} · {markdown_text(trigger)} · "
            f"triggered by {markdown_text(by.text)} · queued {_ui.when(detail.queued_at)}"
        )
        if detail.status == RunStatus.QUEUED:
            st.info("Waiting for the scheduler to pick this run up.", icon=":material/hourglass_top:")
            if not scheduler_status(engine).running:
                st.warning(
                    "No scheduler is running, so the run waits. Start it with `make run` "
                    "(or `python -m sync.scheduler`).",
                    icon=":material/warning:",
                )
            return
        if detail.status == RunStatus.RUNNING:
            st.info(
                f"Running since {_ui.when(detail.started_at)}. This panel updates by itself.",
                icon=":material/autorenew:",
            )
            return
        if detail.error is not None:
            _ui.show_error(detail.error)
            st.caption(
                f"Failed {_ui.when(detail.finished_at)} · error code `{detail.error.code}` · "
                f"ran {_ui.duration(detail.started_at, detail.finished_at)}"
            )
            if not detail.changes:
                if detail.pruned_text is not None:
                    st.caption(detail.pruned_text)
                return
        else:
            st.caption(
                f"Finished {_ui.when(detail.finished_at)} · took "
                f"{_ui.duration(detail.started_at, detail.finished_at)}"
            )
        for group, keys in COUNT_GROUPS:
            st.markdown(f"**{group}**")
            for column, (key, label) in zip(st.columns(4), keys, strict=False):
                column.metric(label, detail.counts.get(key, 0))
        if detail.counts.get("skipped"):
            see = "" if detail.pruned_text is not None else " (see Warnings)"
            st.caption(f"{detail.counts['skipped']} Personio records were skipped{see}.")
        if detail.pruned_text is not None:
            st.markdown("**Changes**")
            st.info(detail.pruned_text, icon=":material/auto_delete:")
            return
        st.markdown(f"**Changes** ({detail.changes_total})")
        if detail.changes:
            st.dataframe(
                changes_frame(detail.changes),
                hide_index=True,
                width="stretch",
                height=300,
                column_config={"Change": st.column_config.TextColumn(width="large")},
                key=f"run_changes_{detail.id}",
            )
            if detail.changes_total > len(detail.changes):
                st.caption(f"The first {len(detail.changes)} changes are shown.")
        else:
            st.caption("Nothing changed: Personio and the platform were already in step.")
        if detail.warnings:
            st.markdown(f"**Warnings** ({len(detail.warnings)})")
            st.dataframe(
                warnings_frame(detail.warnings), hide_index=True, width="stretch", key=f"run_warn_{detail.id}"
            )


open_at_start = has_open_run(engine, org_id=org_id)
RUN_PARAM = "run"
SELECTED_KEY = "runs_selected"


def linked_run(selected: int | None) -> int | None:
    """The run whose panel shows: the selected row, else the link's `?run=` (kept in the address,
    so a selected run's address can be shared). Deselecting a row closes the panel."""
    before = st.session_state.get(SELECTED_KEY)
    st.session_state[SELECTED_KEY] = selected
    if selected is not None:
        if st.query_params.get(RUN_PARAM) != str(selected):
            st.query_params[RUN_PARAM] = str(selected)
        return selected
    if before is not None:  # the row was deselected
        st.query_params.pop(RUN_PARAM, None)
        return None
    raw = st.query_params.get(RUN_PARAM, "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@st.fragment(run_every=refresh_seconds(open_run=open_at_start))
def runs_table() -> None:
    _ui.require_access(role=who.kind)  # a click here reruns only this fragment, not the router
    if has_open_run(engine, org_id=org_id) != open_at_start:
        st.rerun()  # a run started or finished: redraw the page, the chart and the timer
    page_key = f"runs_page_{org_id}"
    page_number = int(st.session_state.get(page_key, 1))
    run_page = list_runs(engine, org_id=org_id, page=page_number)
    if page_key in st.session_state and page_number != run_page.page:
        st.session_state[page_key] = run_page.page  # fewer pages than before: show the last one
    if run_page.total == 0:
        st.info(
            "No runs yet. Runs appear here when the integration is activated, on Run now, and on "
            "every scheduled sync.",
            icon=":material/history:",
        )
        return
    table_col, detail_col = st.columns([3, 2], gap="medium")
    with table_col:
        frame = runs_frame(run_page, with_org=show_org)
        event = st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            height=min(38 + 35 * len(frame), 660),
            on_select="rerun",
            selection_mode="single-row",
            key=f"runs_table_{org_id}_{run_page.page}",
            # Status and error first: the table shares the row with the detail panel, so the
            # columns to the right scroll out of view first. Long errors are cut (the panel has all).
            column_config={
                "Status": st.column_config.TextColumn("Status", width=90),
                "Error": st.column_config.TextColumn(
                    "Error",
                    width=300,
                    help="The start of the error: select the run for all of it and the hint.",
                ),
                "Triggered at": st.column_config.DatetimeColumn(
                    "Triggered at (UTC)", format="YYYY-MM-DD HH:mm", width=135
                ),
                "Organization": st.column_config.TextColumn("Organization", width=110),
                "Avatar": st.column_config.ImageColumn("", width=36),
                "Triggered by": st.column_config.TextColumn("Triggered by", width=210),
                "Changes": st.column_config.NumberColumn("Changes", width=72),
                "Run": st.column_config.NumberColumn("Run", format="#%d", width=56),
            },
        )
        first = (run_page.page - 1) * run_page.page_size + 1
        last = first + len(run_page.rows) - 1
        with st.container(horizontal=True, vertical_alignment="center"):
            total = f"{run_page.total:,}"
            st.caption(f"Runs {first} to {last} of {total}, newest first. Select a row for details.")
            if run_page.pages > 1:
                st.number_input(
                    "Page",
                    min_value=1,
                    max_value=run_page.pages,
                    value=run_page.page,
                    step=1,
                    key=page_key,
                    width=140,
                    help=f"{run_page.pages} pages of {PAGE_SIZE} runs",
                )
    rows = event.selection.rows if event is not None else []
    selected = int(frame.iloc[rows[0]]["Run"]) if rows else None
    run_id = linked_run(selected)
    with detail_col:
        if run_id is None:
            with st.container(border=True):
                st.markdown("**Run details**")
                st.caption("Select a run in the table to see what it changed, or why it failed.")
            return
        detail = run_detail(engine, run_id, org_id=None if who.is_staff else org_id)
        if detail is None:
            st.info("That run is no longer available.")
        else:
            draw_detail(detail)


runs_table()

chart = changes_per_run(engine, org_id=org_id)
if not chart.empty:
    st.subheader("Changes per run")
    st.bar_chart(
        chart,
        x="Label",
        y=["Users", "Teams", "Memberships"],
        x_label="Run, finished at (UTC)",
        sort=False,
        y_label="Changes",
        height=260,
    )
