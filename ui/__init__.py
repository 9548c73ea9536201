"""Reusable Streamlit pieces for the gandemo pages (the engine in ``gandemo/`` never imports these).

* ``common``      — the session's language and translation helpers.
* ``config_form`` — sidebar widgets generated from ``RunConfig`` field specs, presets, config upload,
  URL validation.
* ``run_session`` — the session's run handle: create / start / pause / step / reset, re-attach by id.
* ``panels``      — the live status line and figures of one run, replay scrubber, export buttons.
"""
