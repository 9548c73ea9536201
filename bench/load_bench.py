"""Classroom throughput: N students training at once through the process-wide Scheduler.

The runs go through the same ``Scheduler`` the server uses (worker pool — worker processes
unless ``GANDEMO_PROCESSES=0`` — time slices over every started run, the memory line; CPU and
RSS count the worker processes), but there is no web server and nobody draws figures, so
these are upper bounds on training throughput; tests/test_load.py measures the real server with
30 tabs.

    .venv/bin/python bench/load_bench.py                 # 1, 10, 30 sessions, 10 s each
    .venv/bin/python bench/load_bench.py --sessions 1 8 --seconds 5 --target ring8 --json

Per session count N it prints: the seconds from Start until each run's first step (worst of N;
the target is ≤ 5 s for 30); total steps/s; the CPUs the process used meanwhile and steps per
CPU-second (robust on a shared machine, where wall-clock rates depend on the neighbours); steps/s
per session (mean over all N, over the ones training, and the slowest); how many trained /
waited in line; the process's threads and RSS before the runs, while they train, and after
they are removed the way a closed tab's run is (detach, then the reaper after the grace period).
Limits come from the GANDEMO_* environment variables, as on the server (see docs/deploy.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from gandemo.config import RunConfig  # noqa: E402
from gandemo.runner import RUNNING, Limits, Scheduler  # noqa: E402


def _tree() -> list[psutil.Process]:
    """This process and its worker processes (``GANDEMO_PROCESSES``)."""
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def _rss_mb() -> float:
    return sum(p.memory_info().rss for p in _tree()) / 2**20


def _cpu_s() -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in _tree()))


def _threads() -> dict[str, int]:
    return {"python": threading.active_count(), "os": psutil.Process().num_threads()}


def measure(sched: Scheduler, n: int, seconds: float, warmup: float, cfg: RunConfig) -> dict:
    before, rss_before = _threads(), _rss_mb()
    runs = [sched.create(cfg.with_(seed=i)) for i in range(n)]
    t_start = time.monotonic()
    for r in runs:
        sched.start(r)
    moved: list[float | None] = [None] * n
    while None in moved and time.monotonic() - t_start < 60:
        now = time.monotonic()
        for i, r in enumerate(runs):
            if moved[i] is None and r.step > 0:
                moved[i] = now - t_start
        time.sleep(0.02)
    end = time.monotonic() + warmup
    while time.monotonic() < end:  # the students' pages poll: keep the heartbeat fresh
        for r in runs:
            r.touch()
        time.sleep(0.2)
    start_steps = [r.step for r in runs]
    cpu0 = _cpu_s()
    t0 = time.monotonic()
    during = _threads()
    end = t0 + seconds
    while time.monotonic() < end:
        for r in runs:
            r.touch()
        time.sleep(0.2)
    dt = time.monotonic() - t0
    cpu = _cpu_s() - cpu0
    steps = [r.step - s for r, s in zip(runs, start_steps)]
    training = [r for r in runs if r.state == RUNNING]
    rates = sorted(r.effective_rate() for r in runs)
    rss = _rss_mb()
    for r in runs:  # the tabs close: detach, then the reaper removes them after the grace period
        sched.detach(r.id)
    sched.reap(now=time.monotonic() + sched.limits.grace_s + 1)
    time.sleep(1.0)
    after_remove, rss_after = _threads(), _rss_mb()
    total = sum(steps) / dt
    moving = [s for s in steps if s > 0]
    return {
        "sessions": n,
        "moved_worst_s": round(max(x for x in moved if x is not None), 2) if all(
            x is not None for x in moved) else None,
        "moved_median_s": round(sorted(x or 60 for x in moved)[n // 2], 2),
        "rate_min_max": (round(rates[0], 1), round(rates[-1], 1)),
        "total_steps_per_s": round(total, 1),
        "cpu_s_per_s": round(cpu / dt, 2),
        "steps_per_cpu_s": round(sum(steps) / cpu, 1) if cpu > 0 else None,
        "per_session_steps_per_s": round(total / n, 1),
        "per_training_session_steps_per_s": round(sum(moving) / dt / max(len(moving), 1), 1),
        "slowest_training_session_steps_per_s": round(min(moving, default=0) / dt, 1),
        "training": len(training),
        "waiting": n - len(training),
        "threads_before": before,
        "threads_during": during,
        "threads_after_remove": after_remove,
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_during": round(rss, 1),
        "rss_mb_after_remove": round(rss_after, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 30])
    p.add_argument("--seconds", type=float, default=10.0, help="measured time per step count")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--target", default="gaussian")
    p.add_argument("--max-running", type=int, help="override GANDEMO_MAX_RUNNING")
    p.add_argument("--workers", type=int, help="override GANDEMO_WORKERS")
    p.add_argument("--json", action="store_true", help="last line: all results as JSON")
    args = p.parse_args(argv)

    limits = Limits(max_steps=10**9, max_run_s=10**9, grace_s=1)
    if args.max_running:
        limits.max_running = args.max_running
    if args.workers:
        limits.workers = args.workers
    cfg = RunConfig(target=args.target, steps=200_000)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# Scheduler: workers={limits.workers} (processes: {limits.processes}) "
          f"max_running={limits.max_running} "
          f"memory={limits.memory_mb} MB slice={limits.slice_s}s target={args.target}; "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at start")
    print(f"{'sessions':>8} {'moved worst/med s':>17} {'total it/s':>10} {'CPUs used':>9} "
          f"{'it/CPU-s':>8} {'per session':>11} {'slowest':>8} {'train/wait':>10} "
          f"{'threads before/during/after':>27} {'RSS MB before/during/after':>26}")
    results = []
    sched = Scheduler(limits, processes=limits.processes)
    sched.start(sched.create(cfg.with_(steps=20)))  # warm: the worker pool exists (baseline)
    time.sleep(1.0)
    sched.reap(now=time.monotonic() + limits.idle_s + 1)
    for n in args.sessions:
        r = measure(sched, n, args.seconds, args.warmup, cfg)
        results.append(r)
        th = (f"{r['threads_before']['os']}/{r['threads_during']['os']}/"
              f"{r['threads_after_remove']['os']}")
        rss = f"{r['rss_mb_before']:.0f}/{r['rss_mb_during']:.0f}/{r['rss_mb_after_remove']:.0f}"
        moved = f"{r['moved_worst_s'] or float('nan'):.2f}/{r['moved_median_s']:.2f}"
        print(f"{n:>8} {moved:>17} {r['total_steps_per_s']:>10.1f} {r['cpu_s_per_s']:>9.2f} "
              f"{r['steps_per_cpu_s'] or 0:>8.1f} {r['per_session_steps_per_s']:>11.1f} "
              f"{r['slowest_training_session_steps_per_s']:>8.1f} "
              f"{r['training']:>4}/{r['waiting']:<5} {th:>27} {rss:>26}", flush=True)
    sched.shutdown()
    if args.json:
        print(json.dumps({"load_average_start": load, "workers": limits.workers,
                          "max_running": limits.max_running, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
