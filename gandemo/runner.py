"""Background training: runs time-sliced over a small pool of worker threads, process-wide.

* A ``Run`` wraps one ``Trainer``. Its worker publishes immutable results (latest ``Snapshot``,
  a thinned list of past frames for replay, the history as arrays); viewers only read those.
* The ``Scheduler`` owns ``workers`` threads (default: the CPU count, env ``GANDEMO_WORKERS``),
  each with one torch thread. At most ``max_running`` runs train at once (env
  ``GANDEMO_MAX_RUNNING``); they share the workers round-robin in slices of ``slice_s`` seconds,
  so every running run progresses. Further runs wait in a FIFO line with a visible position.
* Limits per run: wall-clock training time, history rows (thinned by 2 when full) and frames.
* Cleanup: a running run whose viewer stopped polling for ``heartbeat_s`` is paused; a run whose
  session ended (``detach``) is removed after ``grace_s`` unless a page re-attaches to it by id;
  any run untouched for ``idle_s`` is removed.
No Streamlit here: pages call these methods; the workers never call back into the UI.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import ConfigError, RunConfig
from .snapshot import Snapshot
from .trainer import Trainer

torch.set_num_threads(1)  # one torch thread per worker: workers, not ops, use the cores

RUNNING, QUEUED, PAUSED = "running", "queued", "paused"
FINISHED, DIVERGED, STOPPED, ERROR = "finished", "diverged", "stopped", "error"
ACTIVE_STATES = (RUNNING, QUEUED)
RUN_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_VARIANTS = 12  # variants in one comparison
VIEWERS_AT_BASE = 4  # watched runs the live views refresh at full rate for
VIEWER_WINDOW_S = 5.0  # a run touched this recently counts as watched
MAX_REFRESH_S = 2.0  # slowest live refresh under load


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


@dataclass
class Limits:
    """Per-run and process-wide bounds (classroom safety), overridable by environment variables."""

    workers: int = field(default_factory=lambda: _env_int("GANDEMO_WORKERS", os.cpu_count() or 1))
    max_running: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_RUNNING", 8))
    max_steps: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_STEPS", 50_000))
    max_run_s: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_RUN_SECONDS", 900))
    max_width: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_WIDTH", 256))
    max_batch: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_BATCH", 1024))
    max_rows: int = 4000  # history rows kept per run (then thinned by 2)
    max_frames: int = 120  # frames kept for replay per run (then thinned by 2)
    fps: float = 4.0  # snapshots published per second while running
    slice_s: float = 0.05  # training time a run gets per turn on a worker
    heartbeat_s: float = field(default_factory=lambda: _env_int("GANDEMO_HEARTBEAT_SECONDS", 90))
    grace_s: float = field(default_factory=lambda: _env_int("GANDEMO_GRACE_SECONDS", 10))
    idle_s: float = field(default_factory=lambda: _env_int("GANDEMO_IDLE_SECONDS", 1800))
    # One step cannot be interrupted: bound its cost (in units of the reference step, step_work).
    max_step_work: float = field(
        default_factory=lambda: _env_int("GANDEMO_MAX_STEP_WORK", 250))

    def check(self, cfg: RunConfig) -> None:
        """Refuse sizes this server will not train (ConfigError naming the setting and the cap)."""
        caps = {"steps": self.max_steps, "g_width": self.max_width, "d_width": self.max_width,
                "batch": self.max_batch}
        for name, cap in caps.items():
            if getattr(cfg, name) > cap:
                value = getattr(cfg, name)
                raise ConfigError(name, f"this server allows at most {cap}; got {value}")
        work = step_work(cfg)
        if work > self.max_step_work:
            mb = cfg.minibatch_disc and MINIBATCH_COST * cfg.batch > cfg.d_width ** 2 * cfg.d_depth
            name = "batch" if mb else "d_steps" if cfg.d_steps + 2 * cfg.unrolled > 8 else "d_width"
            raise ConfigError(name, (
                f"one step of these settings costs about {work:.0f}x the default step; this "
                f"server allows {self.max_step_work:g}x. Lower the batch, widths, depths or k"
                + (" (minibatch discrimination grows with batch²)" if cfg.minibatch_disc else "")))


MINIBATCH_COST = 20_000  # per sample and batch member: the B×B×32 distances and their gradient
PASS_OVERHEAD = 15e6  # fixed cost of one forward+backward pass of small nets, in the same units


def _work(d_steps, unrolled, batch, g_width, g_depth, d_width, d_depth, minibatch_disc,
          eval_samples, log_every) -> float:
    per_sample = d_width ** 2 * d_depth + g_width ** 2 * g_depth
    if minibatch_disc:
        per_sample += MINIBATCH_COST * batch
    passes = d_steps + 2 * unrolled + 1  # an unrolled step costs about two D steps
    metrics = 1.5 * eval_samples * g_width ** 2 * g_depth / log_every
    return passes * (batch * per_sample + PASS_OVERHEAD) + metrics


# The reference step: 2×64 ReLU MLPs, batch 256, k = 1, 2000 eval samples every 10 steps.
_REFERENCE_WORK = _work(1, 0, 256, 64, 2, 64, 2, False, 2000, 10)


def step_work(cfg: RunConfig) -> float:
    """Rough cost of one training step relative to the reference step (1.0), from the sizes
    alone: per pass a fixed overhead plus batch·width²·depth, O(batch²) for minibatch
    discrimination, and the metrics. Calibrated on one busy core: 1 unit ≈ 4 ms, so the default
    cap of 250 units keeps any accepted step near or below one second."""
    return _work(cfg.d_steps, cfg.unrolled, cfg.batch, cfg.g_width, cfg.g_depth, cfg.d_width,
                 cfg.d_depth, cfg.minibatch_disc, cfg.eval_samples, cfg.log_every) / _REFERENCE_WORK


class Run:
    """One training run. Control methods are thread-safe; results are published, read-only."""

    def __init__(self, cfg: RunConfig, limits: Limits, run_id: str | None = None, job=None):
        self.id = run_id or secrets.token_urlsafe(6)
        self.cfg = cfg
        self.limits = limits
        self.trainer = job if job is not None else Trainer(cfg)
        self.state = PAUSED
        self.message = ""
        self.created = self.last_seen = time.monotonic()
        self.detached_at: float | None = None
        self.iters_per_s = 0.0
        self.train_lock = threading.Lock()  # held by whoever is stepping the trainer
        self._pub_lock = threading.Lock()
        self._latest: Snapshot | None = None
        self._frames: list[Snapshot] = []
        self._history: dict[str, np.ndarray] = {}
        self._last_publish = 0.0
        self.publish()

    # --- reading (any thread) ----------------------------------------------------------------
    @property
    def step(self) -> int:
        return self.trainer.step_count

    def latest(self) -> Snapshot | None:
        with self._pub_lock:
            return self._latest

    def frames(self) -> list[Snapshot]:
        with self._pub_lock:
            return list(self._frames)

    def history(self) -> dict[str, np.ndarray]:
        with self._pub_lock:
            return self._history

    def touch(self) -> None:
        """A viewer is looking at this run (heartbeat; also cancels a pending detach)."""
        self.last_seen = time.monotonic()
        self.detached_at = None

    # --- worker side ---------------------------------------------------------------------------
    def _collect(self):
        """(frame, history arrays) of the job, read by whoever holds the trainer."""
        hist = self.trainer.history
        if len(hist) > self.limits.max_rows:
            hist.downsample()
        return self.trainer.snapshot(), hist.as_arrays()

    def publish(self) -> None:
        """Snapshot the trainer for viewers (called by whoever holds the trainer)."""
        snap, arrays = self._collect()
        with self._pub_lock:
            self._latest = snap
            self._frames.append(snap)
            if len(self._frames) > self.limits.max_frames:
                self._frames = self._frames[::2] + ([snap] if len(self._frames) % 2 == 0 else [])
            self._history = arrays
        self._last_publish = time.monotonic()

    def train_slice(self, budget_s: float, max_steps: int | None = None) -> int:
        """Train about ``budget_s`` seconds (or ``max_steps``); publish at ≤ fps. Returns steps."""
        t0 = time.monotonic()
        n, due = 0, False
        with self.train_lock:
            tr = self.trainer
            try:
                while not tr.done and (max_steps is None or n < max_steps):
                    tr.step()
                    n += 1
                    now = time.monotonic()
                    due = now - self._last_publish >= 1.0 / self.limits.fps
                    if due:
                        self.publish()
                    if now - t0 >= budget_s or (max_steps is None and self.state != RUNNING):
                        break
                if not due or tr.done or max_steps is not None:  # the last state is visible
                    self.publish()
            except Exception as exc:  # a bug or a torch error must not kill the worker
                self.state, self.message = ERROR, f"training error at step {tr.step_count}: {exc}"
                return n
        dt = time.monotonic() - t0
        if n and dt > 0:
            rate = n / dt
            self.iters_per_s = rate if not self.iters_per_s else 0.7 * self.iters_per_s + 0.3 * rate
        self._settle()
        return n

    def _settle(self) -> None:
        tr = self.trainer
        if tr.diverged_at is not None:
            self.state = DIVERGED
            self.message = (f"diverged at step {tr.diverged_at}: a loss or gradient became NaN/Inf;"
                            " the history up to there is kept")
        elif tr.done:
            self.state, self.message = FINISHED, f"finished {tr.step_count} steps"
        elif tr._wall > self.limits.max_run_s:
            self.state = STOPPED
            self.message = f"stopped: this server's time limit per run is {self.limits.max_run_s} s"


class _ComparisonJob:
    """A Comparison seen through the trainer interface Run drives (step, done, step_count)."""

    def __init__(self, comparison):
        self.comparison = comparison
        self.diverged_at = None  # variants diverge one by one; the comparison goes on

    @property
    def done(self) -> bool:
        return self.comparison.done

    @property
    def step_count(self) -> int:
        return max(t.step_count for t in self.comparison.trainers)

    @property
    def _wall(self) -> float:
        return max(t._wall for t in self.comparison.trainers)

    def step(self) -> None:
        self.comparison.step()


class ComparisonRun(Run):
    """Several variants trained side by side by one worker (gandemo.compare.Comparison).
    ``latest()`` is a list of (label, Snapshot), ``frames()`` a list of such lists and
    ``history()`` maps each label to its history arrays."""

    def __init__(self, configs: list[RunConfig], limits: Limits, run_id: str | None = None):
        from .compare import Comparison

        self.comparison = Comparison(list(configs))
        self.labels = list(self.comparison.labels)
        super().__init__(configs[0], limits, run_id, job=_ComparisonJob(self.comparison))

    def _collect(self):
        frames, arrays = [], {}
        for label, tr in zip(self.labels, self.comparison.trainers):
            if len(tr.history) > self.limits.max_rows:
                tr.history.downsample()
            frames.append((label, tr.snapshot()))
            arrays[label] = tr.history.as_arrays()
        return frames, arrays


class Scheduler:
    """Process-wide registry of runs plus the worker pool that trains them."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.runs: dict[str, Run] = {}
        self._ready: deque[Run] = deque()  # running runs waiting for a worker turn
        self._line: deque[Run] = deque()  # queued runs waiting for a running slot
        self._busy: set[str] = set()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------------
    def _ensure_threads(self) -> None:
        if self._threads:
            return
        for i in range(self.limits.workers):
            t = threading.Thread(target=self._work, name=f"gandemo-worker-{i}", daemon=True)
            self._threads.append(t)
        reaper = threading.Thread(target=self._reap, name="gandemo-reaper", daemon=True)
        self._threads.append(reaper)
        for t in self._threads:
            t.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every run and join the threads (tests, server exit)."""
        self._stop.set()
        with self._cond:
            for run in self.runs.values():
                if run.state in ACTIVE_STATES + (PAUSED,):
                    run.state = STOPPED
            self._ready.clear()
            self._line.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        self.runs.clear()
        self._stop.clear()

    # --- control (UI thread) ------------------------------------------------------------------
    def create(self, cfg: RunConfig, run_id: str | None = None) -> Run:
        """Build a paused run (validated against the server limits) and register it.

        ``run_id`` (e.g. from a URL) must look like a generated id and must not be taken: a
        second run under an existing id would silently replace someone else's run."""
        self.limits.check(cfg)
        self._check_id(run_id)
        return self._register(Run(cfg, self.limits, run_id))

    def create_comparison(self, configs: list[RunConfig], run_id: str | None = None) -> Run:
        """Like ``create`` for a side-by-side comparison of 1..MAX_VARIANTS variants."""
        if not 1 <= len(configs) <= MAX_VARIANTS:
            raise ConfigError("variants", f"choose 1 to {MAX_VARIANTS}; got {len(configs)}")
        for cfg in configs:
            self.limits.check(cfg)
        self._check_id(run_id)
        return self._register(ComparisonRun(configs, self.limits, run_id))

    def _check_id(self, run_id: str | None) -> None:
        if run_id is not None and not RUN_ID_RE.fullmatch(run_id):
            raise ConfigError("run", "a run id is 1-64 letters, digits, '-' or '_'")
        if run_id in self.runs:
            raise ConfigError("run", f"a run with id {run_id!r} already exists")

    def _register(self, run: Run) -> Run:
        with self._cond:
            if run.id in self.runs:
                raise ConfigError("run", f"a run with id {run.id!r} already exists")
            self.runs[run.id] = run
        return run

    def get(self, run_id: str | None) -> Run | None:
        return self.runs.get(run_id) if run_id else None

    def start(self, run: Run) -> None:
        """Start or resume: run now if a slot is free, else join the line."""
        self._ensure_threads()
        with self._cond:
            if run.state not in (PAUSED, QUEUED):
                return
            run.touch()
            if run.state == PAUSED and self._running_count() < self.limits.max_running:
                run.state = RUNNING
                self._enqueue(run)
            elif run.state == PAUSED:
                run.state = QUEUED
                self._line.append(run)
            self._cond.notify_all()

    def pause(self, run: Run) -> None:
        with self._cond:
            if run.state in ACTIVE_STATES:
                self._drop(run)
                run.state = PAUSED
                self._admit()

    def step_once(self, run: Run) -> int:
        """Exactly one iteration of a paused run, in the caller's thread; returns the new step."""
        if run.state != PAUSED:
            return run.step
        run.train_slice(budget_s=float("inf"), max_steps=1)
        return run.step

    def stop(self, run: Run, message: str = "stopped") -> None:
        with self._cond:
            self._drop(run)
            if run.state in ACTIVE_STATES + (PAUSED,):
                run.state, run.message = STOPPED, message
            self._admit()

    def remove(self, run: Run) -> None:
        self.stop(run)
        with self._cond:
            self.runs.pop(run.id, None)

    def detach(self, run_id: str) -> None:
        """The viewing session ended: remove the run after the grace period unless re-attached."""
        run = self.runs.get(run_id)
        if run is not None:
            run.detached_at = time.monotonic()

    def refresh_interval(self, base: float, now: float | None = None) -> float:
        """Live-view refresh period under load: ``base`` while at most VIEWERS_AT_BASE runs are
        being watched (touched in the last few seconds), growing in proportion beyond that, up to
        MAX_REFRESH_S. Redrawing pages, not training, is what a full classroom costs the server."""
        now = time.monotonic() if now is None else now
        viewers = sum(now - r.last_seen < VIEWER_WINDOW_S for r in list(self.runs.values()))
        return min(MAX_REFRESH_S, max(base, base * viewers / VIEWERS_AT_BASE))

    def position(self, run: Run) -> int | None:
        """1-based place in the line, or None when not queued."""
        with self._cond:
            return next((i + 1 for i, r in enumerate(self._line) if r is run), None)

    def stats(self) -> dict:
        import psutil

        with self._cond:
            states = [r.state for r in self.runs.values()]
        return {
            "runs": len(states),
            "running": states.count(RUNNING),
            "queued": states.count(QUEUED),
            "paused": states.count(PAUSED),
            "workers": self.limits.workers,
            "max_running": self.limits.max_running,
            "threads": threading.active_count(),
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        }

    def runs_info(self) -> list[dict]:
        """One row per run, oldest first, for a status view. Read-only: touches no run."""
        now = time.monotonic()
        with self._cond:
            runs = sorted(self.runs.values(), key=lambda r: r.created)
            line = {r.id: i + 1 for i, r in enumerate(self._line)}
        return [
            {
                "id": r.id, "state": r.state, "step": r.step, "steps": r.cfg.steps,
                "iters_per_s": round(r.iters_per_s, 1), "position": line.get(r.id),
                "target": r.cfg.target, "loss": r.cfg.loss, "age_s": round(now - r.created, 1),
                "seen_s_ago": round(now - r.last_seen, 1), "detached": r.detached_at is not None,
            }
            for r in runs
        ]

    # --- internals (hold self._cond) -----------------------------------------------------------
    def _running_count(self) -> int:
        return sum(r.state == RUNNING for r in self.runs.values())

    def _enqueue(self, run: Run) -> None:
        if run.id not in self._busy and run not in self._ready:
            self._ready.append(run)

    def _drop(self, run: Run) -> None:
        if run in self._ready:
            self._ready.remove(run)
        if run in self._line:
            self._line.remove(run)

    def _admit(self) -> None:
        while self._line and self._running_count() < self.limits.max_running:
            run = self._line.popleft()
            run.state = RUNNING
            self._enqueue(run)
        self._cond.notify_all()

    # --- threads -----------------------------------------------------------------------------
    def _work(self) -> None:
        torch.set_num_threads(1)
        while not self._stop.is_set():
            with self._cond:
                while not self._ready and not self._stop.is_set():
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    return
                run = self._ready.popleft()
                self._busy.add(run.id)
            run.train_slice(self.limits.slice_s)
            with self._cond:
                self._busy.discard(run.id)
                if run.state == RUNNING:
                    self._ready.append(run)
                else:
                    self._admit()
                self._cond.notify_all()

    def _reap(self) -> None:
        while not self._stop.wait(1.0):
            self.reap()

    def reap(self, now: float | None = None) -> None:
        """Apply the cleanup rules once (the reaper thread calls this every second)."""
        now = time.monotonic() if now is None else now
        for run in list(self.runs.values()):
            if run.detached_at is not None and now - run.detached_at > self.limits.grace_s:
                self.remove(run)
            elif now - run.last_seen > self.limits.idle_s:
                self.remove(run)
            elif run.state in ACTIVE_STATES and now - run.last_seen > self.limits.heartbeat_s:
                self.pause(run)
                run.message = "paused: nobody was watching this run"


_scheduler: Scheduler | None = None
_scheduler_lock = threading.Lock()


def get_scheduler() -> Scheduler:
    """The process-wide scheduler (created on first use)."""
    global _scheduler
    with _scheduler_lock:
        if _scheduler is None:
            _scheduler = Scheduler()
        return _scheduler
