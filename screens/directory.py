"""Directory (owners): the users and teams the platform holds now, searchable."""

from __future__ import annotations

import streamlit as st

from screens import _ui
from sync.core.text import markdown_text
from sync.views.directory import directory_frames, search_frame
from sync.views.exports import csv_bytes

who = _ui.require_access(role="owner")
assert who.org_id is not None
engine = _ui.engine()

st.title("Directory")
st.caption(f"The users and teams of {markdown_text(who.org_name)} on the learning platform, as they are now.")

users, teams = directory_frames(engine, who.org_id)
search = st.text_input(
    "Search", key="directory_search", placeholder="Name, email, job title, team…", icon=":material/search:"
)
users_tab, teams_tab = st.tabs([f"Users ({len(users)})", f"Teams ({len(teams)})"])

with users_tab:
    statuses = st.segmented_control(
        "Status",
        ["Active", "Deactivated"],
        selection_mode="multi",
        default=["Active", "Deactivated"],
        key="directory_status",
    )
    shown = search_frame(users[users["Status"].isin(statuses or ["Active", "Deactivated"])], search)
    st.dataframe(shown, hide_index=True, width="stretch", height=520, key="directory_users")
    st.caption(f"{len(shown)} of {len(users)} users")
    # Our own download (formulas neutralised); the table's built-in one is off (client.disableDataExport).
    st.download_button(
        "Download users (CSV)",
        csv_bytes(shown),
        file_name="directory-users.csv",
        mime="text/csv",
        icon=":material/download:",
        key="directory_users_csv",
        on_click="ignore",
    )

with teams_tab:
    shown_teams = search_frame(teams, search)
    st.dataframe(
        shown_teams,
        hide_index=True,
        width="stretch",
        height=520,
        key="directory_teams",
        column_config={"Member names": st.column_config.TextColumn("Members (names)", width="large")},
    )
    st.caption(f"{len(shown_teams)} of {len(teams)} teams")
    st.download_button(
        "Download teams (CSV)",
        csv_bytes(shown_teams),
        file_name="directory-teams.csv",
        mime="text/csv",
        icon=":material/download:",
        key="directory_teams_csv",
        on_click="ignore",
    )
