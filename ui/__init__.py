"""Reusable Streamlit pieces for the gandemo pages (the engine in ``gandemo/`` never imports these).

* ``common``      — the session's language and translation helpers.
* ``config_form`` — sidebar widgets generated from ``RunConfig`` field specs, presets,
  config upload, URL validation.
* ``run_session`` — a page's run (``Slot``: Train or Compare): create / start / pause / step /
  reset with the stale-click guard and debounce, re-attach by id.
* ``run_view``    — the one live run view of both pages: controls, status line, state box (from
  ``Run.reason``), the live fragment.
* ``page_gate``   — one script draws at a time (clicks first), so a full class cannot stall
  the server's event loop.
* ``panels``      — what it shows: one run's figures or a comparison's grid, replay, exports.
* ``locales/``    — the pages' strings, merged into ``gandemo.i18n`` by ``add_root`` below.
"""

from pathlib import Path

from gandemo.i18n import add_root

# The pages' own strings (ui.*, cmp.*, status.*, …) live here, beside the engine's.
LOCALES_DIR = Path(__file__).parent / "locales"
add_root(LOCALES_DIR)
