"""Train page: one GAN trained in the background, streamed live (layout only; see ``ui/``)."""

from __future__ import annotations

import streamlit as st

from ui import config_form as form
from ui import panels, present, run_view
from ui import run_session as rs
from ui.common import tr

form.check_query_params()  # before the bound widgets silently drop an invalid value
panels.page_style()

with st.sidebar:
    st.header(tr("train.sidebar.title"), divider="gray")
    form.preset_picker()
    st.caption(tr("ui.form.caption"))
    values = form.config_form()
    form.config_uploader()

cfg, cfg_error = form.current_config(values)
run = rs.current_run()

st.title(tr("train.title"))
if not present.is_on():  # presentation mode keeps the screen for the plots
    st.caption(tr("train.subtitle"))
for kind, text in form.notices():
    getattr(st, kind)(text)
if cfg_error:
    st.error(cfg_error)
with present.stage(st.session_state.get(form.PRESET_KEY)):  # the preset beside the plots
    run_view.controls(run, cfg)
    run_view.live_view(run, cfg, lambda shown, active: panels.run_panels(shown, cfg, active))
