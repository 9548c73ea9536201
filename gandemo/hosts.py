"""Where a run's job (a ``Trainer`` or a ``Comparison``) lives and trains.

* ``Cell``: one job and its publishing, in the process that trains it. ``slice`` trains for a
  time budget (or exactly N steps) and returns a ``Progress``: the frames published meanwhile
  (a ``Snapshot``, or a list of (label, Snapshot) for a comparison), the new history rows since
  the last frame, and the job's status. Everything in it is plain data (NumPy, floats).
* ``LocalHost``: cells in this process (tests, benches, ``GANDEMO_PROCESSES=0``).
* ``ProcessHost``: cells in a worker process (``serve``) that answers the same calls over a
  pipe. Training then has its own interpreter: the web server's drawing, event loop and
  training no longer take turns on one GIL (measured: with the Train page open, training in the
  server's process got ~0.6x of its speed alone; see docs/session-notes.md). A worker process
  that dies loses its cells (``HostLost``); what they had published stays with the runs.
Both hosts answer ``open``, ``slice``, ``lone`` and ``close`` alike, so ``runner.Run`` has one
code path.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .config import ConfigError, RunConfig
from .snapshot import History
from .tuning import release_memory, train_here

# Frames may take at most this share of a run's time: a run whose snapshot is slow (minibatch
# discrimination on a 2D grid, many variants) publishes less often than fps, so drawing never
# starves its training.
SNAPSHOT_SHARE = 0.25
IDLE_BEFORE_WARM_UP_S = 0.5  # a worker process warms up after this long without a call


class Job(Protocol):
    """What a cell drives: a ``Trainer`` (one run) or a ``Comparison`` (variants side by side)."""

    @property
    def done(self) -> bool: ...

    @property
    def step_count(self) -> int: ...

    @property
    def diverged_at(self) -> int | None: ...

    @property
    def wall_s(self) -> float: ...

    def step(self) -> object: ...


@dataclass(frozen=True)
class Spec:
    """What to build: one run (``labels`` None) or a comparison of ``configs`` named ``labels``."""

    configs: tuple[RunConfig, ...]
    labels: tuple[str, ...] | None = None
    fps: float = 12.0  # frames per second at most while training
    max_rows: int = 4000  # history rows kept (then thinned by 2)

    def build(self) -> Job:
        if self.labels is None:
            from .trainer import Trainer

            return Trainer(self.configs[0])
        from .compare import Comparison

        return Comparison(list(self.configs), list(self.labels))


@dataclass(frozen=True)
class Rows:
    """New history rows of one log: ``start`` is the first row's index (0 = the log from
    scratch: it was thinned, or columns were added), ``columns`` the rows as arrays."""

    start: int
    columns: dict[str, np.ndarray]


@dataclass(frozen=True)
class Frame:
    """One publish: the picture, the new rows per log (key None for a single run, the variant's
    label in a comparison) and the step it shows."""

    picture: object
    rows: dict[str | None, Rows]
    step: int


@dataclass(frozen=True)
class Progress:
    """What a call did: steps made, frames published (oldest first) and the job's status."""

    steps: int
    frames: list[Frame]
    step: int
    done: bool
    diverged_at: int | None
    wall_s: float
    lone_moves: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # an exception while training (the job keeps what it had)
    move: dict | None = None  # the lone move made, if that was the call


class HostLost(RuntimeError):
    """The process that held a run's job is gone (or never knew the run)."""


