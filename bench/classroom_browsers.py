"""A class of real browsers on one server: N headless Chromium tabs press Start on the Train page.

    .venv/bin/python bench/classroom_browsers.py                  # N = 4, 8, 12; 15 s windows
    .venv/bin/python bench/classroom_browsers.py --sessions 8 --seconds 20 --json

It starts the real server (``tests/conftest.run_server``, a 3 s grace period so closed tabs'
runs go quickly), warms it up with one short run (imports, the worker pool), then for each N:
opens N pages (one browser context each, 1280×800) on the Train page with a long run in the URL
(half on a 1D target, half on ring8), waits for each app, presses Start on all of them one after
the other, and watches every tab's status line (``step N / TOTAL``) from inside the page every
100 ms. A thread polls ``/_stcore/health`` every 100 ms throughout and samples the server's RSS
and threads. Per N it prints:

* moved worst/median: seconds from a tab's Start click to its status line first showing a step
  > 0 (the target is every tab within 5 s); ``unmoved`` tabs never moved; ``reclicks`` counts
  clicks that Streamlit lost (the button still read "Start" after 8 s, clicked once more);
* steps/s per tab over the window (slowest, median) and their sum;
* health worst / median / p99 latency over the round (page loads and clicks included);
* server CPUs used in the window (CPU-s per s, psutil; its worker processes included) and
  RSS before / peak (the same);
* threads before the tabs opened / peak / after they closed, and how long they took to return.
Nothing is asserted: the numbers depend on the machine and on its neighbours (load average
printed). The bench's own browsers share the CPU with the server, as they would not in a class.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

try:  # the dev tools (pytest for the shared server helpers, Playwright): `make bench` may lack them
    from conftest import (
        CHROMIUM,
        CHROMIUM_ARGS,
        free_port,
        run_server,
        tree_cpu_s,
        tree_rss_mb,
        wait_for_app,
    )
    from live_rate import PAGES, _pct, _server_process
    from playwright.sync_api import sync_playwright
except ImportError as exc:
    print(f"# classroom_browsers skipped: {exc} (install requirements-dev.txt)")
    raise SystemExit(0) from None

SPEC = PAGES["train"]
GRACE_S = 3
RECLICK_AFTER_S = 8.0
MOVE_TIMEOUT_S = 60.0
CLEANUP_TIMEOUT_S = 60.0

# In the page: every 100 ms, the step on the status line; the time it first shows a step > 0
# after the Start click (window.__cb.clicked, set by the bench just before it clicks).
WATCH_JS = r"""
(() => {
  const W = window.__cb = {clicked: null, moved: null, step: 0, samples: []};
  setInterval(() => {
    const el = document.querySelector('.st-key-STATUS_KEY');
    const m = el && /step\D{0,6}(\d[\d,]*)\D{0,6}\/\D{0,6}(\d[\d,]*)/i.exec(el.innerText);
    if (!m) return;
    const step = parseInt(m[1].replace(/,/g, ''));
    const now = performance.now();
    if (step !== W.step) W.samples.push([now, step]);
    W.step = step;
    if (W.clicked !== null && W.moved === null && step > 0) W.moved = now;
  }, 100);
})();
""".replace("STATUS_KEY", SPEC["status"])


class Probe(threading.Thread):
    """GET /_stcore/health every 100 ms (latency in s); the server's RSS (MB) and threads."""

    def __init__(self, base: str, server: psutil.Process):
        super().__init__(name="health-probe", daemon=True)
        self.base, self.server = base, server
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.rss_mb: list[float] = []
        self.threads: list[int] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=10) as r:
                    ok = r.read() == b"ok"
                self.latencies.append(time.monotonic() - t0)
                if not ok:
                    self.failures.append("health did not say ok")
            except OSError as exc:
                self.failures.append(repr(exc))
            try:
                self.rss_mb.append(tree_rss_mb(self.server))
                self.threads.append(self.server.num_threads())
            except psutil.Error:
                return
            self._halt.wait(max(0.0, 0.1 - (time.monotonic() - t0)))

    def stop(self) -> None:
        self._halt.set()
        self.join(15)


