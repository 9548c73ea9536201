"""Classes in waves on one real server: does memory come back, and how fast does a class start?

Usage: ``.venv/bin/python bench/class_waves.py [--waves 3] [--sessions 30] [--steps 60]``

Starts ``streamlit run app.py`` (the project's .streamlit/config.toml, a 3 s grace period),
warms it up with two short runs (imports, worker pool), then sends ``--waves`` classes one after
another: each is ``--sessions`` light websocket sessions (tests/test_load.py's ``LightSession``:
Streamlit's own protocol and fragment timers, no browser; half on ring8) that open the Train
page together, press Start and train to the end; then the tabs close. Printed per wave: seconds
until every run showed its first step (worst / median), seconds until all finished, health
latency (worst / median, probed every 0.25 s from another process), and the server's RSS and
threads 20 s and 60 s after the tabs closed, against the warm baseline before the first wave.
Memory that comes back shows as RSS that does not grow from wave to wave.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

try:  # the dev tools (pytest, websockets): `make bench` may lack them
    import psutil
    from conftest import free_port, run_server, tree_rss_mb
    from live_rate import _server_process
    from test_load import Monitor, _run_in_own_loop, _student
except ImportError as exc:
    print(f"# class_waves skipped: {exc} (install requirements-dev.txt)")
    raise SystemExit(0) from None

GRACE_S = 3
FINISH_TIMEOUT_S = 300


async def _wave(base: str, server: psutil.Process, first_seed: int, sessions: int,
                steps: int) -> dict:
    monitor = Monitor(base, server.pid, FINISH_TIMEOUT_S + 120)
    t0 = time.monotonic()
    students = list(await asyncio.gather(
        *(_student(base, first_seed + i, steps) for i in range(sessions))))
    try:
        done = await asyncio.gather(*(s.wait_for(lambda s=s: s.total and s.step >= s.total,
                                                 FINISH_TIMEOUT_S) for s in students))
        finished_s = time.monotonic() - t0
        moved = [s.moved_at - s.clicked_at for s in students if s.moved_at]
    finally:
        for s in students:
            await s.close()
    rss, closed = {}, time.monotonic()
    for after in (20, 60):
        await asyncio.sleep(max(0.0, closed + after - time.monotonic()))
        rss[after] = (tree_rss_mb(server), server.num_threads())
    monitor.stop()
    lat = sorted(monitor.latencies) or [float("nan")]
    return {"finished": sum(done), "finished_s": finished_s, "moved": moved,
            "health": (lat[-1], lat[len(lat) // 2]), "rss": rss}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--waves", type=int, default=3)
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--steps", type=int, default=60)
    args = p.parse_args(argv)
    port = free_port()
    with run_server(env={"GANDEMO_GRACE_SECONDS": str(GRACE_S)}, port=port) as base:
        server = _server_process(port)

        async def scenario() -> None:
            warm = [await _student(base, 9990 + i, 40) for i in range(2)]
            for w in warm:
                await w.wait_for(lambda w=w: w.total and w.step >= w.total, 120)
                await w.close()
            await asyncio.sleep(GRACE_S + 5)
            print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; warm "
                  f"baseline RSS {tree_rss_mb(server):.0f} MB, "
                  f"{server.num_threads()} threads")
            print(f"{'wave':>4} {'finished':>8} {'first step worst/med s':>22} {'all done s':>10} "
                  f"{'health worst/med ms':>19} {'RSS +20 s / +60 s MB':>20} {'threads':>7}")
            for w in range(args.waves):
                r = await _wave(base, server, 1000 * w, args.sessions, args.steps)
                moved = r["moved"] or [float("nan")]
                print(f"{w + 1:>4} {r['finished']:>4}/{args.sessions:<3} "
                      f"{max(moved):>11.1f} / {statistics.median(moved):<8.1f} "
                      f"{r['finished_s']:>10.1f} {r['health'][0] * 1e3:>9.0f} / "
                      f"{r['health'][1] * 1e3:<7.0f} {r['rss'][20][0]:>9.0f} / "
                      f"{r['rss'][60][0]:<8.0f} {r['rss'][60][1]:>7}", flush=True)

        _run_in_own_loop(scenario())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
