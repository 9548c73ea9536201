"""Background training: every started run time-sliced over a small pool of workers.

* A ``Run`` stands for one ``Trainer`` (a ``ComparisonRun`` for a ``Comparison``), which lives
  in a host (``gandemo.hosts``): a worker process of its own (``Limits.processes``, the server's
  default) or this process. Calls to it return immutable results (latest ``Snapshot``, a thinned
  list of past frames for replay, the history as arrays); viewers only read those.
* The ``Scheduler`` owns ``workers`` threads (default: the CPU count, env ``GANDEMO_WORKERS``),
  with worker processes one process each: a run stays in the process it was created in, and
  that process's thread trains it (a run no worker process could take trains in this process,
  by any worker thread). Starting the workers sets up this process for training
  (``tuning.train_here``: one torch thread, the heap kept; nothing happens at import); a worker
  process does so itself.
  Every started run trains: the runs share the workers round-robin in
  slices of ``slice_s`` seconds (at least one step), so each gets 1/n of the workers and all of
  them move. A run just started (or resumed) goes first, for one step, so its counter moves
  within one step of the slowest running slice. A run waits in a FIFO line, with the reason in
  ``Run.message``, only when the memory the server gives training (``Limits.memory_mb``, env
  ``GANDEMO_MEMORY_MB``, default 3/4 of the available RAM) or the count ``GANDEMO_MAX_RUNNING``
  is in use; each run's memory is predicted from its settings (``gandemo.limits``). The
  workers (threads or processes) run WORKER_NICE steps nicer than the web server (Linux), so
  on a busy machine the event loop and the pages get the CPU first and training takes what is
  left.
* Limits per run (``gandemo.limits.Limits``): sizes, the predicted cost of one step and of one
  snapshot, wall-clock training time, history rows (thinned by 2 when full) and frames.
* Cleanup: a running run whose viewer stopped polling for ``heartbeat_s`` is paused; a run whose
  session ended (``detach``) is removed after ``grace_s`` unless a page re-attaches to it by id;
  any run untouched for ``idle_s`` is removed; freed memory is handed back to the OS.
* Why a run ended or paused: ``Run.reason`` (a ``Reason``) next to the readable ``Run.message``.
No Streamlit here: pages call these methods; the workers never call back into the UI.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import replace
from enum import StrEnum

import numpy as np

from .compare import variant_labels
from .config import ConfigError, RunConfig
from .hosts import (
    Frame,
    HostLost,
    Job,
    LocalHost,
    ProcessHost,
    Progress,
    Rows,
    Spec,
)
from .limits import Cost, Limits, step_work  # noqa: F401 (Limits, step_work: re-exported)
from .snapshot import Snapshot
from .tuning import release_memory, train_here

RUNNING, QUEUED, PAUSED = "running", "queued", "paused"
FINISHED, DIVERGED, STOPPED, ERROR = "finished", "diverged", "stopped", "error"
ACTIVE_STATES = (RUNNING, QUEUED)
RUN_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_VARIANTS = 12  # variants in one comparison
VIEWERS_AT_BASE = 4  # runs whose frames are published at the full rate (publish_period)
# The server's budget of live-view reruns per second, all tabs together: with training in worker
# processes, 20 kept the 30-session load test's class time and health (8.3-10.3 s, worst 0.2-0.3 s)
# and refreshes 30 watched tabs every 1.5 s (10: 3 s); 30 or 60 cost the class ~2 s more.
LIVE_REFRESHES_PER_S = 20.0
VIEWER_WINDOW_S = 5.0  # a run touched this recently counts as watched
MAX_REFRESH_S = 3.0  # slowest live refresh under load
RATE_WINDOW_S = 5.0  # the effective rate is measured over this much wall-clock time
# A run alone on its worker process trains this long per turn (frames stream meanwhile): the
# round trip to the process between turns then costs ~1 % instead of a third of the time with a
# busy web server (measured: 0.65 CPU for training with 50 ms turns and the Train page open).
ALONE_SLICE_S = 0.5
WORKER_NICE = 10  # training workers run this much nicer than the web server (Linux)


class Reason(StrEnum):
    """Why a run ended or was paused by the server (``Run.reason``; None while it may go on)."""

    FINISHED = "finished"  # reached its last step
    DIVERGED = "diverged"  # a loss or gradient became NaN/Inf
    TIME_LIMIT = "time_limit"  # the server's training-time limit per run
    IDLE = "idle"  # nobody watched it (paused) or its page was closed (removed)
    STOPPED = "stopped"  # stopped by its page or by the server shutting down
    ERROR = "error"  # an exception while training


class Run:
    """One training run. Control methods are thread-safe; results are published, read-only.

    Its job (``Trainer``) lives in ``host`` (``gandemo.hosts``): in this process or in a worker
    process. The run keeps what the job published (latest frame, thinned frames for replay, the
    history as arrays) and the job's status as of its last call."""

    def __init__(self, cfg: RunConfig, limits: Limits, run_id: str | None = None,
                 cost: Cost | None = None, host: LocalHost | ProcessHost | None = None):
        self.id = run_id or secrets.token_urlsafe(6)
        self.cfg = cfg
        self.limits = limits
        self.cost = cost if cost is not None else limits.cost(cfg)
        self.host = host if host is not None else LocalHost()
        self.state = PAUSED
        self.message = ""  # readable: why it ended, paused or waits (pages show it)
        self.reason: Reason | None = None  # typed: why it ended or was paused by the server
        self.created = self.last_seen = time.monotonic()
        self.detached_at: float | None = None
        self.iters_per_s = 0.0  # steps per second of its own training time
        self.train_lock = threading.Lock()  # held by whoever is calling the job
        self._pub_lock = threading.Lock()
        self._latest = None
        self._frames: list = []
        self._logs: dict[str | None, dict[str, np.ndarray]] = {}
        self._status = Progress(0, [], 0, False, None, 0.0)
        self._progress: deque[tuple[float, int]] = deque()  # (time, step) while running
        self.fresh = False  # just started or resumed: its first slice is one step, first in turn
        self._apply(self.host.open(self.id, self._spec()))

    def _spec(self) -> Spec:
        return Spec((self.cfg,), None, self.limits.fps, self.limits.max_rows)

    # --- reading (any thread) ----------------------------------------------------------------
    @property
    def step(self) -> int:
        return self._status.step

    @property
    def diverged_at(self) -> int | None:
        return self._status.diverged_at

    @property
    def lone_moves(self) -> dict[str, int]:
        """Lone D / G updates made so far (``Trainer.lone_moves``)."""
        return self._status.lone_moves

    @property
    def trainer(self) -> Job | None:
        """The job itself when it trains in this process (tests, benches), else None."""
        return self.host.job(self.id)

    def latest(self) -> Snapshot | None:
        with self._pub_lock:
            return self._latest

    def frames(self) -> list[Snapshot]:
        with self._pub_lock:
            return list(self._frames)

    def history(self) -> dict[str, np.ndarray]:
        with self._pub_lock:
            return self._logs.get(None, {})

    def touch(self) -> None:
        """A viewer is looking at this run (heartbeat; also cancels a pending detach)."""
        self.last_seen = time.monotonic()
        self.detached_at = None

    def effective_rate(self, now: float | None = None) -> float:
        """Steps per wall-clock second over the last RATE_WINDOW_S while running: what the run
        really gets while it shares the workers (0 when it is not running)."""
        now = time.monotonic() if now is None else now
        pts = list(self._progress)
        if self.state != RUNNING or len(pts) < 2:
            return 0.0
        (t0, s0), (t1, s1) = pts[0], pts[-1]
        span = max(now, t1) - t0
        return (s1 - s0) / span if span > 0 else 0.0

    def held_mb(self) -> float:
        """Predicted MB this run holds now: its resident memory in proportion to the frames it
        keeps (the frames dominate; a run never started holds about none)."""
        with self._pub_lock:
            frames = len(self._frames)
        return self.cost.resident_mb * min(1.0, frames / self.limits.max_frames)

    def _mark_progress(self, now: float) -> None:
        self._progress.append((now, self.step))
        while len(self._progress) > 2 and now - self._progress[1][0] > RATE_WINDOW_S:
            self._progress.popleft()

    # --- results -------------------------------------------------------------------------------
    def _show(self, frame: Frame) -> None:
        """Keep a frame the job published: the latest, one more for replay, the new rows."""
        with self._pub_lock:
            self._latest = frame.picture
            self._frames.append(frame.picture)
            if len(self._frames) > self.limits.max_frames:
                keep = self._frames[::2]
                self._frames = keep + ([frame.picture] if keep[-1] is not frame.picture else [])
            for key, rows in frame.rows.items():
                self._logs[key] = _merged(self._logs.get(key), rows)
            self._status = replace(self._status, step=frame.step)

    def _apply(self, progress: Progress) -> None:
        """Keep what a call to the job published, and its status."""
        for frame in progress.frames:
            self._show(frame)
        with self._pub_lock:
            self._status = progress
        if progress.error is not None:
            self.state, self.reason, self.message = ERROR, Reason.ERROR, progress.error

    def _lost(self, exc: Exception) -> None:
        self.state, self.reason = ERROR, Reason.ERROR
        self.message = f"training error at step {self.step}: {exc}"

    # --- calls to the job ----------------------------------------------------------------------
    def train_slice(self, budget_s: float, max_steps: int | None = None,
                    publish_every: float | None = None) -> int:
        """Train about ``budget_s`` seconds (at least one step; or exactly ``max_steps``) and
        publish frames (``hosts.Cell.slice``), the last state too when the run stops, pauses or
        has not shown a frame since it started. Returns the steps made."""
        t0 = time.monotonic()
        with self.train_lock:
            first, self.fresh = self.fresh, False
            try:
                progress = self.host.slice(self.id, budget_s, max_steps, publish_every, first,
                                           lambda: self.state == RUNNING, self._show)
            except (HostLost, RuntimeError) as exc:
                self._lost(exc)
                return 0
            self._apply(progress)
        n = progress.steps
        now = time.monotonic()
        if max_steps is None:
            self._mark_progress(now)
        dt = now - t0
        if n and dt > 0 and progress.error is None:
            rate = n / dt
            self.iters_per_s = rate if not self.iters_per_s else 0.7 * self.iters_per_s + 0.3 * rate
        if progress.error is None:
            self._settle()
        return n

    def lone_move(self, player: str) -> dict | None:
        """One update of D ("d") or G ("g") alone (``Trainer.lone_move``), then its frame is
        published (same step, new picture). Returns the move, None when there was none."""
        if isinstance(self, ComparisonRun):
            raise ConfigError("player", "one-player steps are for single runs, not comparisons")
        with self.train_lock:
            try:
                progress = self.host.lone(self.id, player)
            except (HostLost, RuntimeError) as exc:
                self._lost(exc)
                return None
            self._apply(progress)
        if progress.error is None:
            self._settle()
        return progress.move

    def close(self) -> None:
        """Free the job where it lives (what it published stays readable)."""
        self.host.close(self.id)

    def _settle(self) -> None:
        status = self._status
        if status.diverged_at is not None:
            self.state, self.reason = DIVERGED, Reason.DIVERGED
            self.message = (f"diverged at step {status.diverged_at}: a loss or gradient became"
                            " NaN/Inf; the history up to there is kept")
        elif status.done:
            self.state, self.reason = FINISHED, Reason.FINISHED
            self.message = f"finished {status.step} steps"
        elif status.wall_s > self.limits.max_run_s:
            self.state, self.reason = STOPPED, Reason.TIME_LIMIT
            self.message = f"stopped: this server's time limit per run is {self.limits.max_run_s} s"