class Cell:
    """One job where it trains, with what it has published (frames are rate-limited here)."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.job = spec.build()
        self._sent: dict[str | None, tuple[int, tuple[str, ...]]] = {}  # rows, columns sent
        self._last_publish = 0.0
        self._publish_s = 0.0  # how long the last publish took
        self._published_step = -1

    def _logs(self) -> dict[str | None, History]:
        if self.spec.labels is None:
            return {None: self.job.history}
        return {label: tr.history for label, tr in zip(self.spec.labels, self.job.trainers)}

    def _picture(self):
        if self.spec.labels is None:
            return self.job.snapshot()
        return [(label, tr.snapshot()) for label, tr in zip(self.spec.labels, self.job.trainers)]

    def publish(self) -> Frame:
        """Snapshot the job and take the history rows not sent yet (thinning a full log)."""
        t0 = time.monotonic()
        picture = self._picture()
        rows = {}
        for key, hist in self._logs().items():
            sent, names = self._sent.get(key, (0, ()))
            if len(hist) > self.spec.max_rows:
                hist.downsample()
                sent = 0
            if tuple(hist.columns) != names:
                sent = 0
            rows[key] = Rows(sent, {c: np.asarray(v[sent:], dtype=float)
                                    for c, v in hist.columns.items()})
            self._sent[key] = (len(hist), tuple(hist.columns))
        self._last_publish = time.monotonic()
        self._publish_s = self._last_publish - t0
        self._published_step = self.job.step_count
        return Frame(picture, rows, self._published_step)

    def publish_period(self) -> float:
        """Seconds between frames while training: 1/fps, or longer when a frame is slow, so that
        publishing takes at most SNAPSHOT_SHARE of the run's time."""
        return max(1.0 / self.spec.fps, self._publish_s / SNAPSHOT_SHARE)

    def progress(self, steps: int, frames: list[Frame], error: str | None = None,
                 move: dict | None = None) -> Progress:
        job = self.job
        return Progress(steps, frames, job.step_count, job.done, job.diverged_at, job.wall_s,
                        dict(getattr(job, "lone_moves", {})), error, move)

    def slice(self, budget_s: float, max_steps: int | None = None,
              publish_every: float | None = None, show_end: bool = False,
              keep_going=None, on_frame=None) -> Progress:
        """Train about ``budget_s`` seconds (at least one step; or exactly ``max_steps``),
        publishing a frame every ``publish_every`` seconds (at least ``publish_period()``) and
        at the end when the job is done, ``max_steps`` was given, ``show_end`` is set or
        ``keep_going()`` turned false (a paused run shows its last state). Frames go to
        ``on_frame`` as they are made, else into the returned ``Progress``."""
        period = max(publish_every or 0.0, self.publish_period())
        t0 = time.monotonic()
        n, frames, job = 0, [], self.job
        emit = on_frame or frames.append
        try:
            stopped = False
            while not job.done and (max_steps is None or n < max_steps):
                job.step()
                n += 1
                now = time.monotonic()
                if now - self._last_publish >= period:
                    emit(self.publish())
                stopped = max_steps is None and keep_going is not None and not keep_going()
                if now - t0 >= budget_s or stopped:
                    break
            ending = job.done or max_steps is not None or show_end or stopped
            if ending and self._published_step != job.step_count:
                emit(self.publish())
        except Exception as exc:  # a bug or a torch error must not kill the worker
            return self.progress(n, frames, f"training error at step {job.step_count}: {exc}")
        return self.progress(n, frames)

    def lone(self, player: str) -> Progress:
        """One update of D ("d") or G ("g") alone (``Trainer.lone_move``), then a frame."""
        try:
            move = self.job.lone_move(player)
        except (RuntimeError, FloatingPointError) as exc:  # a torch error must not escape
            return self.progress(0, [], f"training error at step {self.job.step_count}: {exc}")
        return self.progress(0, [self.publish()] if move is not None else [], move=move)


class LocalHost:
    """Cells in this process: calls run in the caller's thread."""

    remote = False  # calls cost nothing more than the work

    def __init__(self):
        self.cells: dict[str, Cell] = {}

    def open(self, run_id: str, spec: Spec) -> Progress:
        cell = self.cells[run_id] = Cell(spec)
        return cell.progress(0, [cell.publish()])

    def _cell(self, run_id: str) -> Cell:
        try:
            return self.cells[run_id]
        except KeyError:
            raise HostLost(f"no job for run {run_id!r} here") from None

    def slice(self, run_id: str, budget_s: float, max_steps: int | None = None,
              publish_every: float | None = None, show_end: bool = False,
              keep_going=None, on_frame=None) -> Progress:
        return self._cell(run_id).slice(budget_s, max_steps, publish_every, show_end, keep_going,
                                        on_frame)

    def nudge(self) -> None:
        """Nothing to do here: a local slice watches ``keep_going`` itself."""

    def lone(self, run_id: str, player: str) -> Progress:
        return self._cell(run_id).lone(player)

    def close(self, run_id: str) -> None:
        self.cells.pop(run_id, None)

    def job(self, run_id: str) -> Job | None:
        cell = self.cells.get(run_id)
        return cell.job if cell is not None else None

    def shutdown(self) -> None:
        self.cells.clear()