def _open_tab(browser, base: str, i: int, steps: int):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(WATCH_JS)
    target = "ring8" if i % 2 else "gaussian"
    page.goto(f"{base}/?target={target}&steps={steps}&seed={i}")
    return context, page


def _start_button(page):
    return page.locator(f".st-key-{SPEC['start']}").get_by_role("button").first


def _watch(page) -> dict:
    return page.evaluate("window.__cb")


def _rate(samples: list, t0: float, t1: float) -> float:
    """Steps per second between page times t0 and t1 (ms), from the (time, step) samples."""
    def step_at(t: float) -> int:
        return max((s for ts, s in samples if ts <= t), default=0)
    return (step_at(t1) - step_at(t0)) / max((t1 - t0) / 1000, 1e-9)


def measure(browser, base: str, server: psutil.Process, n: int, seconds: float,
            steps: int) -> dict:
    load0 = os.getloadavg()[0]
    threads_before, rss_before = server.num_threads(), tree_rss_mb(server)
    probe = Probe(base, server)
    probe.start()
    tabs = [_open_tab(browser, base, i, steps) for i in range(n)]
    for _, page in tabs:
        wait_for_app(page, 180_000)
        _start_button(page).wait_for(timeout=180_000)
    labels = [_start_button(page).inner_text() for _, page in tabs]
    clicked = []
    for _, page in tabs:  # one after the other, as fast as one driver can: a class pressing Start
        page.evaluate("window.__cb.clicked = performance.now()")
        _start_button(page).click()
        clicked.append(time.monotonic())
    reclicks = 0
    end = time.monotonic() + MOVE_TIMEOUT_S
    retried: set[int] = set()
    while time.monotonic() < end:
        states = [_watch(page) for _, page in tabs]
        if all(s["moved"] is not None for s in states):
            break
        for i, ((_, page), s) in enumerate(zip(tabs, states)):
            if (s["moved"] is None and i not in retried
                    and time.monotonic() - clicked[i] > RECLICK_AFTER_S
                    and _start_button(page).inner_text() == labels[i]):
                _start_button(page).click()  # the click was lost while the fragment redrew
                retried.add(i)
                reclicks += 1
        time.sleep(0.25)
    states = [_watch(page) for _, page in tabs]
    moved = [(s["moved"] - s["clicked"]) / 1000 if s["moved"] is not None else None
             for s in states]
    # The window: every tab's steps/s over the same `seconds` (each tab on its own clock).
    cpu0, t0 = tree_cpu_s(server), time.monotonic()
    w0 = [page.evaluate("performance.now()") for _, page in tabs]
    time.sleep(seconds)
    w1 = [page.evaluate("performance.now()") for _, page in tabs]
    cpu = (tree_cpu_s(server) - cpu0) / (time.monotonic() - t0)
    states = [_watch(page) for _, page in tabs]
    rates = sorted(_rate(s["samples"], a, b) for s, a, b in zip(states, w0, w1))
    for context, _ in tabs:
        context.close()
    t_close = time.monotonic()
    while time.monotonic() - t_close < CLEANUP_TIMEOUT_S:  # the runs go after the grace period
        if time.monotonic() - t_close > GRACE_S + 2 and server.num_threads() <= threads_before:
            break
        time.sleep(0.5)
    cleanup_s = time.monotonic() - t_close
    probe.stop()
    lat = sorted(probe.latencies)
    done = [x for x in moved if x is not None]
    return {
        "sessions": n,
        "moved_worst_s": round(max(done), 2) if len(done) == n else None,
        "moved_median_s": round(statistics.median(done), 2) if done else None,
        "moved_s": [None if x is None else round(x, 2) for x in moved],
        "unmoved": n - len(done),
        "reclicks": reclicks,
        "steps_per_s_slowest": round(rates[0], 1),
        "steps_per_s_median": round(statistics.median(rates), 1),
        "steps_per_s_total": round(sum(rates), 1),
        "health_worst_s": round(lat[-1], 3) if lat else None,
        "health_p99_s": round(_pct(lat, 99), 3) if lat else None,
        "health_median_s": round(statistics.median(lat), 4) if lat else None,
        "health_probes": len(lat),
        "health_failures": probe.failures[:3],
        "server_cpus": round(cpu, 2),
        "rss_mb_before": round(rss_before),
        "rss_mb_peak": round(max(probe.rss_mb, default=rss_before)),
        "rss_mb_after": round(tree_rss_mb(server)),
        "threads_before": threads_before,
        "threads_peak": max(probe.threads, default=threads_before),
        "threads_after": server.num_threads(),
        "cleanup_s": round(cleanup_s, 1),
        "load_average": (round(load0, 2), round(os.getloadavg()[0], 2)),
    }


