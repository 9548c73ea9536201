"""Where a run's job lives (gandemo.hosts): a worker process answers exactly what the same job
in this process would, history arrives as new rows only (and starts over when thinned or
widened), a dead worker process costs its runs their job but not their history, and a scheduler
with worker processes trains, pauses and shuts them down.

Each test owns its hosts and schedulers and stops them. Waits are bounded polls on state."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import wait_until

from gandemo.config import ConfigError, RunConfig
from gandemo.hosts import Cell, HostLost, ProcessHost, Spec, _FairLock
from gandemo.runner import (
    ERROR,
    FINISHED,
    PAUSED,
    RUNNING,
    ComparisonRun,
    Limits,
    Reason,
    Run,
    Scheduler,
)
from gandemo.trainer import MOVE_COLUMNS

SMALL = dict(target="gaussian", batch=32, g_width=16, d_width=16, log_every=5, eval_samples=200)


@pytest.fixture(scope="module")
def worker():
    """One worker process for this module's tests (starting one takes a second or two)."""
    host = ProcessHost()
    yield host
    host.shutdown()


def test_a_worker_process_trains_exactly_what_this_process_would(worker):
    """Same config, same seed: the frames and history from the worker process equal the local
    ones to the bit (the job is the same code; only where it runs differs)."""
    cfg = RunConfig(steps=40, **SMALL)
    limits = Limits()
    here, there = Run(cfg, limits), Run(cfg, limits, host=worker)
    for run in (here, there):
        run.train_slice(float("inf"), max_steps=25)
        run.lone_move("d")
    assert here.step == there.step == 25
    assert here.lone_moves == there.lone_moves == {"d": 1, "g": 0}
    a, b = here.history(), there.history()
    assert a.keys() == b.keys() and set(MOVE_COLUMNS) <= set(a)  # widened by the move
    for column in set(a) - {"wall_s"}:  # seconds differ, numbers do not
        np.testing.assert_array_equal(a[column], b[column])
    fa, fb = here.latest(), there.latest()
    assert fa.step == fb.step == 25
    np.testing.assert_array_equal(fa.p_g, fb.p_g)
    np.testing.assert_array_equal(fa.fake, fb.fake)
    assert here.trainer is not None and there.trainer is None  # the job lives over there
    for run in (here, there):
        run.close()


def test_a_comparison_in_a_worker_process_keeps_one_history_per_variant(worker):
    configs = [RunConfig(steps=12, loss=loss, **SMALL) for loss in ("nonsaturating", "hinge")]
    run = ComparisonRun(configs, Limits(), labels=["A", "B"], host=worker)
    run.train_slice(float("inf"), max_steps=12)
    hist = run.history()
    assert list(hist) == ["A", "B"]
    assert all(h["step"][-1] == 12 for h in hist.values())
    assert [label for label, _ in run.latest()] == ["A", "B"]
    assert not np.array_equal(hist["A"]["d_loss"], hist["B"]["d_loss"])  # two losses
    run.close()


def test_history_comes_as_new_rows_and_starts_over_when_thinned():
    """Each frame carries only the rows since the last one; when the log is thinned (full) it
    carries the whole thinned log from row 0, and the run's history is that log exactly."""
    cfg = RunConfig(steps=400, **dict(SMALL, log_every=1))
    cell = Cell(Spec((cfg,), max_rows=50))
    first = cell.publish()
    assert first.rows[None].start == 0
    cell.job.step()
    cell.job.step()
    tail = cell.publish().rows[None]
    assert tail.start == len(first.rows[None].columns["step"]) and len(tail.columns["step"]) == 2

    run = Run(cfg, Limits(max_rows=50))
    run.train_slice(float("inf"), max_steps=120)  # publishes along the way and at the end
    hist = run.history()
    log = run.trainer.history
    assert len(log) <= 51  # thinned by 2 whenever over 50 rows
    np.testing.assert_array_equal(hist["step"], np.asarray(log.columns["step"], dtype=float))
    assert hist["step"][-1] == 120 and np.all(np.diff(hist["step"]) > 0)


@pytest.mark.slow  # starts worker processes (seconds each): in `make test`, not test-fast
def test_a_dead_worker_process_ends_its_runs_with_their_history_kept(worker):
    run = Run(RunConfig(steps=5000, **SMALL), Limits(), host=worker)
    run.train_slice(float("inf"), max_steps=20)
    before = run.history()["step"].copy()
    worker._proc.kill()
    worker._proc.wait(10)
    run.state = RUNNING
    assert run.train_slice(0.05) == 0
    assert run.state == ERROR and run.reason == Reason.ERROR
    assert "training process stopped" in run.message
    np.testing.assert_array_equal(run.history()["step"], before)  # what it showed is kept
    assert run.latest().step == 20
    # the next run gets a new worker process; the old run's job is not there
    fresh = Run(RunConfig(steps=10, **SMALL), Limits(), host=worker)
    fresh.train_slice(float("inf"), max_steps=3)
    assert fresh.step == 3
    with pytest.raises(HostLost):
        worker.slice(run.id, 0.01)


def test_a_worker_process_reports_a_bad_call_and_goes_on(worker):
    with pytest.raises(HostLost):
        worker.lone("no-such-run", "d")
    run = Run(RunConfig(steps=10, **SMALL), Limits(), host=worker)
    with pytest.raises(ConfigError, match="player"):  # refused as in this process
        run.lone_move("x")
    with pytest.raises(ConfigError, match="player"):
        Run(RunConfig(steps=10, **SMALL), Limits()).lone_move("x")
    assert run.state == PAUSED
    other = Run(RunConfig(steps=10, **SMALL), Limits(), host=worker)
    other.train_slice(float("inf"), max_steps=2)
    assert other.step == 2


