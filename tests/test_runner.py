"""The background scheduler without Streamlit: controls, finishing, divergence, the line,
cleanup (detach + grace, heartbeat), shutdown and the server limits.

Each test owns a private ``Scheduler`` (never the process-wide one) and shuts it down. Waits are
bounded polls on state, never assertions on speed.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest

from gandemo.config import ConfigError, RunConfig
from gandemo.runner import (
    DIVERGED,
    FINISHED,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    Limits,
    Scheduler,
)

# Small and quick: a few ms per step even on a busy machine.
SMALL = dict(target="gaussian", batch=32, g_width=16, d_width=16, log_every=5, eval_samples=200)
# SGD with lr 1 on the f-GAN KL objective: exp(T) overflows within a few steps, every seed.
DIVERGING = dict(SMALL, loss="fgan-kl", opt_d="sgd", opt_g="sgd", lr_d=1.0, lr_g=1.0, steps=500)


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture()
def make_scheduler():
    """Private schedulers, shut down afterwards with no worker thread left behind."""
    made: list[Scheduler] = []

    def make(**limits) -> Scheduler:
        sched = Scheduler(Limits(**{"workers": 1, "max_running": 4, **limits}))
        made.append(sched)
        return sched

    yield make
    for sched in made:
        threads = list(sched._threads)
        sched.shutdown()
        assert not any(t.is_alive() for t in threads)


def test_start_pause_step_stop(make_scheduler):
    sched = make_scheduler()
    run = sched.create(RunConfig(steps=50_000, **SMALL))
    assert (run.state, run.step) == (PAUSED, 0)
    assert sched.get(run.id) is run

    assert sched.step_once(run) == 1 and run.step == 1  # exactly one iteration, paused
    assert run.state == PAUSED and run.latest().step == 1

    sched.start(run)
    assert run.state == RUNNING
    assert wait_until(lambda: run.step > 10), "the worker never trained"
    sched.pause(run)
    assert run.state == PAUSED
    assert wait_until(lambda: not run.train_lock.locked(), 10)  # the current slice ends
    frozen = run.step
    time.sleep(0.3)
    assert run.step == frozen, "a paused run kept training"
    assert sched.step_once(run) == frozen + 1

    sched.stop(run)
    assert run.state == STOPPED
    sched.start(run)  # a stopped run cannot be restarted
    assert run.state == STOPPED
    assert sched.step_once(run) == frozen + 1


def test_run_finishes_and_keeps_history(make_scheduler):
    sched = make_scheduler()
    run = sched.create(RunConfig(steps=40, **SMALL))
    sched.start(run)
    assert wait_until(lambda: run.state == FINISHED), run.state
    assert run.step == 40 and run.message == "finished 40 steps"
    hist = run.history()
    assert hist["step"][-1] == 40 and len(hist["step"]) == 40 // SMALL["log_every"]
    assert np.isfinite(hist["d_loss"]).all() and np.isfinite(hist["js"]).all()
    assert run.latest().step == 40
    assert run.frames()[-1].step == 40
    assert run.iters_per_s > 0
    sched.start(run)  # finished stays finished
    assert run.state == FINISHED


def test_diverging_run_names_the_step_and_keeps_history(make_scheduler):
    sched = make_scheduler()
    run = sched.create(RunConfig(seed=3, **DIVERGING))
    sched.start(run)
    assert wait_until(lambda: run.state not in (RUNNING, QUEUED)), run.state
    assert run.state == DIVERGED, run.message
    at = run.trainer.diverged_at
    assert at is not None and at < DIVERGING["steps"]
    assert re.match(rf"diverged at step {at}\b", run.message), run.message
    hist = run.history()
    assert len(hist["step"]) >= 1 and hist["step"][-1] <= at  # kept up to the divergence
    assert run.latest() is not None and run.frames()


def test_max_running_queues_further_runs(make_scheduler):
    sched = make_scheduler(max_running=1)
    runs = [sched.create(RunConfig(steps=50_000, seed=i, **SMALL)) for i in range(3)]
    for run in runs:
        sched.start(run)
    first, second, third = runs
    assert [r.state for r in runs] == [RUNNING, QUEUED, QUEUED]
    assert [sched.position(r) for r in runs] == [None, 1, 2]

    sched.pause(first)  # frees the slot: the head of the line moves up
    assert (first.state, second.state, third.state) == (PAUSED, RUNNING, QUEUED)
    assert sched.position(third) == 1
    assert wait_until(lambda: second.step > 0)
    assert third.step == 0
    stats = sched.stats()
    assert (stats["running"], stats["queued"], stats["paused"]) == (1, 1, 1)


def test_detach_then_reap_after_the_grace_period(make_scheduler):
    sched = make_scheduler(grace_s=10)
    run = sched.create(RunConfig(steps=100, **SMALL))
    sched.detach(run.id)
    t0 = run.detached_at
    sched.reap(now=t0 + 5)
    assert sched.get(run.id) is run  # within the grace period
    run.touch()  # a page re-attached (refresh): the detach is cancelled
    sched.reap(now=t0 + 60)
    assert sched.get(run.id) is run

    sched.detach(run.id)
    sched.reap(now=run.detached_at + 11)
    assert sched.get(run.id) is None
    assert run.state == STOPPED


def test_heartbeat_timeout_pauses_an_unwatched_run(make_scheduler):
    sched = make_scheduler(heartbeat_s=30)
    run = sched.create(RunConfig(steps=50_000, **SMALL))
    sched.start(run)
    sched.reap(now=run.last_seen + 10)
    assert run.state == RUNNING
    sched.reap(now=run.last_seen + 31)
    assert run.state == PAUSED
    assert "nobody was watching" in run.message
    assert sched.get(run.id) is run  # paused, not removed


def test_shutdown_leaves_no_worker_thread(make_scheduler):
    sched = make_scheduler(workers=2)
    runs = [sched.create(RunConfig(steps=50_000, seed=i, **SMALL)) for i in range(2)]
    for run in runs:
        sched.start(run)
    assert wait_until(lambda: all(r.step > 0 for r in runs))
    threads = list(sched._threads)
    assert {t.name for t in threads} >= {"gandemo-worker-0", "gandemo-worker-1"}
    sched.shutdown()
    assert not any(t.is_alive() for t in threads)
    assert not any(t in threading.enumerate() for t in threads)
    assert all(r.state == STOPPED for r in runs) and sched.runs == {}


def test_limits_refuse_an_absurd_size_naming_the_setting():
    limits = Limits(max_width=256, max_steps=50_000, max_batch=1024)
    limits.check(RunConfig(g_width=256))
    with pytest.raises(ConfigError, match=r"g_width: .*at most 256; got 512") as err:
        limits.check(RunConfig(g_width=512))
    assert err.value.name == "g_width"
    sched = Scheduler(limits)
    with pytest.raises(ConfigError, match="steps"):
        sched.create(RunConfig(steps=200_000))
    assert sched.runs == {}


def test_live_refresh_slows_down_only_under_classroom_load():
    from gandemo.runner import MAX_REFRESH_S, VIEWERS_AT_BASE, Scheduler

    sched = Scheduler()
    cfg = RunConfig(steps=5)
    runs = [sched.create(cfg) for _ in range(VIEWERS_AT_BASE)]
    assert sched.refresh_interval(0.4) == 0.4  # a few viewers: full rate (2.5 refreshes/s)
    runs += [sched.create(cfg) for _ in range(VIEWERS_AT_BASE)]
    assert sched.refresh_interval(0.4) == pytest.approx(0.8)
    now = time.monotonic()
    assert sched.refresh_interval(0.4, now=now + 60) == 0.4  # nobody touched them lately
    runs += [sched.create(cfg) for _ in range(8 * VIEWERS_AT_BASE)]
    assert sched.refresh_interval(0.4) == MAX_REFRESH_S
    sched.shutdown()
