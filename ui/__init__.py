"""Reusable Streamlit pieces for the gandemo pages (the engine in ``gandemo/`` never imports these).

* ``common``      — the session's language and translation helpers.
* ``config_form`` — sidebar widgets generated from ``RunConfig`` field specs, presets,
  config upload, URL validation.
* ``run_session`` — a page's run (``Slot``: Train or Compare): create / start / pause / step /
  reset with the stale-click guard and debounce, re-attach by id.
* ``run_view``    — the one live run view of both pages: controls, status line, state box (from
  ``Run.reason``), the live fragment.
* ``panels``      — what it shows: one run's figures or a comparison's grid, replay, exports.
"""

from streamlit.runtime.pages_manager import PagesManager

# Because a pages/ folder exists next to app.py, Streamlit serves the first script run of the
# process through its legacy "pages directory" wrapper and switches to st.navigation only when
# app.py has called it. In that first run widgets get other ids than in every later run, so the
# first visitor of a freshly started server would lose the settings from their link (and the
# language) at their first click, and a first visit straight to /status would skip app.py.
# Leave the legacy mode as soon as any page imports this package (internal API, Streamlit 1.67);
# app.py starts that one wrapped run over (``legacy_first_run``).
_legacy_run = bool(PagesManager.uses_pages_directory)
PagesManager.uses_pages_directory = False


def legacy_first_run() -> bool:
    """True once if the run that imported this package went through the legacy wrapper."""
    global _legacy_run
    was, _legacy_run = _legacy_run, False
    return was
