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
