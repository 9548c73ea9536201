"""gandemo: watch toy GANs learn. ``streamlit run app.py``.

The entry point is a router: it sets up the page, draws the shared sidebar (language, about)
and runs the page chosen in ``st.navigation``. Pages live in ``views/`` (not ``pages/``, a name
Streamlit would auto-discover as a legacy multipage folder); a page appears in the
menu only once its file exists. The whole page run holds the drawing slot of
``ui/page_gate.py`` (one script draws at a time, page runs before live refreshes).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from gandemo.i18n import DEFAULT_LANG, LANGUAGES
from gandemo.runner import get_scheduler
from ui import present
from ui.common import LANG_KEY, tr
from ui.page_gate import page_run_slot

ROOT = Path(__file__).parent
# (page file, locale key of its title, material icon); Train first = the default page.
PAGES = (
    ("views/train.py", "page.train", ":material/model_training:"),
    ("views/compare.py", "page.compare", ":material/compare:"),
    ("views/theory.py", "page.theory", ":material/menu_book:"),
    ("views/dynamics.py", "page.dynamics", ":material/cyclone:"),
    ("views/status.py", "page.status", ":material/monitor_heart:"),
)


def main() -> None:
    """The shared sidebar, then the chosen page."""
    # An emoji favicon is drawn in the page (a data: URL); without page_icon the browser fetches
    # the page's material icon from fonts.gstatic.com (tests/test_no_outbound.py).
    st.set_page_config(page_title="gandemo", page_icon="🎲", layout="wide")
    # The first page view starts the training workers before it draws: their imports (≈ 2 s)
    # run while this page is built, so the first Start does not wait for them.
    get_scheduler()

    # The language lives in session state (key "lang") for every page and in the URL as ?lang=zh.
    # It is bound by hand rather than with bind="query-params": a bound selectbox writes its
    # display name into the URL (?lang=简体中文) and ignores ?lang=zh, the spelling people type.
    if LANG_KEY not in st.session_state:
        from_url = st.query_params.get(LANG_KEY)
        by_name = {name: code for code, name in LANGUAGES.items()}
        st.session_state[LANG_KEY] = by_name.get(from_url, from_url if from_url in LANGUAGES
                                                 else DEFAULT_LANG)

    present.init()  # ?present=1 (or 720): presentation mode, see ui/present.py
    with st.sidebar:
        st.selectbox(tr("app.lang.label"), list(LANGUAGES), format_func=LANGUAGES.get, key=LANG_KEY)
        present.sidebar_toggle()
    pages = [
        st.Page(str(ROOT / path), title=tr(title), icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(PAGES)
        if (ROOT / path).exists()
    ]
    page = st.navigation(pages)
    if st.session_state[LANG_KEY] == DEFAULT_LANG:
        if LANG_KEY in st.query_params:
            del st.query_params[LANG_KEY]
    elif st.query_params.get(LANG_KEY) != st.session_state[LANG_KEY]:
        st.query_params[LANG_KEY] = st.session_state[LANG_KEY]

    with st.sidebar:
        with st.expander(tr("app.about.title"), icon=":material/school:"):
            st.markdown(tr("app.about.body"))
    present.sync_url()
    present.apply()

    page.run()


# One script draws at a time, page runs first (ui/page_gate.py: a class arriving together).
with page_run_slot(urgent=True):
    main()