def _merged(old: dict[str, np.ndarray] | None, rows: Rows) -> dict[str, np.ndarray]:
    """A log with ``rows`` added: appended when they follow it, else (start 0: thinned or new
    columns) the log starts over from them."""
    if old is None or rows.start == 0 or rows.start != len(old.get("step", ())):
        return rows.columns
    return {c: np.concatenate([old[c], v]) if c in old else v for c, v in rows.columns.items()}


class ComparisonRun(Run):
    """Several variants trained side by side by one worker (gandemo.compare.Comparison).
    ``latest()`` is a list of (label, Snapshot), ``frames()`` a list of such lists and
    ``history()`` maps each label to its history arrays."""

    def __init__(self, configs: list[RunConfig], limits: Limits, run_id: str | None = None,
                 cost: Cost | None = None, labels: list[str] | None = None,
                 host: LocalHost | ProcessHost | None = None):
        self.configs = list(configs)
        self.labels = variant_labels(self.configs, labels)
        super().__init__(configs[0], limits, run_id,
                         cost=cost if cost is not None else limits.check_all(self.configs),
                         host=host)

    def _spec(self) -> Spec:
        return Spec(tuple(self.configs), tuple(self.labels), self.limits.fps,
                    self.limits.max_rows)

    def history(self) -> dict[str, dict[str, np.ndarray]]:
        with self._pub_lock:
            return {label: self._logs.get(label, {}) for label in self.labels}


