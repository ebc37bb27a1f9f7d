"""The signed-in person's own account: change the password, see and end their sessions."""

from __future__ import annotations

import streamlit as st

from screens import _ui
from sync.accounts.login import Principal
from sync.accounts.organizations import AccountError
from sync.accounts.password_change import change_password
from sync.accounts.sessions import list_for_user, revoke_for_account

METHOD_LABELS = {"password": "Password"}


def password_popover(who: Principal) -> None:
    """Change one's own password (the sidebar); every other session of the account ends."""
    with st.popover("Change password", icon=":material/password:", width="stretch"):
        with st.form("change_password", border=False, clear_on_submit=True):
            current = st.text_input("Current password", type="password", key="pw_current")
            new = st.text_input("New password", type="password", key="pw_new", help="At least 8 characters.")
            again = st.text_input("New password again", type="password", key="pw_again")
            submitted = st.form_submit_button("Change password", type="primary")
        if not submitted:
            return
        if _ui.gate() is None:
            st.rerun()
        if new != again:
            st.error("The two new passwords differ.", icon=":material/error:")
            st.caption("Type the same new password twice.")
            return
        try:
            ended = change_password(
                _ui.engine(),
                who,
                current_password=current,
                new_password=new,
                keep_session_id=_ui.current_session_id(),
            )
        except AccountError as refused:
            _ui.show_error(refused.info)
            return
        others = "no other session was open" if ended == 0 else f"{ended} other session(s) ended"
        st.success(f"Your password was changed; {others}.", icon=":material/check_circle:")


def method_label(method: str) -> str:
    if method.startswith("sso:"):
        return f"Single sign-on ({method.removeprefix('sso:')})"
    return METHOD_LABELS.get(method, method)


def sessions_section(who: Principal) -> None:
    """Staff: the active sessions of their own account, each with a button that ends it."""
    st.subheader("Your sessions")
    st.caption(
        "Where your account is logged in now. A session ends at logout, after 60 minutes without "
        "activity, and 12 hours after its login at the latest."
    )
    current = _ui.current_session_id()
    active = list_for_user(_ui.engine(), who)
    if not active:
        st.caption("No active session.")
        return
    with st.container(border=True):
        for item in active:
            text, action = st.columns([5, 1], vertical_alignment="center")
            here = " · **this browser**" if item.id == current else ""
            text.markdown(
                f"{method_label(item.method)}{here}  \n"
                f"Logged in {_ui.when(item.created_at)} · last seen {_ui.when(item.last_seen_at)} · "
                f"ends {_ui.when(item.expires_at)} at the latest"
            )
            if action.button("End", key=f"end_session_{item.id}", icon=":material/logout:"):
                if _ui.gate() is None:
                    st.rerun()
                revoke_for_account(_ui.engine(), who, session_id=item.id)
                _ui.flash("success", "The session was ended." if item.id != current else "You logged out.")
                st.rerun()
