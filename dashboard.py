"""Personio Sync dashboard: page config, the login gate and the pages each role may use.

Run with `streamlit run dashboard.py`. Pages are registered per role, so a page a
role may not use does not exist for it. Each role's first page (and the login page)
share the url path `home`: logging in or out lands on the new role's first page
instead of on a page that no longer exists. The page files live in `screens/`, not
`pages/`: Streamlit runs a `pages/` folder beside the entry script as pages of their
own on a server's first script run (any file in it reachable by its name, without
this gate, and every other url path reported as "Page not found").

Signed out, the login page also answers at the signed-in pages' url paths (`history`,
`people`): a link such as `/history?run=12` shows the login, and after it (a page's
identity is its url path, and the query stays in the address) the run.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from screens import _account, _ui
from sync.core.text import markdown_text

# A local file: a material-icon page icon makes every browser fetch a font from a third-party host.
st.set_page_config(
    page_title="Personio Sync", page_icon=str(Path(__file__).parent / "screens" / "icon.png"), layout="wide"
)

HOME = "home"
DEEP_LINK_PATHS = ("history", "people")
who = _ui.gate()  # every rerun: a person who lost access gets the login page
_ui.write_cookie()  # a login or logout of the last run gives the browser its new cookie

if who is None:
    home = st.Page("screens/login.py", title="Log in", icon=":material/login:", url_path=HOME, default=True)
    deep_links = [
        st.Page("screens/login.py", title="Log in", icon=":material/login:", url_path=path)
        for path in DEEP_LINK_PATHS
    ]
    page = st.navigation([home, *deep_links], position="hidden")
elif who.is_staff:
    home = st.Page(
        "screens/support.py",
        title="Organizations",
        icon=":material/support_agent:",
        url_path=HOME,
        default=True,
    )
    runs = st.Page("screens/runs.py", title="Runs", icon=":material/history:", url_path="history")
    page = st.navigation({"Support": [home, runs]})
else:
    home = st.Page(
        "screens/integration.py", title="Integration", icon=":material/tune:", url_path=HOME, default=True
    )
    runs = st.Page("screens/runs.py", title="Runs", icon=":material/history:", url_path="history")
    people = st.Page("screens/directory.py", title="Directory", icon=":material/group:", url_path="people")
    page = st.navigation({"Personio": [home, runs, people]})

if who is not None:
    with st.sidebar:
        st.markdown(f"**{markdown_text(who.name)}**  \n{markdown_text(who.email)}")
        st.caption(
            "Support · all organizations" if who.is_staff else f"Owner · {markdown_text(who.org_name)}"
        )
        if st.button("Log out", icon=":material/logout:", key="logout"):
            if _ui.log_out():
                st.stop()  # the browser leaves for the identity provider, which sends it back here
            st.switch_page(home)
        _account.password_popover(who)

page.run()
