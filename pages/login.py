"""Log in: owners of an organization and support staff."""

from __future__ import annotations

import streamlit as st

from pages import _ui
from sync.accounts.login import LoginRefused, authenticate

_left, centre, _right = st.columns([1, 1.3, 1])
with centre:
    st.space("large")
    st.title("Personio Sync")
    st.caption("Keep your learning platform's users and teams in step with Personio.")
    with st.form("login", border=True):
        email = st.text_input("Email", key="login_email", placeholder="you@company.com")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary", width="stretch")
    if submitted:
        try:
            who = authenticate(_ui.engine(), email, password)
        except LoginRefused as refused:
            st.error(refused.message, icon=":material/block:")
            st.caption(refused.hint)
        else:
            _ui.log_in(who)
            st.rerun()
    st.caption("Organization owners and support staff can log in. Other users use the learning platform.")
