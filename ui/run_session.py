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
import time

import streamlit as st

from gandemo import moves
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
    if run is None and st.session_state.get(RUN_KEY) is not None:  # removed by the server
        add_notice("info", tr("ui.run.link_expired"))
    return sync_attached(run, RUN_KEY, RUN_PARAM)


def sync_attached(run: Run | None, key: str, param: str) -> Run | None:
    """Record ``run`` as the session's run under session-state ``key`` and URL ``param`` (both
    cleared when it is None), count it as watched and owned by this session; returns it."""
    if run is None:
        st.session_state.pop(key, None)
        if param in st.query_params:
            del st.query_params[param]
        return None
    st.session_state[key] = run.id
    if st.query_params.get(param) != run.id:
        st.query_params[param] = run.id
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


# Each callback gets what the button meant when it was drawn (the run id, the action, the step),
# so a click on a button drawn for a run that has since been replaced does nothing.
#
# One click can also reach a callback twice: with a run_every fragment refreshing, Streamlit
# 1.67 now and then dispatches a button's callback again in the run after the click (seen
# 0.01-0.7 s later), with the arguments of the button as redrawn by the first dispatch — a
# toggle would undo itself (Pause then Resume) and Step would take two steps. A second
# dispatch of the same button within DEBOUNCE_S of the last one is therefore ignored; no person
# reads a new label and clicks again that fast.
DEBOUNCE_S = 1.0
_CLICKS_KEY = "_control_clicks"


def _debounced(button: str) -> bool:
    """True if ``button`` was handled less than DEBOUNCE_S ago (a duplicate dispatch)."""
    clicks = st.session_state.setdefault(_CLICKS_KEY, {})
    now = time.monotonic()
    if now - clicks.get(button, -DEBOUNCE_S) < DEBOUNCE_S:
        return True
    clicks[button] = now
    return False


def _clicked_run(button: str, run_id: str | None) -> tuple[bool, Run | None]:
    """(is this a click to act on?, the session's run now): not a duplicate dispatch, and the
    session's run is still the one the button was drawn for."""
    run = get_scheduler().get(st.session_state.get(RUN_KEY))
    if (run.id if run is not None else None) != run_id:
        return False, run
    return not _debounced(button), run


def start_label(run: Run | None, cfg: RunConfig | None) -> str:
    """The first button's locale key: "start" (no run yet), "restart" (the settings changed),
    "start_again" (Reset + Start: a run exists and is not training). Continuing a paused run
    is the Resume button's job alone."""
    if settings_changed(run, cfg):
        return "restart"
    return "start_again" if run is not None and not is_active(run) else "start"


def on_start(cfg: RunConfig, run_id: str | None) -> None:
    """Start / Start again / Start with new settings: train a NEW run with ``cfg`` from step 0
    (the session's old run is removed), unless that run is already training ``cfg``."""
    same, run = _clicked_run("start", run_id)
    if not same:
        return
    clear_notices()
    if run is not None and run.cfg == cfg and run.state in ACTIVE_STATES:
        return
    run = _new_run(cfg)
    if run is not None:
        get_scheduler().start(run)


def on_pause(run_id: str | None, action: str) -> None:
    """``pause`` a running or queued run; ``resume`` a paused one (with its own settings)."""
    same, run = _clicked_run("pause", run_id)
    if not same or run is None:
        return
    if action == "pause" and run.state in ACTIVE_STATES:
        get_scheduler().pause(run)
    elif action == "resume" and run.state == PAUSED:
        clear_notices()
        get_scheduler().start(run)


def on_step(cfg: RunConfig, run_id: str | None, step: int) -> None:
    """One iteration of the paused run, in this thread; without a usable run, of a new one."""
    same, run = _clicked_run("step", run_id)
    if not same or (run is not None and run.step != step):
        return
    run = _steppable(cfg, run)
    if run is not None:
        get_scheduler().step_once(run)
        run.touch()


def _steppable(cfg: RunConfig, run: Run | None) -> Run | None:
    """The paused run a Step button acts on: the session's, or a new one when it has none that
    is usable (None while it trains or waits)."""
    clear_notices()
    if run is None or run.state not in (PAUSED, *ACTIVE_STATES):
        run = _new_run(cfg)
    return run if run is not None and run.state == PAUSED else None


MOVE_KEY = "_last_move"  # st.session_state: the last lone move {run, before, after, summary}


def move_mark(run: Run | None) -> tuple[int, int]:
    """(iterations, lone moves) of a run: what a Step D / Step G button was drawn for."""
    if run is None:
        return 0, 0
    return run.step, sum(getattr(run.trainer, "lone_moves", {}).values())


def on_move(cfg: RunConfig, run_id: str | None, player: str, mark: tuple[int, int]) -> None:
    """Step D / Step G: one update of that player alone (``Scheduler.step_once(run, player)``);
    the frames before and after and ``moves.summarize`` of them go to MOVE_KEY (the ghost and
    the sentence under the plot)."""
    same, run = _clicked_run(f"step_{player}", run_id)
    if not same or (run is not None and move_mark(run) != mark):
        return
    run = _steppable(cfg, run)
    if run is None:
        return
    before = run.latest()
    get_scheduler().step_once(run, player)
    run.touch()
    after = run.latest()
    if before is not None and after is not None and after is not before:
        st.session_state[MOVE_KEY] = {"run": run.id, "before": before, "after": after,
                                      "summary": moves.summarize(player, before, after)}


def on_reset(run_id: str | None) -> None:
    """Remove the run; the page goes back to the untrained preview of the current settings."""
    same, _ = _clicked_run("reset", run_id)
    if same:
        clear_notices()
        _drop_current()
