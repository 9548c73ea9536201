"""Classroom throughput: N students training at once through the process-wide Scheduler.

In-process: the runs go through the same ``Scheduler`` the server uses (worker pool, time slices,
``max_running`` cap and line), but there is no web server and nobody draws figures, so these are
upper bounds on training throughput; tests/test_load.py measures the real server with 20 tabs.

    .venv/bin/python bench/load_bench.py                 # 1, 10, 30 sessions, 10 s each
    .venv/bin/python bench/load_bench.py --sessions 1 8 --seconds 5 --target ring8 --json

Per session count N it prints: total steps/s; the CPUs the process used meanwhile and steps per
CPU-second (robust on a shared machine, where wall-clock rates depend on the neighbours); steps/s
per session (mean over all N, over the ones training, and the slowest); how many trained /
waited in line; and the process's threads before the runs, while they train, after they are
removed, and after the scheduler is shut down.
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


def _cpu_s() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def _threads() -> dict[str, int]:
    return {"python": threading.active_count(), "os": psutil.Process().num_threads()}


def measure(n: int, seconds: float, warmup: float, cfg: RunConfig, limits: Limits) -> dict:
    sched = Scheduler(limits)
    before = _threads()
    runs = [sched.create(cfg.with_(seed=i)) for i in range(n)]
    for r in runs:
        sched.start(r)
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
    rss = psutil.Process().memory_info().rss / 2**20
    for r in runs:
        sched.remove(r)
    time.sleep(1.0)
    after_remove = _threads()
    sched.shutdown()
    after_shutdown = _threads()
    total = sum(steps) / dt
    moving = [s for s in steps if s > 0]
    return {
        "sessions": n,
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
        "threads_after_shutdown": after_shutdown,
        "rss_mb_during": round(rss, 1),
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

    limits = Limits(max_steps=10**9, max_run_s=10**9)
    if args.max_running:
        limits.max_running = args.max_running
    if args.workers:
        limits.workers = args.workers
    cfg = RunConfig(target=args.target, steps=200_000)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# in-process Scheduler: workers={limits.workers} max_running={limits.max_running} "
          f"slice={limits.slice_s}s target={args.target}; {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at start")
    print(f"{'sessions':>8} {'total it/s':>10} {'CPUs used':>9} {'it/CPU-s':>8} "
          f"{'per session':>11} {'per training':>12} "
          f"{'slowest':>8} {'train/wait':>10} {'threads before/during/after/shutdown':>36} "
          f"{'RSS MB':>7}")
    results = []
    for n in args.sessions:
        r = measure(n, args.seconds, args.warmup, cfg, limits)
        results.append(r)
        th = (f"{r['threads_before']['os']}/{r['threads_during']['os']}/"
              f"{r['threads_after_remove']['os']}/{r['threads_after_shutdown']['os']}")
        print(f"{n:>8} {r['total_steps_per_s']:>10.1f} {r['cpu_s_per_s']:>9.2f} "
              f"{r['steps_per_cpu_s'] or 0:>8.1f} {r['per_session_steps_per_s']:>11.1f} "
              f"{r['per_training_session_steps_per_s']:>12.1f} "
              f"{r['slowest_training_session_steps_per_s']:>8.1f} "
              f"{r['training']:>4}/{r['waiting']:<5} {th:>36} {r['rss_mb_during']:>7.0f}",
              flush=True)
    if args.json:
        print(json.dumps({"load_average_start": load, "workers": limits.workers,
                          "max_running": limits.max_running, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