@pytest.mark.slow  # starts worker processes (seconds each): in `make test`, not test-fast
def test_a_scheduler_with_worker_processes_trains_pauses_and_shuts_them_down():
    sched = Scheduler(Limits(workers=2), processes=True)
    try:
        hosts = list(sched._hosts)
        assert len(hosts) == 2 and all(isinstance(h, ProcessHost) for h in hosts)
        # the first process starts with the scheduler, the other with the first run
        assert hosts[0].pid is not None and hosts[1].pid is None
        runs = [sched.create(RunConfig(steps=60, seed=i, **SMALL)) for i in range(4)]
        assert {r.host for r in runs} == set(hosts)  # spread over both processes
        slow = sched.create(RunConfig(steps=50_000, **SMALL))
        for run in runs + [slow]:
            sched.start(run)
        assert wait_until(lambda: all(r.state == FINISHED for r in runs))
        assert all(r.step == 60 and r.history()["step"][-1] == 60 for r in runs)
        assert wait_until(lambda: slow.step > 0)
        sched.pause(slow)
        paused_at = slow.step
        time.sleep(0.3)
        assert slow.state == PAUSED and slow.step == paused_at
        assert sched.stats()["processes"] == 2 and sched.stats()["rss_mb"] > 0
        pids = [h.pid for h in hosts]
    finally:
        sched.shutdown()
    assert all(h.pid is None for h in hosts) and all(pid is not None for pid in pids)
    assert not sched.runs



def test_your_own_points_train_in_a_worker_process_as_here(worker):
    """A custom target travels as its points: the worker process loads the same target (same
    name, same density) and trains exactly what this process would."""
    rng = np.random.default_rng(3)
    points = tuple((float(x), float(y)) for x, y in rng.normal(size=(40, 2)))
    cfg = RunConfig(target="custom", data=points, steps=20, **{k: v for k, v in SMALL.items()
                                                                  if k != "target"})
    here, there = Run(cfg, Limits()), Run(cfg, Limits(), host=worker)
    for run in (here, there):
        run.train_slice(float("inf"), max_steps=6)
    assert there.state == PAUSED and there.step == 6 and there.latest().dim == 2
    np.testing.assert_array_equal(here.latest().p_r, there.latest().p_r)
    np.testing.assert_array_equal(here.latest().fake, there.latest().fake)
    for run in (here, there):
        run.close()


@pytest.mark.slow  # starts worker processes (seconds each): in `make test`, not test-fast
def test_a_run_no_worker_process_can_take_trains_in_the_server_instead():
    """If the worker process cannot build a run (here: its process fails at once), the run is
    built and trained in this process; the scheduler's workers still train it."""
    sched = Scheduler(Limits(workers=1), processes=True)
    try:
        broken = sched._hosts[0]
        broken.shutdown()

        def cannot_start():
            raise HostLost("the worker process cannot start")

        broken._start = cannot_start
        run = sched.create(RunConfig(steps=30, **SMALL))
        assert not run.host.remote and run.trainer is not None
        sched.start(run)
        assert wait_until(lambda: run.state == FINISHED)
        assert run.history()["step"][-1] == 30
    finally:
        sched.shutdown(processes=False)


@pytest.mark.slow  # starts worker processes (seconds each): in `make test`, not test-fast
def test_runs_started_together_spread_over_the_worker_processes():
    """A run being built counts for its worker process: two Starts in the same second (the
    first still waiting for its process) go to different processes."""
    sched = Scheduler(Limits(workers=2), processes=True)
    try:
        first = sched._hosts[0]
        slow_open = first.open

        def held_up(run_id, spec):
            time.sleep(0.5)
            return slow_open(run_id, spec)

        first.open = held_up
        runs = []
        threads = [threading.Thread(target=lambda i=i: runs.append(
            sched.create(RunConfig(steps=10, seed=i, **SMALL)))) for i in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.05)  # the second asks while the first is being built
        for t in threads:
            t.join(30)
        assert len(runs) == 2 and runs[0].host is not runs[1].host
        assert sched._placing == {id(h): 0 for h in sched._hosts}  # reservations given back
    finally:
        sched.shutdown()


def test_a_call_to_a_busy_worker_process_waits_one_slice_not_forever():
    """The host's lock is first come, first served: a worker thread that releases it and takes
    it again at once (slice after slice) lets a page's call that was waiting go next; the
    waiting call nudges the slice in flight once."""
    lock, order = _FairLock(), []
    held, waiting = threading.Event(), threading.Event()

    def busy_worker():
        for i in range(5):
            with lock:
                order.append("slice")
                if i == 0:
                    held.set()
                    assert waiting.wait(10)  # the page's call is in line behind this slice
        order.append("worker done")

    worker_thread = threading.Thread(target=busy_worker)
    worker_thread.start()
    assert held.wait(10)
    lock.acquire(on_wait=waiting.set)  # on_wait: called once, as a nudge would be
    order.append("call")
    lock.release()
    worker_thread.join(10)
    assert order[:2] == ["slice", "call"]  # next after the slice in flight, not after five
    assert order.count("slice") == 5 and waiting.is_set()
