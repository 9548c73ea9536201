"""The one live view of a run, for the Train page (one run) and the Compare page (a grid of
variants): status line, progress, state box, controls, and the live fragment.

A page names its ``Slot`` (``run_session.TRAIN`` / ``COMPARE``: where the run id lives, the
prefix of the widget keys, the locale keys) and passes what it wants trained (a ``RunConfig``
or ``Variants``). The controls go through ``run_session``'s callbacks, so both pages have the
stale-click guard and the 1 s debounce. Why a run stopped is read from ``Run.reason``.

The live part is ONE top-level ``st.fragment`` whose ``run_every`` is computed before it is
defined: the page's refresh period (REFRESH_S; Compare: its tile period) while the run trains
or waits in line (slower when many runs are watched, see ``Scheduler.refresh_interval``), else
``None``, as in Streamlit's start/stop tutorial. Its cadence follows what the run publishes: a
timed rerun that finds the frame it drew last waits for the next one (``wait_for_frame``), so
reruns that would redraw nothing new do not happen. It reads only what the training thread
published, touches the run (heartbeat) and, when the run stops being active, reruns the whole
page once so the buttons and the refresh follow. What the page shows of the run (figures,
tiles, tables) is its ``body(run, active)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from gandemo.runner import (
    DIVERGED,
    ERROR,
    FINISHED,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    Reason,
    Run,
    get_scheduler,
)
from gandemo.trainer import PLAYERS

from . import run_session as rs
from .common import ordinal, tr, tr_or
from .page_gate import page_run_slot
from .run_session import TRAIN, Slot, Want

REFRESH_S = 0.1  # live refresh while a run is active, both pages (an unchanged chart costs ~0)
# A timed rerun waits at most this long for a new frame: well under the 0.5 s after which
# Streamlit starts to fade the elements a running fragment has not redrawn yet.
WAIT_S = 0.3
FRESH_REFRESH_S = 0.25  # live refresh of a run that has not made its first step yet
POLL_S = 0.02  # how often a waiting rerun looks for a new frame
STATE_ICONS = {
    "ready": ":gray[:material/radio_button_unchecked:]",
    RUNNING: ":green[:material/play_circle:]",
    QUEUED: ":orange[:material/hourglass_top:]",
    PAUSED: ":orange[:material/pause_circle:]",
    FINISHED: ":blue[:material/check_circle:]",
    DIVERGED: ":red[:material/error:]",
    STOPPED: ":gray[:material/stop_circle:]",
    ERROR: ":red[:material/report:]",
}


def total_steps(run: Run | None, want: Want | None) -> int:
    """The last step of the run (of its longest variant), else of what the page would train."""
    if run is not None:
        return rs.settings_of(run).steps
    return want.steps if want is not None else 0


# --------------------------------------------------------------------------- status


def status_line(run: Run | None, want: Want | None, slot: Slot = TRAIN) -> str:
    """``<icon> **state** · step N / TOTAL · R it/s`` (zh: ``进度 N / TOTAL 步``); the numbers
    ``N / TOTAL`` after "step" / "进度" are a contract (tests read them)."""
    state = "ready" if run is None else run.state
    step = 0 if run is None else run.step
    label = tr(slot.key(f"state.{state}"))
    if state == QUEUED and run is not None:
        pos = get_scheduler().position(run)
        if pos:
            label = tr_or(slot.key("state.queued_pos"), label, nth=ordinal(pos))
    line = tr(slot.key("line"), icon=STATE_ICONS.get(state, ""), state=label, step=step,
              total=total_steps(run, want))
    if state == RUNNING and run.iters_per_s > 0:
        line += " · " + tr(slot.key("rate"), rate=f"{run.iters_per_s:,.0f}")
    return line


def state_message(run: Run | None, slot: Slot = TRAIN) -> None:
    """A box for the states that need words: ready, queued, finished, diverged at step N, time
    limit, paused because nobody watched (``Reason.IDLE``), error."""
    box = slot.key("box")
    limits = get_scheduler().limits
    if run is None:
        st.info(tr(f"{box}.ready"), icon=":material/info:")
    elif run.state == QUEUED:
        pos = get_scheduler().position(run) or 1
        st.info(tr(f"{box}.queued", nth=ordinal(pos), pos=pos, max_running=limits.max_running),
                icon=":material/hourglass_top:")
    elif run.reason == Reason.DIVERGED:
        st.error(tr(f"{box}.diverged", step=run.diverged_at or run.step),
                 icon=":material/error:")
    elif run.reason == Reason.ERROR:
        st.error(tr(f"{box}.error", message=run.message), icon=":material/report:")
    elif run.reason == Reason.TIME_LIMIT:
        st.warning(tr(f"{box}.time_limit", seconds=limits.max_run_s),
                   icon=":material/timer_off:")
    elif run.state == PAUSED and run.reason == Reason.IDLE:
        st.info(tr(f"{box}.auto_paused"), icon=":material/visibility_off:")
    elif run.reason == Reason.FINISHED:
        st.success(tr(f"{box}.finished", steps=run.step), icon=":material/check_circle:")


# --------------------------------------------------------------------------- controls


def controls(run: Run | None, want: Want | None, slot: Slot = TRAIN) -> None:
    """Start, Pause/Resume, Step (Train also Step D, Step G), Reset; keys ``<prefix>start``,
    ``pause``, ``step``, (``step_d``, ``step_g``), ``reset``. ``want`` None: nothing valid to
    start (an error in the settings)."""
    active = rs.is_active(run)
    changed = rs.settings_changed(run, want)
    paused = run is not None and run.state == PAUSED
    run_id = run.id if run is not None else None
    start = rs.start_label(run, want)  # when paused, only Resume continues (and is primary)
    text = lambda name: tr(slot.key(f"controls.{name}"))  # noqa: E731
    players = () if slot.comparison else PLAYERS
    cols = iter(st.columns(4 + len(players)))
    next(cols).button(
        text(start), key=f"{slot.prefix}start",
        icon=":material/replay:" if start == "start_again" else ":material/play_arrow:",
        type="secondary" if paused and not changed else "primary", width="stretch",
        disabled=want is None or (active and not changed),
        on_click=rs.on_start, args=(want, run_id, slot), help=text(f"{start}.help"),
    )
    next(cols).button(
        text("resume" if paused else "pause"), key=f"{slot.prefix}pause",
        icon=":material/play_circle:" if paused else ":material/pause:", width="stretch",
        type="primary" if paused and not changed else "secondary",
        disabled=not (active or paused), on_click=rs.on_pause,
        args=(run_id, "resume" if paused else "pause", slot, time.monotonic()),
        help=text("pause.help"),
    )
    next(cols).button(
        text("step"), key=f"{slot.prefix}step", icon=":material/skip_next:", width="stretch",
        disabled=want is None or active, on_click=rs.on_step,
        args=(want, run_id, run.step if run is not None else 0, slot), help=text("step.help"),
    )
    for player in players:  # one player alone (keys step_d, step_g): single runs only
        next(cols).button(
            text(f"step_{player}"), key=f"step_{player}", width="stretch",
            icon=":material/gavel:" if player == "d" else ":material/brush:",
            disabled=want is None or active, on_click=rs.on_move,
            args=(want, run_id, player, rs.move_mark(run)), help=text(f"step_{player}.help"),
        )
    next(cols).button(
        text("reset"), key=f"{slot.prefix}reset", icon=":material/restart_alt:",
        width="stretch", disabled=run is None, on_click=rs.on_reset, args=(run_id, slot),
        help=text("reset.help"),
    )
    if changed:
        st.warning(text("changed"), icon=":material/tune:")


# --------------------------------------------------------------------------- the live view


def wait_for_frame(run: Run, shown: object, timeout: float = WAIT_S,
                   poll: float = POLL_S) -> bool:
    """Wait (at most ``timeout`` s, looking every ``poll`` s) until ``run`` publishes a frame
    other than ``shown`` (``run.latest()`` is a new object per publish) or stops being active.
    True when there is something new to draw."""
    end = time.monotonic() + timeout
    while run.latest() is shown and rs.is_active(run):
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(poll, left))
    return True


def live_view(run: Run | None, want: Want | None, body: Callable[[Run | None, bool], None],
              slot: Slot = TRAIN, refresh_s: float = REFRESH_S) -> None:
    """The auto-refreshing fragment: status line, progress, state box, then ``body(run,
    active)`` — the page's figures of the run as published now; ``refresh_s``: the page's
    refresh period (REFRESH_S; longer where the body changes less often).

    Its cadence follows what the run publishes: a timed rerun that finds the frame it drew last
    waits (``wait_for_frame``, at most WAIT_S) for the next one, so every rerun but the last of
    a run draws a new frame, and reruns requested by the timer meanwhile fold into one."""
    every = get_scheduler().refresh_interval(refresh_s) if rs.is_active(run) else None
    # Under load, a run that has not moved yet is looked at every FRESH_REFRESH_S until it
    # does, then the page is drawn again to take the load-based period: the first step shows
    # without waiting a full period (up to MAX_REFRESH_S in a full class). With few viewers the
    # page's own period is in force: no extra page run (it would redraw every chart).
    fresh = every is not None and every > max(refresh_s, FRESH_REFRESH_S) and run.step == 0
    if fresh:
        every = min(every, FRESH_REFRESH_S)
    inline = [True]  # the fragment runs as part of this page run (a click must not wait)
    shown_key = f"_live_shown_{slot.prefix or 'train'}"

    @st.fragment(run_every=every)
    def live() -> None:
        current = rs.attached_run(slot)  # heartbeat: touch() on every refresh
        if every is not None and not rs.is_active(current):
            st.rerun()  # finished / diverged / paused elsewhere: redraw buttons, stop polling
        if fresh and not inline[0] and current is not None and current.step > 0:
            st.rerun()  # it moved: draw the page with the load-based period
        if current is not None and not inline[0]:
            shown = st.session_state.get(shown_key)
            if shown is not None and shown[0] == current.id:
                wait_for_frame(current, shown[1])
        with page_run_slot():  # a few scripts draw at once (ui/page_gate.py)
            if current is not None:
                st.session_state[shown_key] = (current.id, current.latest())
            with st.container(key=slot.status_key):
                st.markdown(status_line(current, want, slot))
            if current is not None or want is not None:
                total = total_steps(current, want)
                st.progress(min(1.0, (current.step if current else 0) / max(total, 1)))
            with st.container():  # one slot whatever the state: later elements keep their place
                state_message(current, slot)
            body(current, every is not None)

    live()
    inline[0] = False