class _FairLock:
    """A lock taken first come, first served (``threading.Lock`` is not: a worker that ends a
    slice and at once starts the next could keep a page's call waiting slice after slice)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._next = 0  # the next ticket to hand out
        self._serving = 0  # the ticket that holds the lock

    def acquire(self, on_wait=None) -> None:
        """Take the lock in turn; ``on_wait()`` is called once if someone holds it now."""
        with self._cond:
            ticket, self._next = self._next, self._next + 1
            if ticket == self._serving:
                return
        if on_wait is not None:
            on_wait()
        with self._cond:
            while ticket != self._serving:
                self._cond.wait()

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class ProcessHost:
    """Cells in one worker process, called over a pipe (one call at a time; the caller's thread
    waits for the answer without holding the GIL). The process starts when the host is made
    (it imports torch meanwhile) and again after it died or was shut down. It runs ``nice``
    steps nicer than this process, with one torch thread."""

    remote = True  # each call is a round trip to another process

    def __init__(self, nice: int = 0, start: bool = True):
        """``start``: start the process now (it imports for ≈ 2 s meanwhile), else at ``start()``
        or the first ``open``."""
        self.nice = nice
        self._lock = _FairLock()  # one call at a time, in the order they came
        self._write_lock = threading.Lock()  # a nudge may be written during a call
        self._proc: subprocess.Popen | None = None
        if start:
            self._start()

    def start(self) -> None:
        """Start the worker process unless it runs (it has never run, or was shut down); a
        process that cannot start now is tried again at the next ``open`` (which says why).
        Called at every run's creation: a running one returns at once, not after a slice."""
        if self._proc is not None:
            return
        with self._lock:
            if self._proc is None:
                try:
                    self._start()
                except (OSError, subprocess.SubprocessError, HostLost):
                    self._proc = None

    def _start(self) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self._proc = subprocess.Popen(
            [sys.executable, "-c", f"from gandemo.hosts import serve; serve({int(self.nice)})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True, env=env)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _send(self, op: str, args: tuple) -> None:
        data = pickle.dumps((op, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self._write_lock:
            self._proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self._proc.stdin.flush()

    def _call(self, op: str, *args, on_frame=None):
        """Send a call and wait for its answer; frames streamed meanwhile go to ``on_frame``."""
        self._lock.acquire(on_wait=self.nudge)  # a slice in flight ends early
        try:
            if self._proc is None or self._proc.poll() is not None:
                if op != "open":  # its cells died with it
                    raise HostLost("the training process stopped; the run's history is kept")
                self._start()
            try:
                self._send(op, args)
                kind, value = pickle.load(self._proc.stdout)
                while kind == "frame":
                    if on_frame is not None:
                        on_frame(value)
                    kind, value = pickle.load(self._proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                self._kill()
                raise HostLost(f"the training process stopped ({type(exc).__name__}); "
                               "the run's history is kept") from None
        finally:
            self._lock.release()
        if kind == "lost":
            raise HostLost(value)
        if kind == "config":
            raise ConfigError.join([ConfigError(n, m, combination=c) for n, m, c in value])
        if kind == "error":
            raise RuntimeError(value)
        return value

    def nudge(self) -> None:
        """End the slice in flight after its current step (a pause, a fresh run or a page's
        call is waiting): the worker process ends a slice as soon as a message arrives."""
        try:
            if self._proc is not None:
                self._send("nudge", ())
        except (OSError, ValueError):  # gone: the next call says so
            pass

    def open(self, run_id: str, spec: Spec) -> Progress:
        return self._call("open", run_id, spec)

    def slice(self, run_id: str, budget_s: float, max_steps: int | None = None,
              publish_every: float | None = None, show_end: bool = False,
              keep_going=None, on_frame=None) -> Progress:
        """Frames stream to ``on_frame`` while the slice runs; instead of ``keep_going`` the
        slice ends early on a ``nudge``."""
        return self._call("slice", run_id, budget_s, max_steps, publish_every, show_end,
                          on_frame=on_frame)

    def lone(self, run_id: str, player: str) -> Progress:
        return self._call("lone", run_id, player)

    def close(self, run_id: str) -> None:
        try:
            self._call("close", run_id)
        except (HostLost, RuntimeError):
            pass  # nothing left to free

    def job(self, run_id: str) -> None:
        return None  # it lives in the other process

    def rss_mb(self) -> float:
        """Resident memory of the worker process (0 when it is not running)."""
        try:
            import psutil

            return psutil.Process(self._proc.pid).memory_info().rss / 2**20
        except Exception:  # not started, gone, or no psutil
            return 0.0

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the worker process (its cells are dropped); a later ``open`` starts a new one."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # the worker's loop ends at end of input
            proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout)


def _recv(fd: int):
    """One length-prefixed pickled message from the raw pipe ``fd`` (EOFError at its end).
    Unbuffered on purpose: ``_readable`` must see every byte not read yet."""
    def exact(n: int) -> bytes:
        chunks = []
        while n:
            chunk = os.read(fd, n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    return pickle.loads(exact(struct.unpack("<Q", exact(8))[0]))


def _readable(fd: int, wait_s: float = 0.0) -> bool:
    """Whether a message is waiting on ``fd`` (without reading it), waiting up to ``wait_s``."""
    return bool(select.select([fd], [], [], wait_s)[0])


def _warm_up(target: str) -> None:
    """Train and draw a tiny run on ``target`` once, so that what first use loads (torch's
    kernels, the 2D estimators, the optimal-transport solver) is loaded before a student's run
    needs it and the process's memory is at its working level from the start."""
    small = dict(steps=2, batch=32, g_width=16, d_width=16, log_every=1, eval_samples=200)
    Cell(Spec((RunConfig(target=target, **small),))).slice(float("inf"), max_steps=2)
    release_memory()


def serve(nice: int = 0) -> None:
    """The worker process: answer (op, args) calls read from stdin with ("ok", result),
    ("lost", why) or ("error", why) on stdout, until stdin ends; a slice streams its frames
    as ("frame", Frame) before its answer and ends early when a message arrives (a "nudge",
    which needs no answer, or the next call). Prints go to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server; its end stops us
    if nice > 0:  # before the imports, which would compete with the server's first page
        try:
            os.nice(nice)
        except OSError:  # not permitted: train at the normal priority
            pass
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else written to stdout (C or Python) goes to stderr
    sys.stdout = sys.stderr
    train_here()  # imports torch: after the nice
    host = LocalHost()
    warm = ["gaussian", "ring8"]  # a 1D and a 2D target, while no call waits

    def send(kind: str, value) -> None:
        pickle.dump((kind, value), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    while True:
        # warm up only once no call has come for a moment: a Start right after its run was
        # built must not wait for a warm-up piece (measured: its first step 0.38 s late)
        while warm and not _readable(0, IDLE_BEFORE_WARM_UP_S):
            _warm_up(warm.pop(0))
        try:
            op, args = _recv(0)
        except EOFError:
            return
        if op == "nudge":
            continue  # its work is done: the slice it was for has ended
        try:
            if op == "slice":
                reply = ("ok", host.slice(*args, keep_going=lambda: not _readable(0),
                                          on_frame=lambda frame: send("frame", frame)))
            elif op in ("open", "lone", "close"):
                reply = ("ok", getattr(host, op)(*args))
            else:
                raise ValueError(f"unknown call {op!r}")
            if op == "close":
                release_memory()
        except HostLost as exc:
            reply = ("lost", str(exc))
        except ConfigError as exc:  # a refused setting: the caller gets the same ConfigError
            reply = ("config", [(e.name, e.message, e.combination) for e in exc.errors])
        except OSError:  # the server is gone (a frame could not be sent): so are its runs
            return
        except Exception as exc:  # sent back; the worker goes on
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            send(*reply)
        except OSError:
            return
