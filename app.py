"""gandemo: watch toy GANs learn. ``streamlit run app.py``.

The entry point is a router: it sets up the page, draws the shared sidebar (language, about)
and runs the page chosen in ``st.navigation``. Pages live in ``pages/``; a page appears in the
menu only once its file exists.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from gandemo.i18n import LANGUAGES
from ui.common import LANG_KEY, tr

ROOT = Path(__file__).parent
# (page file, locale key of its title, material icon); Train first = the default page.
PAGES = (
    ("pages/train.py", "page.train", ":material/model_training:"),
    ("pages/compare.py", "page.compare", ":material/compare:"),
    ("pages/theory.py", "page.theory", ":material/menu_book:"),
    ("pages/status.py", "page.status", ":material/monitor_heart:"),
)

st.set_page_config(page_title="gandemo", layout="wide")

# ?lang=zh is accepted too (the bound widget itself writes the display name into the URL).
if LANG_KEY not in st.session_state and st.query_params.get(LANG_KEY) in LANGUAGES:
    st.session_state[LANG_KEY] = st.query_params[LANG_KEY]

with st.sidebar:
    st.selectbox(tr("app.lang.label"), list(LANGUAGES), format_func=LANGUAGES.get, key=LANG_KEY,
                 bind="query-params")

pages = [
    st.Page(str(ROOT / path), title=tr(title), icon=icon, default=i == 0)
    for i, (path, title, icon) in enumerate(PAGES)
    if (ROOT / path).exists()
]
page = st.navigation(pages)

with st.sidebar:
    with st.expander(tr("app.about.title"), icon=":material/school:"):
        st.markdown(tr("app.about.body"))

page.run()
