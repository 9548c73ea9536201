"""One script drawing at a time, so a class arriving at once cannot stall the server.

Every Streamlit element a script draws reads the server's configuration under one process-wide
lock (``streamlit.config.get_option``), and so does the server's event loop when it starts each
script run (the new-session message). When 30 students open the page in the same second, 30
script threads hold and queue for that lock while they fight for the GIL, and the event loop —
the thread that answers every browser and ``/_stcore/health`` — waits behind them: measured on 2
cores, health took 1.2–2.3 s in that first second, and the pages were drawn no sooner.

``page_run_slot`` lets ONE script draw at a time: full page runs (``app.py``) and the drawing
part of live-fragment reruns (not their wait for a new frame). A script's Python holds the GIL
anyway, so drawing two at once is no faster; it only makes them queue for that lock. The others
wait in line, first come first served, page runs (a click, a page opened) before fragment
refreshes, so a student's click is not queued behind 30 timers. A thread that holds the slot and
asks again (the live fragment drawn inside its page run) keeps the one it has; a long job that
draws nothing (building an animation) gives it back meanwhile (``slot_released``). A slot not
granted within ``WAIT_S`` is not waited for any longer (the script draws anyway): the gate can
slow a page down, never hang it.

Measured with the classroom load test (30 sessions opening the page together, half on ring8,
2 cores; tests/test_load.py): health worst 1.85–2.3 s → 0.23–0.62 s, every run's first step
seen within 3.3–4.0 s → 2.2 s, the whole class done in 42–47 s → 19 s (server CPU 49–55 s →
24 s). Two slots: health 0.76–0.95 s, first steps 3.1–3.4 s.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

SLOTS = 1
WAIT_S = 10.0


class Slots:
    """``n`` slots handed out in order of asking; ``urgent`` askers are served first."""

    def __init__(self, n: int):
        self._free = n
        self._lock = threading.Lock()
        self._lines: tuple[deque, deque] = (deque(), deque())  # urgent, then the rest

    def acquire(self, wait_s: float, urgent: bool = False) -> bool:
        """Take a slot, waiting at most ``wait_s`` seconds for it; True when taken."""
        with self._lock:
            if self._free and not any(self._lines):
                self._free -= 1
                return True
            turn = threading.Event()
            self._lines[0 if urgent else 1].append(turn)
        if turn.wait(wait_s):
            return True
        with self._lock:
            if turn.is_set():  # handed over just as the wait ran out
                return True
            self._lines[0 if urgent else 1].remove(turn)
            return False

    def release(self) -> None:
        """Give the slot back: to the first in line, else to the pool."""
        with self._lock:
            line = next((q for q in self._lines if q), None)
            if line is None:
                self._free += 1
            else:
                line.popleft().set()


_slots = Slots(SLOTS)
_held = threading.local()  # .depth: how many nested page_run_slot blocks this thread is in


@contextmanager
def page_run_slot(urgent: bool = False, wait_s: float = WAIT_S) -> Iterator[bool]:
    """Hold a drawing slot for the ``with`` body (True when this thread has one); ``urgent``:
    a page run, served before fragment refreshes."""
    depth = getattr(_held, "depth", 0)
    granted = depth > 0 or _slots.acquire(wait_s, urgent)
    _held.depth = depth + 1 if granted else depth
    try:
        yield granted
    finally:
        if granted and _held.depth > 0:  # 0: given back by slot_released and not regained
            _held.depth -= 1
            if _held.depth == 0:
                _slots.release()


@contextmanager
def slot_released(wait_s: float = WAIT_S) -> Iterator[None]:
    """Give this thread's slot (if any) to the others for a long job that draws nothing, and
    take it again (first in line) afterwards."""
    depth = getattr(_held, "depth", 0)
    if depth == 0:
        yield
        return
    _held.depth = 0
    _slots.release()
    try:
        yield
    finally:
        if _slots.acquire(wait_s, urgent=True):
            _held.depth = depth
