"""ui/page_gate.py: one script draws at a time, in order of asking, page runs first."""

from __future__ import annotations

import threading
import time

import pytest

from ui import page_gate
from ui.page_gate import Slots, page_run_slot, slot_released


def _waiter(slots: Slots, name: str, urgent: bool, order: list, started: list) -> threading.Thread:
    def go() -> None:
        started.append(name)
        if slots.acquire(5.0, urgent):
            order.append(name)
            slots.release()

    t = threading.Thread(target=go)
    t.start()
    deadline = time.monotonic() + 5
    while name not in started and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # it is now waiting in line
    return t


def test_slots_serve_in_order_of_asking_with_urgent_askers_first():
    slots = Slots(1)
    assert slots.acquire(0.1)
    order: list[str] = []
    started: list[str] = []
    threads = [_waiter(slots, "refresh-a", False, order, started),
               _waiter(slots, "refresh-b", False, order, started),
               _waiter(slots, "click", True, order, started)]
    slots.release()
    for t in threads:
        t.join(5)
    assert order == ["click", "refresh-a", "refresh-b"]


def test_a_slot_not_granted_in_time_is_not_waited_for_and_leaves_the_line():
    slots = Slots(1)
    assert slots.acquire(0.1)
    t0 = time.monotonic()
    assert not slots.acquire(0.2)
    assert time.monotonic() - t0 >= 0.19
    slots.release()  # nobody in line any more: the slot goes back to the pool
    assert slots.acquire(0.0)
    assert not slots.acquire(0.0)


def test_the_page_slot_is_one_per_thread_and_given_back_on_errors(monkeypatch):
    monkeypatch.setattr(page_gate, "_slots", Slots(1))
    with pytest.raises(RuntimeError), page_run_slot(urgent=True) as outer:
        assert outer
        with page_run_slot() as inner:  # the live fragment inside its page run
            assert inner
        raise RuntimeError("a script that stops half-way (st.rerun, an error)")
    assert page_gate._slots.acquire(0.0), "the slot was not given back"


def test_a_long_job_lets_other_scripts_draw_and_takes_the_slot_back(monkeypatch):
    monkeypatch.setattr(page_gate, "_slots", Slots(1))
    drew = threading.Event()

    def other_script() -> None:
        with page_run_slot(wait_s=5.0) as granted:
            if granted:
                drew.set()

    with page_run_slot(urgent=True):
        other = threading.Thread(target=other_script)
        other.start()
        time.sleep(0.1)
        assert not drew.is_set(), "two scripts drew at once"
        with slot_released():  # building an animation
            assert drew.wait(5), "the other script could not draw during the long job"
        other.join(5)
        assert not page_gate._slots.acquire(0.0), "the slot was not taken back"
    assert page_gate._slots.acquire(0.0)
