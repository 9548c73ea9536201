"""The background scheduler without Streamlit: controls, finishing, divergence, fair time
slicing of a whole class, the memory line, cleanup (detach + grace, heartbeat), shutdown, the
server limits (sizes, predicted costs) and the typed reasons.

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
    ERROR,
    FINISHED,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    Limits,
    Reason,
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
    from gandemo.runner import LIVE_REFRESHES_PER_S, MAX_REFRESH_S, Scheduler

    sched = Scheduler()
    cfg = RunConfig(steps=5)
    runs = [sched.create(cfg)]
    assert sched.refresh_interval(0.1) == 0.1  # one viewer: the page's own rate
    few = int(LIVE_REFRESHES_PER_S * 0.4)
    runs += [sched.create(cfg) for _ in range(few - 1)]
    assert sched.refresh_interval(0.4) == 0.4  # a few viewers: still the page's rate
    runs += [sched.create(cfg) for _ in range(few)]
    assert sched.refresh_interval(0.1) == pytest.approx(2 * few / LIVE_REFRESHES_PER_S)
    now = time.monotonic()
    assert sched.refresh_interval(0.1, now=now + 60) == 0.1  # nobody touched them lately
    runs += [sched.create(cfg) for _ in range(int(MAX_REFRESH_S * LIVE_REFRESHES_PER_S))]
    assert sched.refresh_interval(0.1) == MAX_REFRESH_S
    sched.shutdown()


# ------------------------------------------------------------------------ fairness (round robin)


def test_thirty_runs_all_move_in_the_first_round_and_share_turns_evenly():
    """30 started runs, driven turn by turn (no threads): the first 30 turns give each its first
    step (start order), and every later round gives each exactly one turn: nobody is parked."""
    sched = Scheduler(Limits(workers=2, memory_mb=100_000, slice_s=0.001), threads=False)
    try:
        runs = [sched.create(RunConfig(steps=50_000, seed=i, **SMALL)) for i in range(30)]
        for run in runs:
            sched.start(run)
        assert all(r.state == RUNNING for r in runs) and sched.stats()["queued"] == 0
        first_round = [sched.run_turn() for _ in range(30)]
        assert first_round == runs  # fresh runs first, one step each, in the order they started
        assert [r.step for r in runs] == [1] * 30
        assert all(r.latest().step == 1 for r in runs)  # the first step is shown at once
        for _ in range(3):  # three full rounds: each run gets one turn per round
            turns = [sched.run_turn() for _ in range(30)]
            assert sorted(id(r) for r in turns) == sorted(id(r) for r in runs)
        assert all(r.step >= 4 for r in runs)
        late = sched.create(RunConfig(steps=50_000, seed=99, **SMALL))
        sched.start(late)
        assert sched.run_turn() is late and late.step == 1  # a newcomer does not wait a round
    finally:
        sched.shutdown()


def test_thirty_runs_on_two_workers_all_train(make_scheduler):
    sched = make_scheduler(workers=2, max_running=64, memory_mb=100_000)
    runs = [sched.create(RunConfig(steps=50_000, seed=i, **SMALL)) for i in range(30)]
    for run in runs:
        sched.start(run)
    assert sched.stats()["running"] == 30
    assert wait_until(lambda: all(r.step >= 3 for r in runs), 120), [r.step for r in runs]
    assert all(sched.position(r) is None for r in runs)
    rows = sched.runs_info()
    assert all(row["position"] is None and row["state"] == RUNNING for row in rows)


# ------------------------------------------------------------------------ memory: line, refusal


def test_memory_budget_queues_with_the_reason_and_admits_when_freed():
    probe = Limits(workers=1, memory_mb=100_000)
    cost = probe.cost(RunConfig(**SMALL))
    # room for two such runs (and one working set), not three
    budget = int(2 * cost.resident_mb + cost.working_mb + 0.5 * cost.resident_mb)
    sched = Scheduler(Limits(workers=1, memory_mb=budget), threads=False)
    try:
        runs = [sched.create(RunConfig(steps=50_000, seed=i, **SMALL)) for i in range(3)]
        for run in runs:
            sched.start(run)
        assert [r.state for r in runs] == [RUNNING, RUNNING, QUEUED]
        assert "waiting for memory" in runs[2].message and f"{budget} MB" in runs[2].message
        assert sched.position(runs[2]) == 1
        info = {row["id"]: row for row in sched.runs_info()}
        assert info[runs[2].id]["position"] == 1 and info[runs[0].id]["position"] is None
        sched.remove(runs[0])  # its memory is free: the line moves
        assert runs[2].state == RUNNING and runs[2].message == ""
        assert sched.position(runs[2]) is None
    finally:
        sched.shutdown()


def test_a_run_larger_than_the_memory_budget_is_refused_naming_the_setting():
    limits = Limits(memory_mb=40)
    limits.check(RunConfig(target="gaussian"))
    big = RunConfig(target="gaussian", minibatch_disc=True, batch=512)
    with pytest.raises(ConfigError, match=r"needs about \d+ MB; .* memory for training is 40 MB"
                       ) as err:
        limits.check(big)
    assert err.value.name == "batch"
    sched = Scheduler(limits, threads=False)
    with pytest.raises(ConfigError):
        sched.create(big)
    with pytest.raises(ConfigError) as err:
        sched.create_comparison([RunConfig(target="ring8", seed=i) for i in range(4)])
    assert err.value.name == "variants" and "40 MB" in str(err.value)
    assert sched.runs == {}


# ------------------------------------------------------------------------ cost caps


@pytest.mark.parametrize("changes, cap, name", [
    ({"minibatch_disc": True, "batch": 1024}, {"max_step_work": 250}, "batch"),
    ({"d_steps": 100}, {"max_step_work": 30}, "d_steps"),
    ({"target": "ring8", "eval_samples": 50_000}, {"max_snapshot_ms": 10}, "eval_samples"),
    ({"target": "ring8", "d_width": 256, "d_depth": 6}, {"max_snapshot_ms": 100}, "d_width"),
    ({"target": "ring8", "minibatch_disc": True, "batch": 1024},
     {"max_snapshot_ms": 100, "max_step_work": 10**6}, "batch"),
])
def test_cost_caps_refuse_naming_the_setting_and_the_cap(changes, cap, name):
    cfg = RunConfig(**changes)
    limits = Limits(memory_mb=100_000, **cap)
    with pytest.raises(ConfigError) as err:
        limits.check(cfg)
    assert err.value.name == name
    assert f"{next(iter(cap.values())):g}" in str(err.value)


def test_predicted_cost_grows_with_every_setting():
    from gandemo.limits import predict

    base = predict(RunConfig())
    for change in ({"batch": 1024}, {"g_width": 256}, {"d_width": 256}, {"g_depth": 6},
                   {"d_depth": 6}, {"d_steps": 5}, {"unrolled": 3}, {"minibatch_disc": True},
                   {"loss": "wgan-gp"}):
        assert predict(RunConfig(**change)).step_s > base.step_s, change
    for change in ({"eval_samples": 20_000}, {"d_width": 256}, {"target": "ring8"},
                   {"minibatch_disc": True}):
        assert predict(RunConfig(**change)).snapshot_s > base.snapshot_s, change
    ring = predict(RunConfig(target="ring8", minibatch_disc=True))
    ring_big = predict(RunConfig(target="ring8", minibatch_disc=True, batch=512))
    # the grid is scored against a fixed batch of fakes: linear in the batch, not grid²
    assert ring_big.terms["snap_mbd"] == pytest.approx(2 * ring.terms["snap_mbd"])
    assert predict(RunConfig(eval_samples=20_000)).resident_mb > base.resident_mb
    assert predict(RunConfig(minibatch_disc=True, batch=1024)).working_mb > 100


def test_every_preset_is_accepted_by_the_default_caps():
    from gandemo.presets import PRESETS

    limits = Limits(memory_mb=4096)
    for preset in PRESETS.values():
        cost = limits.check_all(preset.configs())
        assert cost.snapshot_s < 0.1 * len(preset.configs()), preset.name


# ------------------------------------------------------------------------ typed reasons


def test_reasons_name_why_a_run_ended_or_paused(make_scheduler):
    sched = make_scheduler(heartbeat_s=30, max_run_s=10_000)
    done = sched.create(RunConfig(steps=10, **SMALL))
    sched.start(done)
    assert wait_until(lambda: done.state == FINISHED)
    assert done.reason is Reason.FINISHED and done.reason == "finished"

    bad = sched.create(RunConfig(seed=3, **DIVERGING))
    sched.start(bad)
    assert wait_until(lambda: bad.state == DIVERGED)
    assert bad.reason is Reason.DIVERGED and bad.message.startswith("diverged at step")

    watched = sched.create(RunConfig(steps=50_000, **SMALL))
    sched.start(watched)
    assert watched.reason is None
    sched.reap(now=watched.last_seen + 31)
    assert (watched.state, watched.reason) == (PAUSED, Reason.IDLE)
    assert "nobody was watching" in watched.message  # what the pages look for today
    sched.start(watched)
    assert (watched.state, watched.reason, watched.message) == (RUNNING, None, "")
    sched.stop(watched)
    assert (watched.state, watched.reason) == (STOPPED, Reason.STOPPED)

    closed = sched.create(RunConfig(steps=50, **SMALL))
    sched.detach(closed.id)
    sched.reap(now=closed.detached_at + 11)
    assert sched.get(closed.id) is None and closed.reason is Reason.IDLE


def test_time_limit_and_error_reasons():
    sched = Scheduler(Limits(workers=1, max_run_s=1), threads=False)
    try:
        slow = sched.create(RunConfig(steps=50_000, **SMALL))
        slow.trainer.wall_s = 2.0  # as if it had trained two seconds already
        sched.start(slow)
        sched.run_turn()
        assert (slow.state, slow.reason) == (STOPPED, Reason.TIME_LIMIT)
        assert "time limit" in slow.message  # what the pages look for today

        broken = sched.create(RunConfig(steps=50_000, **SMALL))

        def boom():
            raise RuntimeError("boom")

        broken.trainer.step = boom
        sched.start(broken)
        sched.run_turn()
        assert (broken.state, broken.reason) == (ERROR, Reason.ERROR)
        assert "boom" in broken.message
        assert {r.value for r in Reason} == {"finished", "diverged", "time_limit", "idle",
                                             "stopped", "error"}
    finally:
        sched.shutdown()


# ------------------------------------------------------------------------ status rows


def test_runs_info_describes_a_comparison_and_its_real_rate():
    sched = Scheduler(Limits(workers=1, memory_mb=100_000, slice_s=0.02), threads=False)
    try:
        configs = [RunConfig(steps=500, loss=loss, **SMALL)
                   for loss in ("nonsaturating", "minimax", "hinge", "minimax")]
        cmp_run = sched.create_comparison(configs)
        solo = sched.create(RunConfig(steps=500, **SMALL))
        sched.start(cmp_run)
        for _ in range(6):
            sched.run_turn()
        rows = {row["id"]: row for row in sched.runs_info()}
        row = rows[cmp_run.id]
        assert (row["kind"], row["variants"]) == ("comparison", 4)
        assert row["losses"] == ["nonsaturating", "minimax", "hinge"]
        assert row["state"] == RUNNING and row["position"] is None
        assert row["step"] > 1 and row["rate"] > 0
        assert rows[solo.id]["kind"] == "run" and rows[solo.id]["rate"] == 0.0
    finally:
        sched.shutdown()


@pytest.mark.slow  # a fresh Python process imports torch
def test_no_process_wide_torch_setting_at_import():
    import subprocess
    import sys

    code = ("import torch; n = torch.get_num_threads(); import gandemo.runner; "
            "assert torch.get_num_threads() == n, (n, torch.get_num_threads()); print(n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]


def test_status_page_describes_a_comparison():
    """The teacher's page: one row per comparison, named by its variants and losses; no place in
    line for a run that is not waiting; the reason shown for one that is."""
    from streamlit.testing.v1 import AppTest

    from gandemo.runner import get_scheduler

    sched = get_scheduler()
    configs = [RunConfig(steps=5, loss=loss, **SMALL)
               for loss in ("nonsaturating", "minimax", "nonsaturating", "hinge")]
    run = sched.create_comparison(configs)
    try:
        at = AppTest.from_file("../views/status.py", default_timeout=60).run()
        assert not at.exception
        table = at.dataframe[0].value
        row = table[table["loss"].str.startswith("comparison")].iloc[-1]
        assert row["loss"] == "comparison of 4 variants (losses nonsaturating, minimax, hinge)"
        assert row["place in line"] == "" and row["state"] == "paused"
        assert "None" not in table.to_string()
    finally:
        sched.remove(run)


def test_a_slow_frame_is_published_less_often_so_training_keeps_most_of_the_time():
    """publish_period: 1/fps for a cheap frame; a frame that takes long stretches the period so
    publishing stays within SNAPSHOT_SHARE of the run's time."""
    from gandemo.hosts import SNAPSHOT_SHARE, Cell, Spec

    cell = Cell(Spec((RunConfig(steps=5000, **SMALL),)))
    assert cell.publish_period() >= 1.0 / cell.spec.fps
    cell._publish_s = 0.2  # as if its last frame took 200 ms
    assert cell.publish_period() == pytest.approx(0.2 / SNAPSHOT_SHARE)
    original = cell.publish

    def slow():
        frame = original()
        cell._publish_s = 0.2  # every frame "takes" 200 ms
        return frame

    cell.publish = slow
    progress = cell.slice(1.5, publish_every=0.01)
    assert progress.steps > 10
    assert 1 <= len(progress.frames) <= 3  # 1.5 s / 0.8 s (not 150 frames)