def _lower_priority(nice: int) -> None:
    """Make the calling thread ``nice`` steps nicer (Linux keeps a niceness per thread).

    On a busy machine the kernel then runs the web server's event loop and page threads before
    training: /_stcore/health and every tab stay responsive, training takes the CPU they leave.
    Elsewhere (no per-thread niceness) nothing changes."""
    if nice <= 0 or sys.platform != "linux":
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError:  # not permitted here: train at the normal priority
        pass


class Scheduler:
    """Process-wide registry of runs plus the worker pool that trains them."""

    def __init__(self, limits: Limits | None = None, threads: bool = True,
                 processes: bool = False):
        """``threads=False``: no worker pool; turns are driven by ``run_turn`` (tests).
        ``processes``: each worker trains its runs in a process of its own (``ProcessHost``)."""
        self.limits = limits or Limits()
        self.threads = threads
        self.runs: dict[str, Run] = {}
        # The first worker process starts now; the others with the first run, so that a fresh
        # server's first page view and first Start do not wait for all of them to import
        # (measured: a Start 1.5 s after the first page view showed its step after 1.4-1.7 s).
        self._hosts = ([ProcessHost(WORKER_NICE, start=i == 0)
                        for i in range(self.limits.workers)] if processes and threads else [])
        self._fresh: deque[Run] = deque()  # just started: one step each, before anyone else
        self._ready: deque[Run] = deque()  # running runs waiting for a worker turn
        self._line: deque[Run] = deque()  # queued runs waiting for memory or a running slot
        self._busy: set[str] = set()
        self._placing: dict[int, int] = {}  # runs being built, per worker process (by id)
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------------
    def _ensure_threads(self) -> None:
        if self._threads or not self.threads:
            return
        train_here()  # one torch thread per worker: workers, not ops, use cores
        for i in range(self.limits.workers):
            host = self._hosts[i] if self._hosts else None
            t = threading.Thread(target=self._work, args=(host,), name=f"gandemo-worker-{i}",
                                 daemon=True)
            self._threads.append(t)
        reaper = threading.Thread(target=self._reap, name="gandemo-reaper", daemon=True)
        self._threads.append(reaper)
        for t in self._threads:
            t.start()

    def shutdown(self, timeout: float = 5.0, processes: bool = True) -> None:
        """Stop and forget every run, join the threads and (``processes``) stop the worker
        processes (tests, server exit); the scheduler can be used again afterwards, with the
        worker processes it kept or new ones."""
        self._stop.set()
        with self._cond:
            for run in self.runs.values():
                if run.state in ACTIVE_STATES + (PAUSED,):
                    run.state, run.reason = STOPPED, Reason.STOPPED
                    run.message = "stopped: the server is shutting down"
            self._fresh.clear()
            self._ready.clear()
            self._line.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        for run in list(self.runs.values()):
            run.close()
        for host in self._hosts if processes else ():
            host.shutdown(timeout)
        self.runs.clear()
        self._stop.clear()
        release_memory()

    def _host(self) -> LocalHost | ProcessHost:
        """Where a new run trains: the worker process with the fewest runs, those being built
        included (reserved here; ``_built`` gives the reservation back), or this process."""
        if not self._hosts:
            return LocalHost()
        with self._cond:
            load = {id(h): self._placing.get(id(h), 0) for h in self._hosts}
            for run in self.runs.values():
                if id(run.host) in load:
                    load[id(run.host)] += 1
            host = min(self._hosts, key=lambda h: load[id(h)])
            self._placing[id(host)] = self._placing.get(id(host), 0) + 1
        return host

    # --- control (UI thread) ------------------------------------------------------------------
    def create(self, cfg: RunConfig, run_id: str | None = None) -> Run:
        """Build a paused run (validated against the server limits: sizes, predicted step and
        snapshot cost, memory) and register it.

        ``run_id`` (e.g. from a URL) must look like a generated id and must not be taken: a
        second run under an existing id would silently replace someone else's run."""
        cost = self.limits.check(cfg)
        self._check_id(run_id)
        return self._built(lambda host: Run(cfg, self.limits, run_id, cost=cost, host=host))

    def create_comparison(self, configs: list[RunConfig], run_id: str | None = None,
                          labels: list[str] | None = None) -> Run:
        """Like ``create`` for a side-by-side comparison of 1..MAX_VARIANTS variants, named
        ``labels`` (default: ``naming.variant_names``)."""
        if not 1 <= len(configs) <= MAX_VARIANTS:
            raise ConfigError("variants", f"choose 1 to {MAX_VARIANTS}; got {len(configs)}")
        cost = self.limits.check_all(list(configs))
        self._check_id(run_id)
        return self._built(lambda host: ComparisonRun(
            configs, self.limits, run_id, cost=cost, labels=labels, host=host))

    def _built(self, make) -> Run:
        """``make(host)`` on the worker process with the fewest runs (counting those being
        built: Starts in the same second spread over the processes), registered. If the worker
        process cannot take the run (it failed to start, or died while building it), the run
        trains in this process instead (logged): a run never fails for where it would train."""
        host = self._host()
        for other in self._hosts:
            other.start()  # (no-op once running)
        try:
            try:
                run = make(host)
            except (HostLost, RuntimeError, TypeError, pickle.PicklingError) as exc:
                if not host.remote:
                    raise
                logging.getLogger(__name__).warning(
                    "a worker process could not take a run (%s); it trains in the server "
                    "process", exc)
                run = make(LocalHost())
            return self._register(run)
        finally:
            if host.remote:
                with self._cond:
                    self._placing[id(host)] -= 1

    def _check_id(self, run_id: str | None) -> None:
        if run_id is not None and not RUN_ID_RE.fullmatch(run_id):
            raise ConfigError("run", "a run id is 1-64 letters, digits, '-' or '_'")
        if run_id in self.runs:
            raise ConfigError("run", f"a run with id {run_id!r} already exists")

    def _register(self, run: Run) -> Run:
        with self._cond:
            if run.id not in self.runs:
                self.runs[run.id] = run
                return run
        run.close()
        raise ConfigError("run", f"a run with id {run.id!r} already exists")

    def get(self, run_id: str | None) -> Run | None:
        return self.runs.get(run_id) if run_id else None

    def start(self, run: Run) -> None:
        """Start or resume: train now (time-sliced with the others) unless the memory for
        training or the count cap is in use; then wait in line with the reason as message."""
        self._ensure_threads()
        with self._cond:
            if run.state != PAUSED or run.id not in self.runs:
                return
            run.touch()
            why = self._no_room(run)
            if why is None:
                self._run(run)
            else:
                run.state, run.message, run.reason = QUEUED, why, None
                self._line.append(run)
            self._cond.notify_all()

    def pause(self, run: Run) -> None:
        """Pause a running or queued run; returns once a step in flight has finished, so the
        step count a page shows after Pause is final."""
        with self._cond:
            if run.state not in ACTIVE_STATES:
                return
            self._drop(run)
            run.state, run.message, run.reason = PAUSED, "", None
            self._admit()
        run.host.nudge()  # a slice in a worker process ends after its current step
        with run.train_lock:  # a worker's slice ends after its current step
            pass

    def step_once(self, run: Run, player: str | None = None) -> int:
        """Exactly one iteration of a paused run, in the caller's thread; with ``player`` "d"
        or "g" one update of that network alone (``Run.lone_move``). Returns the step."""
        if run.state != PAUSED:
            return run.step
        if player is not None:
            run.lone_move(player)
            return run.step
        run.train_slice(budget_s=float("inf"), max_steps=1)
        return run.step

    def stop(self, run: Run, message: str = "stopped", reason: Reason = Reason.STOPPED) -> None:
        with self._cond:
            self._drop(run)
            if run.state in ACTIVE_STATES + (PAUSED,):
                run.state, run.message, run.reason = STOPPED, message, reason
            self._admit()

    def remove(self, run: Run, reason: Reason = Reason.STOPPED) -> None:
        """Stop and forget a run (its memory is then free for queued runs)."""
        with self._cond:
            self._drop(run)
            if run.state in ACTIVE_STATES + (PAUSED,):
                run.state, run.message, run.reason = STOPPED, "stopped", reason
            known = self.runs.pop(run.id, None) is run
            self._admit()
        if known:
            run.close()  # after the lock: a worker process may be finishing a slice

    def detach(self, run_id: str) -> None:
        """The viewing session ended: remove the run after the grace period unless re-attached."""
        run = self.runs.get(run_id)
        if run is not None:
            run.detached_at = time.monotonic()

    def refresh_interval(self, base: float, now: float | None = None) -> float:
        """Live-view refresh period: ``base`` for the first watched runs (touched in the last
        few seconds), then viewers / LIVE_REFRESHES_PER_S, so that all tabs together rerun their
        live views about LIVE_REFRESHES_PER_S times a second, up to MAX_REFRESH_S. Rerunning
        pages, not training, is what a full classroom costs the server (measured: > 90 % of its
        CPU with 20 tabs at a fixed 0.4 s)."""
        now = time.monotonic() if now is None else now
        viewers = sum(now - r.last_seen < VIEWER_WINDOW_S for r in list(self.runs.values()))
        return min(MAX_REFRESH_S, max(base, viewers / LIVE_REFRESHES_PER_S))

    def position(self, run: Run) -> int | None:
        """1-based place in the line, or None when not queued."""
        with self._cond:
            return next((i + 1 for i, r in enumerate(self._line) if r is run), None)

    def memory_mb(self) -> float:
        """Predicted memory of the registered runs the scheduler counts against its budget:
        what every run not waiting keeps, plus one working set per worker."""
        with self._cond:
            return self._memory_with(None)

    def stats(self) -> dict:
        import psutil

        with self._cond:
            states = [r.state for r in self.runs.values()]
            used = self._memory_with(None)
        return {
            "runs": len(states),
            "running": states.count(RUNNING),
            "queued": states.count(QUEUED),
            "paused": states.count(PAUSED),
            "workers": self.limits.workers,
            "max_running": self.limits.max_running,
            "memory_budget_mb": self.limits.memory_mb,
            "memory_predicted_mb": round(used, 1),
            "threads": threading.active_count(),
            "processes": len(self._hosts),
            # the server and its worker processes
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20
                            + sum(h.rss_mb() for h in self._hosts), 1),
        }

    def runs_info(self) -> list[dict]:
        """One row per run, oldest first, for a status view. Read-only: touches no run.

        ``kind`` is "run" or "comparison" (then ``variants`` and the distinct ``losses``);
        ``position`` is set only while queued; ``rate`` is the effective steps/s (shared
        workers included), ``iters_per_s`` the speed of its own slices."""
        now = time.monotonic()
        with self._cond:
            runs = sorted(self.runs.values(), key=lambda r: r.created)
            line = {r.id: i + 1 for i, r in enumerate(self._line)}
        rows = []
        for r in runs:
            configs = getattr(r, "configs", [r.cfg])
            rows.append({
                "id": r.id, "kind": "comparison" if isinstance(r, ComparisonRun) else "run",
                "variants": len(configs), "losses": list(dict.fromkeys(c.loss for c in configs)),
                "state": r.state, "reason": r.reason.value if r.reason else None,
                "message": r.message, "step": r.step, "steps": max(c.steps for c in configs),
                "rate": round(r.effective_rate(now), 1), "iters_per_s": round(r.iters_per_s, 1),
                "position": line.get(r.id) if r.state == QUEUED else None,
                "target": r.cfg.target, "loss": r.cfg.loss, "memory_mb": round(r.cost.need_mb, 1),
                "age_s": round(now - r.created, 1), "seen_s_ago": round(now - r.last_seen, 1),
                "detached": r.detached_at is not None,
            })
        return rows

    # --- internals (hold self._cond) -----------------------------------------------------------
    def _running_count(self) -> int:
        return sum(r.state == RUNNING for r in self.runs.values())

    def _memory_with(self, extra: Run | None) -> float:
        """Predicted MB if ``extra`` ran too: the full resident memory of the running runs (and
        ``extra``), what the other registered runs hold now (frames and history stay while a run
        exists, even paused), and the largest working set once per worker (at most that many
        slices compute at once)."""
        held = [r for r in self.runs.values() if r.state != QUEUED and r is not extra]
        if extra is not None:
            held.append(extra)
        working = max((r.cost.working_mb for r in held if r.state == RUNNING or r is extra),
                      default=0.0)
        return (sum(r.cost.resident_mb if r.state == RUNNING or r is extra else r.held_mb()
                    for r in held) + self.limits.workers * working)

    def _no_room(self, run: Run) -> str | None:
        """Why ``run`` cannot train now (the message shown while it waits), or None."""
        lim = self.limits
        if self._running_count() >= lim.max_running:
            return (f"waiting: this server trains at most {lim.max_running} runs at once "
                    "(GANDEMO_MAX_RUNNING); yours starts by itself when one ends")
        need = self._memory_with(run)
        if need > lim.memory_mb:
            return (f"waiting for memory: with this run the server's runs would need about "
                    f"{need:.0f} MB of the {lim.memory_mb} MB it gives training; this run needs "
                    f"about {run.cost.need_mb:.0f} MB and starts by itself when others end")
        return None

    def _run(self, run: Run) -> None:
        run.state, run.message, run.reason = RUNNING, "", None
        run.fresh = True
        run._progress.clear()
        run._mark_progress(time.monotonic())
        if run.id not in self._busy and run not in self._fresh:
            if run in self._ready:
                self._ready.remove(run)
            self._fresh.append(run)
            run.host.nudge()  # a long slice of another run of its worker ends now

    def _drop(self, run: Run) -> None:
        for queue in (self._fresh, self._ready, self._line):
            if run in queue:
                queue.remove(run)

    def _admit(self) -> None:
        """Move runs from the head of the line to training while there is room (FIFO)."""
        while self._line and self._no_room(self._line[0]) is None:
            self._run(self._line.popleft())
        for run in self._line:  # the reason may have changed (memory vs count)
            run.message = self._no_room(run) or run.message
        self._cond.notify_all()

    def _publish_period(self) -> float:
        """Seconds between published frames of one run: 1/fps with few runs, longer when many
        share the workers (the pages then refresh slower too, see ``refresh_interval``)."""
        base = 1.0 / self.limits.fps
        return min(MAX_REFRESH_S, base * max(1.0, self._running_count() / VIEWERS_AT_BASE))

    # --- threads -----------------------------------------------------------------------------
    def _take(self, host: ProcessHost | None = None) -> Run | None:
        """The next run to train (fresh ones first, then round robin) — of ``host`` (or of
        this process) when given — marked busy; hold _cond."""
        for queue in (self._fresh, self._ready):
            run = next((r for r in queue
                        if host is None or r.host is host or not r.host.remote), None)
            if run is not None:
                queue.remove(run)
                self._busy.add(run.id)
                return run
        return None

    def _turn(self, run: Run) -> None:
        """One worker turn of ``run``: a fresh run makes one step (and shows it) before it joins
        the round robin, a running one trains ``slice_s`` — up to ALONE_SLICE_S in a worker
        process while no other run of it waits (a run that comes nudges it) — then it goes to
        the back."""
        with self._cond:
            period = self._publish_period()
            alone = run.host.remote and not any(r.host is run.host
                                                for r in (*self._fresh, *self._ready))
        budget = 0.0 if run.fresh else ALONE_SLICE_S if alone else self.limits.slice_s
        run.train_slice(budget, publish_every=period)
        with self._cond:
            self._busy.discard(run.id)
            if run.state == RUNNING and run.id in self.runs:
                (self._fresh if run.fresh else self._ready).append(run)  # fresh: restarted
            else:
                self._admit()
            self._cond.notify_all()

    def run_turn(self) -> Run | None:
        """One turn in the caller's thread (what a worker does in a loop); None when no run is
        waiting for a turn. Lets tests and benches drive the scheduler round by round."""
        with self._cond:
            run = self._take()
        if run is not None:
            self._turn(run)
        return run

    def _work(self, host: ProcessHost | None) -> None:
        """A worker: trains the runs of ``host`` (its process) and any run in this process."""
        _lower_priority(WORKER_NICE)
        while not self._stop.is_set():
            with self._cond:
                run = self._take(host)
                while run is None and not self._stop.is_set():
                    self._cond.wait(0.5)
                    run = self._take(host)
                if self._stop.is_set():
                    if run is not None:
                        self._busy.discard(run.id)
                    return
            self._turn(run)

    def _reap(self) -> None:
        while not self._stop.wait(1.0):
            self.reap()

    def reap(self, now: float | None = None) -> None:
        """Apply the cleanup rules once (the reaper thread calls this every second)."""
        now = time.monotonic() if now is None else now
        removed = 0
        for run in list(self.runs.values()):
            if run.detached_at is not None and now - run.detached_at > self.limits.grace_s:
                self.remove(run, Reason.IDLE)
                removed += 1
            elif now - run.last_seen > self.limits.idle_s:
                self.remove(run, Reason.IDLE)
                removed += 1
            elif run.state in ACTIVE_STATES and now - run.last_seen > self.limits.heartbeat_s:
                self.pause(run)
                run.message, run.reason = "paused: nobody was watching this run", Reason.IDLE
        if removed:
            release_memory()


_scheduler: Scheduler | None = None
_scheduler_lock = threading.Lock()


def get_scheduler() -> Scheduler:
    """The process-wide scheduler (created on first use)."""
    global _scheduler
    with _scheduler_lock:
        if _scheduler is None:
            _scheduler = Scheduler(processes=Limits().processes)
        return _scheduler
