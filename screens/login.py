"""Log in: owners of an organization and support staff, by password or by single sign-on."""

from __future__ import annotations

import streamlit as st

from screens import _ui
from sync.accounts.login import LoginRefused, authenticate

_left, centre, _right = st.columns([1, 1.3, 1])
with centre:
    st.space("large")
    st.title("Personio Sync")
    st.caption("Keep your learning platform's users and teams in step with Personio.")
    _ui.show_why_logged_out()
    providers = _ui.sso_providers()
    for provider in providers:  # only what .streamlit/secrets.toml configures
        if st.button(provider.label, key=f"sso_{provider.name}", icon=":material/key:", width="stretch"):
            st.login(provider.name)
    if providers:
        st.caption("Or log in with your email and password:")
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