def _warm_up(browser, base: str) -> None:
    """One short run: imports, the worker pool and the 2D estimator exist before the baseline."""
    context, page = _open_tab(browser, base, 1, 30)
    wait_for_app(page, 180_000)
    page.evaluate("window.__cb.clicked = performance.now()")
    _start_button(page).click()
    page.wait_for_function("window.__cb.step >= 30", timeout=180_000)
    context.close()
    time.sleep(GRACE_S + 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[4, 8, 12],
                   help="tab counts to measure, one round each (1 to 40)")
    p.add_argument("--seconds", type=float, default=15.0, help="steps/s window per round (>= 2)")
    p.add_argument("--steps", type=int, default=20_000, help="steps of each tab's run")
    p.add_argument("--json", action="store_true", help="last line: all results as JSON")
    args = p.parse_args(argv)
    if not all(1 <= n <= 40 for n in args.sessions):
        p.error("--sessions: each count must be in [1, 40]")
    if args.seconds < 2:
        p.error("--seconds must be at least 2")
    if not os.access(CHROMIUM, os.X_OK):
        print(f"# skipped: no Chromium at {CHROMIUM} (set GANDEMO_CHROMIUM)")
        return 0
    port = free_port()
    env = {"GANDEMO_GRACE_SECONDS": str(GRACE_S), "PYTHONUNBUFFERED": "1"}
    print(f"# real server + headless Chromium (1280x800, one context per tab), Train page, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    head = (f"{'tabs':>4} {'moved worst/med s':>17} {'unmoved':>7} {'reclk':>5} "
            f"{'it/s slowest/med/sum':>21} {'health worst/p99/med ms':>23} {'CPUs':>5} "
            f"{'RSS MB before/peak':>18} {'threads before/peak/after':>25} {'cleanup s':>9} "
            f"{'load':>9}")
    results = []
    with run_server(env=env, port=port) as base, sync_playwright() as pw:
        server = _server_process(port)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            _warm_up(browser, base)
            print(head, flush=True)
            for n in args.sessions:
                r = measure(browser, base, server, n, args.seconds, args.steps)
                results.append(r)
                moved = (f"{r['moved_worst_s'] if r['moved_worst_s'] is not None else 'n/a'}/"
                         f"{r['moved_median_s']}")
                rates = (f"{r['steps_per_s_slowest']}/{r['steps_per_s_median']}/"
                         f"{r['steps_per_s_total']}")
                health = "/".join(f"{(r[k] or 0) * 1000:.0f}" for k in
                                  ("health_worst_s", "health_p99_s", "health_median_s"))
                print(f"{n:>4} {moved:>17} {r['unmoved']:>7} {r['reclicks']:>5} {rates:>21} "
                      f"{health:>23} {r['server_cpus']:>5} "
                      f"{r['rss_mb_before']:>9}/{r['rss_mb_peak']:<8} "
                      f"{r['threads_before']:>11}/{r['threads_peak']}/{r['threads_after']:<6} "
                      f"{r['cleanup_s']:>9} {r['load_average'][0]:>4}>{r['load_average'][1]}",
                      flush=True)
                if r["health_failures"]:
                    print(f"#   health failures: {r['health_failures']}")
        finally:
            browser.close()
    if args.json:
        print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
