"""The shared run view (ui/run_view.py) on both pages through AppTest: the Compare page's Step
is one iteration of every variant, and the state box follows ``Run.reason``, not the message.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from gandemo.i18n import t
from gandemo.runner import PAUSED, Reason, get_scheduler

PAGES = {"train": ("", "run_id", "ui.status.box"), "compare": ("cmp_", "cmp_run_id", "cmp.box")}


def open_page(at: AppTest, name: str) -> AppTest:
    if name == "train":
        at.query_params.update(steps="500")
        at.run()
    else:
        at.query_params.update(cmp_losses=["minimax", "hinge"], cmp_levels="balanced",
                               cmp_steps="500")
        at.run()
        at.switch_page("views/compare.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def click(at: AppTest, key: str) -> None:
    at.session_state["_control_clicks"] = {}  # AppTest clicks faster than the debounce allows
    at.button(key=key).click().run()
    assert not at.exception, [e.message for e in at.exception]


@pytest.mark.parametrize("name", list(PAGES))
def test_step_is_one_iteration_of_every_variant(at, name):
    prefix, run_key, _ = PAGES[name]
    open_page(at, name)
    click(at, f"{prefix}step")
    run = get_scheduler().get(at.session_state[run_key])
    assert (run.step, run.state) == (1, PAUSED)
    def steps():  # the step each variant's latest frame shows (the job may be in a worker)
        frames = run.latest() if name == "compare" else [("", run.latest())]
        return [snap.step for _, snap in frames]

    assert steps() == [1] * len(steps())
    click(at, f"{prefix}step")
    assert steps() == [2] * len(steps())


@pytest.mark.parametrize("name", list(PAGES))
def test_the_state_box_reads_the_typed_reason(at, name):
    prefix, run_key, box = PAGES[name]
    open_page(at, name)
    click(at, f"{prefix}step")
    run = get_scheduler().get(at.session_state[run_key])
    seconds = get_scheduler().limits.max_run_s
    get_scheduler().stop(run, "no words a page could match", Reason.TIME_LIMIT)
    at.run()
    assert t(f"{box}.time_limit", "en", seconds=seconds) in [w.value for w in at.warning]
    run.state, run.reason = PAUSED, Reason.IDLE  # as the reaper leaves an unwatched run
    at.run()
    assert t(f"{box}.auto_paused", "en") in [i.value for i in at.info]


def test_a_late_second_dispatch_of_the_toggle_is_ignored(monkeypatch):
    """A busy server can dispatch a click twice, the second time more than DEBOUNCE_S later and
    with the arguments of the button as redrawn after the first: it must not undo the toggle."""
    from types import SimpleNamespace

    from ui import run_session as rs

    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(rs, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(rs.st, "session_state", {})
    assert not rs._debounced("pause")  # Pause, handled at t = 100
    redrawn = 100.2  # the button now reads Resume
    clock.now = 100 + rs.DEBOUNCE_S + 0.5
    assert rs._debounced("pause", drawn=redrawn)  # the late duplicate: ignored
    assert not rs._debounced("other", drawn=None)  # another button counts at once
    clock.now = 100 + rs.LATE_DISPATCH_S + 0.1
    assert not rs._debounced("pause", drawn=redrawn)  # a person's click on Resume counts
    assert rs._debounced("pause", drawn=clock.now)  # and is itself debounced
