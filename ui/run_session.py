"""The session's runs: one per page slot (Train, Compare) per browser session, trained by the
shared scheduler.

A ``Slot`` names where a page keeps its run: the session-state key and URL parameter of the run
id (``run_id`` / ``?run=`` for Train, ``cmp_run_id`` / ``?cmp=`` for Compare), the prefix of its
widget keys and its locale keys. What a page asks for (``Want``) is a ``RunConfig`` (one run) or
``Variants`` (a comparison: configs in order, with their display labels). A page refresh — a new
Streamlit session — re-attaches to the same background run through the URL. Every id a session
uses is registered in a session-scoped ``st.cache_resource`` whose release (the session ended)
calls ``Scheduler.detach``: the scheduler removes the run after its grace period unless some page
re-attaches (``Run.touch``) first.

The control functions are button callbacks: they run before the page is drawn, so the buttons,
the status line and the fragment's refresh interval all see the new state in the same rerun.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from gandemo import moves
from gandemo.config import ConfigError, RunConfig
from gandemo.runner import ACTIVE_STATES, PAUSED, ComparisonRun, Run, get_scheduler

from .common import tr
from .config_form import NOTICE_KEY, error_text
from .page_gate import slot_released


@dataclass(frozen=True)
class Variants:
    """The variants of a comparison, in order; ``labels`` (their names in the page's language)
    do not take part in ``==``: a language switch is not a change of settings."""

    configs: tuple[RunConfig, ...]
    labels: tuple[str, ...] = field(default=(), compare=False)

    @property
    def steps(self) -> int:
        return max((c.steps for c in self.configs), default=0)


Want = RunConfig | Variants


@dataclass(frozen=True)
class Slot:
    """Where a page keeps its run and how its widgets and texts are named."""

    run_key: str  # st.session_state key of the run id
    param: str  # URL query parameter of the run id
    prefix: str  # widget keys: f"{prefix}start", f"{prefix}pause", ...
    texts: str  # locale namespace: "ui" (ui.controls.*, ui.status.*) or "cmp"
    notice_key: str  # st.session_state list of (kind, text) messages for the page
    status_key: str  # container key of the status line
    comparison: bool  # runs of this slot are ComparisonRun

    def key(self, text: str) -> str:
        """Locale key of ``text`` in "controls.start", "state.paused", "box.ready", "line",
        "rate" form (Train keeps its states under ui.status.*)."""
        if not text.startswith("controls.") and (self.texts == "ui" or text in ("line", "rate")):
            return f"{self.texts}.status.{text}"
        return f"{self.texts}.{text}"

    def owns(self, run: Run | None) -> bool:
        return run is not None and isinstance(run, ComparisonRun) == self.comparison


TRAIN = Slot("run_id", "run", "", "ui", NOTICE_KEY, "status_line", False)
COMPARE = Slot("cmp_run_id", "cmp", "cmp_", "cmp", "_cmp_notices", "cmp_status", True)
RUN_KEY, RUN_PARAM = TRAIN.run_key, TRAIN.param  # the Train page's (kept for callers)


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


# --------------------------------------------------------------------------- notices


def notices(slot: Slot = TRAIN) -> list[tuple[str, str]]:
    """(kind, text) messages the page shows in its main area until the next action."""
    return st.session_state.setdefault(slot.notice_key, [])


def add_notice(slot: Slot, kind: str, text: str) -> None:
    items = notices(slot)
    if (kind, text) not in items:
        items.append((kind, text))


def clear_notices(slot: Slot = TRAIN) -> None:
    st.session_state[slot.notice_key] = []


# --------------------------------------------------------------------------- attach


def attached_run(slot: Slot = TRAIN) -> Run | None:
    """The slot's run if the scheduler still has it (no URL work: safe inside fragments)."""
    run = get_scheduler().get(st.session_state.get(slot.run_key))
    if not slot.owns(run):
        return None
    run.touch()
    session_runs().add(run.id)
    return run


def current_run(slot: Slot = TRAIN) -> Run | None:
    """The slot's run, re-attaching from the URL after a refresh; keeps the URL in sync. A link
    to a run the server no longer has (or of the other kind) says so once."""
    sched = get_scheduler()
    run_id = st.session_state.get(slot.run_key)
    if run_id is None and st.query_params.get(slot.param):
        run_id = st.query_params[slot.param]
        if not slot.owns(sched.get(run_id)):
            add_notice(slot, "info", tr("ui.run.link_expired"))
    run = sched.get(run_id)
    if not slot.owns(run):
        if st.session_state.get(slot.run_key) is not None:  # removed by the server
            add_notice(slot, "info", tr("ui.run.link_expired"))
        run = None
    return sync_attached(run, slot.run_key, slot.param)


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


def _drop_current(slot: Slot) -> None:
    sched = get_scheduler()
    run = sched.get(st.session_state.pop(slot.run_key, None))
    if slot.owns(run):
        sched.remove(run)
        session_runs().discard(run.id)
    if slot.param in st.query_params:
        del st.query_params[slot.param]


def _create(want: Want) -> Run:
    """A new paused run; its first frame is built where it will train (a worker process): other
    pages draw meanwhile."""
    sched = get_scheduler()
    with slot_released():
        if isinstance(want, Variants):
            return sched.create_comparison(list(want.configs), labels=list(want.labels) or None)
        return sched.create(want)


def _new_run(slot: Slot, want: Want) -> Run | None:
    """Replace the slot's run by a fresh, paused one for ``want``."""
    _drop_current(slot)
    try:
        run = _create(want)
    except ConfigError as err:
        add_notice(slot, "error", config_error(err, slot))
        return None
    st.session_state[slot.run_key] = run.id
    st.query_params[slot.param] = run.id
    session_runs().add(run.id)
    return run


def config_error(err: ConfigError, slot: Slot = TRAIN) -> str:
    """A rejected setting in words: the Train form's message, or Compare's naming the (first)
    setting with names and values as code spans."""
    if not slot.comparison:
        return error_text(err, "form")
    from .common import md_code, tr_or

    return tr("cmp.error.config", setting=tr_or(f"field.{err.name}.label", err.name),
              name=md_code(err.name), detail=md_code(str(err)))


# --------------------------------------------------------------------------- controls


def is_active(run: Run | None) -> bool:
    return run is not None and run.state in ACTIVE_STATES


def settings_of(run: Run) -> Want:
    """What ``run`` trains, comparable with what a page asks for."""
    if isinstance(run, ComparisonRun):
        return Variants(tuple(run.configs), tuple(run.labels))
    return run.cfg


def settings_changed(run: Run | None, want: Want | None) -> bool:
    return run is not None and want is not None and settings_of(run) != want


# Each callback gets what the button meant when it was drawn (the run id, the action, the step),
# so a click on a button drawn for a run that has since been replaced does nothing.
#
# One click can also reach a callback twice: with a run_every fragment refreshing, Streamlit
# 1.67 now and then dispatches a button's callback again in the run after the click (seen
# 0.01-0.7 s later), with the arguments of the button as redrawn by the first dispatch — a
# toggle would undo itself (Pause then Resume) and Step would take two steps. A second
# dispatch of the same button within DEBOUNCE_S of the last one is therefore ignored; no person
# reads a new label and clicks again that fast.
# On a busy server the second dispatch can come later than DEBOUNCE_S; it carries the arguments
# of the button as redrawn right after the first one. So a dispatch of a button that was drawn
# less than DEBOUNCE_S after its last handled click is ignored too, up to LATE_DISPATCH_S after
# that click (the Pause/Resume toggle passes the time it was drawn).
DEBOUNCE_S = 1.0
LATE_DISPATCH_S = 2.5
_CLICKS_KEY = "_control_clicks"


def _debounced(button: str, drawn: float | None = None) -> bool:
    """True if ``button`` was handled less than DEBOUNCE_S ago, or (``drawn``: when the button
    clicked was drawn, ``time.monotonic()``) it was drawn less than DEBOUNCE_S after the last
    handled click and that click is less than LATE_DISPATCH_S old (a duplicate dispatch)."""
    clicks = st.session_state.setdefault(_CLICKS_KEY, {})
    now = time.monotonic()
    last = clicks.get(button, -LATE_DISPATCH_S)
    if now - last < DEBOUNCE_S or (drawn is not None and drawn - last < DEBOUNCE_S
                                   and now - last < LATE_DISPATCH_S):
        return True
    clicks[button] = now
    return False


def _clicked_run(slot: Slot, button: str, run_id: str | None,
                 drawn: float | None = None) -> tuple[bool, Run | None]:
    """(is this a click to act on?, the slot's run now): not a duplicate dispatch, and the
    slot's run is still the one the button was drawn for."""
    run = get_scheduler().get(st.session_state.get(slot.run_key))
    run = run if slot.owns(run) else None
    if (run.id if run is not None else None) != run_id:
        return False, run
    return not _debounced(slot.prefix + button, drawn), run


def start_label(run: Run | None, want: Want | None) -> str:
    """The first button's locale key: "start" (no run yet), "restart" (the settings changed),
    "start_again" (Reset + Start: a run exists and is not training). Continuing a paused run
    is the Resume button's job alone."""
    if settings_changed(run, want):
        return "restart"
    return "start_again" if run is not None and not is_active(run) else "start"


def on_start(want: Want, run_id: str | None, slot: Slot = TRAIN) -> None:
    """Start / Start again / Start with new settings: train a NEW run of ``want`` from step 0
    (the slot's old run is removed), unless that run is already training ``want``. A duplicate
    dispatch carries the same ``want`` and the new run's id: caught by the debounce, which is
    per settings so that a deliberate Start with other settings always counts."""
    same, run = _clicked_run(slot, f"start:{hash(want)}", run_id)
    if not same:
        return
    clear_notices(slot)
    if run is not None and settings_of(run) == want and run.state in ACTIVE_STATES:
        return
    run = _new_run(slot, want)
    if run is not None:
        get_scheduler().start(run)


def on_pause(run_id: str | None, action: str, slot: Slot = TRAIN,
             drawn: float | None = None) -> None:
    """``pause`` a running or queued run; ``resume`` a paused one (with its own settings).
    ``drawn``: when the button was drawn (``time.monotonic()``; see LATE_DISPATCH_S)."""
    same, run = _clicked_run(slot, "pause", run_id, drawn)
    if not same or run is None:
        return
    if action == "pause" and run.state in ACTIVE_STATES:
        get_scheduler().pause(run)
    elif action == "resume" and run.state == PAUSED:
        clear_notices(slot)
        get_scheduler().start(run)


def on_step(want: Want, run_id: str | None, step: int, slot: Slot = TRAIN) -> None:
    """One iteration of the paused run (every variant of a comparison), in this thread;
    without a usable run, of a new one."""
    same, run = _clicked_run(slot, "step", run_id)
    if not same or (run is not None and run.step != step):
        return
    run = _steppable(slot, want, run)
    if run is not None:
        get_scheduler().step_once(run)
        run.touch()


def _steppable(slot: Slot, want: Want, run: Run | None) -> Run | None:
    """The paused run a Step button acts on: the slot's, or a new one when it has none that
    is usable (None while it trains or waits)."""
    clear_notices(slot)
    if run is None or run.state not in (PAUSED, *ACTIVE_STATES):
        run = _new_run(slot, want)
    return run if run is not None and run.state == PAUSED else None


MOVE_KEY = "_last_move"  # st.session_state: the last lone move {run, before, after, summary}


def move_mark(run: Run | None) -> tuple[int, int]:
    """(iterations, lone moves) of a run: what a Step D / Step G button was drawn for."""
    if run is None:
        return 0, 0
    return run.step, sum(run.lone_moves.values())


def on_move(cfg: RunConfig, run_id: str | None, player: str, mark: tuple[int, int]) -> None:
    """Step D / Step G (single runs only): one update of that player alone
    (``Scheduler.step_once(run, player)``); the frames before and after and
    ``moves.summarize`` of them go to MOVE_KEY (the ghost and the sentence under the plot)."""
    same, run = _clicked_run(TRAIN, f"step_{player}", run_id)
    if not same or (run is not None and move_mark(run) != mark):
        return
    run = _steppable(TRAIN, cfg, run)
    if run is None:
        return
    before = run.latest()
    get_scheduler().step_once(run, player)
    run.touch()
    after = run.latest()
    if before is not None and after is not None and after is not before:
        st.session_state[MOVE_KEY] = {"run": run.id, "before": before, "after": after,
                                      "summary": moves.summarize(player, before, after)}


def on_reset(run_id: str | None, slot: Slot = TRAIN) -> None:
    """Remove the run; the page goes back to what it shows before a run (Train: the untrained
    preview of the current settings)."""
    same, _ = _clicked_run(slot, "reset", run_id)
    if same:
        clear_notices(slot)
        _drop_current(slot)
