"""Directory (owners): the users and teams the platform holds now, searchable."""

from __future__ import annotations

import streamlit as st

from pages import _ui
from sync.views.directory import directory_frames, search_frame

who = _ui.require_access(role="owner")
assert who.org_id is not None
engine = _ui.engine()

st.title("Directory")
st.caption(f"The users and teams of {who.org_name} on the learning platform, as they are now.")

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
