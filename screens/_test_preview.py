"""The Integration page's last Test: its error, or the metrics and a preview of every planned change.

UI only: the Test runs in `sync.integration.preview`; the change text comes from `sync.views.changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from screens import _ui
from sync.integration.preview import TestResult
from sync.views.changes import PLANNED_LABELS, changes_frame, filter_changes, warnings_frame
from sync.views.exports import csv_bytes


@dataclass(frozen=True)
class StoredTest:
    """A Test's result and when it ran, kept in session state until the next Test."""

    result: TestResult
    tested_at: Any


def draw_test(stored: StoredTest, *, settings_tested: bool) -> None:
    """The Test result; `settings_tested` says whether a passing Test still covers the saved settings."""
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
        if not settings_tested:
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
            csv_bytes(shown),
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
