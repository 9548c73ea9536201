"""The session's training run: one per browser session, trained by the shared scheduler.

The run id lives in ``st.session_state["run_id"]`` and in the URL (``?run=<id>``), so a page
refresh — a new Streamlit session — re-attaches to the same background run. Every id a session
uses is registered in a session-scoped ``st.cache_resource`` whose release (the session ended)
calls ``Scheduler.detach``: the scheduler removes the run after its grace period unless some page
re-attaches (``Run.touch``) first.

The control functions are button callbacks: they run before the page is drawn, so the buttons,
the status line and the fragment's refresh interval all see the new state in the same rerun.
"""

from __future__ import annotations

import threading

import streamlit as st

from gandemo.config import ConfigError, RunConfig
from gandemo.runner import ACTIVE_STATES, PAUSED, Run, get_scheduler

from .common import tr
from .config_form import add_notice, clear_notices, error_text

RUN_KEY = "run_id"  # st.session_state key
RUN_PARAM = "run"  # URL query parameter


class SessionRuns:
    """Ids of the runs one browser session created or attached to (thread-safe)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self.export_errors: list[str] = []  # filled by download callables (no st.* there)

    def add(self, run_id: str) -> None:
        with self._lock:
            self._ids.add(run_id)

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._ids.discard(run_id)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._ids)


def _release(holder: SessionRuns) -> None:
    """The session ended: let the scheduler remove its runs after the grace period."""
    sched = get_scheduler()
    for run_id in holder.ids():
        sched.detach(run_id)


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def session_runs() -> SessionRuns:
    return SessionRuns()


# --------------------------------------------------------------------------- attach


def attached_run() -> Run | None:
    """The session's run if the scheduler still has it (no URL work: safe inside fragments)."""
    run = get_scheduler().get(st.session_state.get(RUN_KEY))
    if run is not None:
        run.touch()
        session_runs().add(run.id)
    return run


def current_run() -> Run | None:
    """The session's run, re-attaching from ``?run=`` after a refresh; keeps the URL in sync."""
    sched = get_scheduler()
    run_id = st.session_state.get(RUN_KEY)
    if run_id is None and st.query_params.get(RUN_PARAM):
        run_id = st.query_params[RUN_PARAM]
        if sched.get(run_id) is None:
            add_notice("info", tr("ui.run.link_expired"))
    run = sched.get(run_id)
    if run is None:
        st.session_state.pop(RUN_KEY, None)
        if RUN_PARAM in st.query_params:
            del st.query_params[RUN_PARAM]
        return None
    st.session_state[RUN_KEY] = run.id
    if st.query_params.get(RUN_PARAM) != run.id:
        st.query_params[RUN_PARAM] = run.id
    run.touch()
    session_runs().add(run.id)
    return run


def _attach(run: Run) -> None:
    st.session_state[RUN_KEY] = run.id
    st.query_params[RUN_PARAM] = run.id
    session_runs().add(run.id)


def _drop_current() -> None:
    sched = get_scheduler()
    run = sched.get(st.session_state.pop(RUN_KEY, None))
    if run is not None:
        sched.remove(run)
        session_runs().discard(run.id)
    if RUN_PARAM in st.query_params:
        del st.query_params[RUN_PARAM]


def _new_run(cfg: RunConfig) -> Run | None:
    """Replace the session's run by a fresh, paused one with ``cfg``."""
    _drop_current()
    try:
        run = get_scheduler().create(cfg)
    except ConfigError as err:
        add_notice("error", error_text(err, "form"))
        return None
    _attach(run)
    return run


# --------------------------------------------------------------------------- controls


def is_active(run: Run | None) -> bool:
    return run is not None and run.state in ACTIVE_STATES


def settings_changed(run: Run | None, cfg: RunConfig | None) -> bool:
    return run is not None and cfg is not None and run.cfg != cfg


def on_start(cfg: RunConfig) -> None:
    """Start: resume the paused run with these settings, else train a new run with them."""
    clear_notices()
    sched = get_scheduler()
    run = sched.get(st.session_state.get(RUN_KEY))
    if run is not None and run.cfg == cfg and run.state in ACTIVE_STATES:
        return
    if run is None or run.cfg != cfg or run.state != PAUSED:
        run = _new_run(cfg)
    if run is not None:
        sched.start(run)


def on_pause() -> None:
    """Pause a running or queued run; resume a paused one (with its own settings)."""
    sched = get_scheduler()
    run = sched.get(st.session_state.get(RUN_KEY))
    if run is None:
        return
    if run.state in ACTIVE_STATES:
        sched.pause(run)
    elif run.state == PAUSED:
        clear_notices()
        sched.start(run)


def on_step(cfg: RunConfig) -> None:
    """One iteration of the paused run, in this thread; without a usable run, of a new one."""
    clear_notices()
    sched = get_scheduler()
    run = sched.get(st.session_state.get(RUN_KEY))
    if run is None or run.state not in (PAUSED,) + ACTIVE_STATES:
        run = _new_run(cfg)
    if run is not None and run.state == PAUSED:
        sched.step_once(run)
        run.touch()


def on_reset() -> None:
    """Remove the run; the page goes back to the untrained preview of the current settings."""
    clear_notices()
    _drop_current()
