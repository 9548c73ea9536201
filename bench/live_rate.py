"""How smoothly the Train page's live plot moves, measured in headless Chromium on the real server.

    .venv/bin/python bench/live_rate.py                       # gaussian, bimodal, ring8; 10 s each
    .venv/bin/python bench/live_rate.py --targets ring8 --seconds 6 --shots test-artifacts
    .venv/bin/python bench/live_rate.py --fps 10              # what-if: Limits.fps = 10

Per target it opens the Train page (1600×1000, a fresh session), presses Start and watches the
density / sample chart (inside ``.st-key-panel_frame``) on every animation frame. The chart the
user sees is the top-most ``.js-plotly-plot`` there; its drawn plot area (``.cartesianlayer``
markup) is fingerprinted, and a *visible update* is a frame whose fingerprint differs from the
previous one.
It prints, over a steady window that starts ``--warmup`` s after Start:

* updates/s and the gaps between updates (p50, p90, max), in ms;
* first plot: ms from the Start click to the first change of the chart;
* blank frames: animation frames (after the first plot) in which no drawn chart was on top;
* chart nodes: distinct ``.js-plotly-plot`` elements seen on top (1 = never remounted);
* ws kB/update: websocket bytes the browser received in the window per visible update;
* server CPU: CPU seconds per second of the server process (psutil) in the window;
* steps/s: training speed read off the status line (``step N / TOTAL``).

Nothing here is asserted; targets (issue 11): ≥ 5 updates/s, p90 gap ≤ 300 ms, first plot ≤ 1 s.
``--fps`` starts the server with ``gandemo.limits.Limits.fps`` replaced (via a sitecustomize on
PYTHONPATH): the number of snapshots a run publishes per second caps the visible rate.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from conftest import CHROMIUM, CHROMIUM_ARGS, run_server, wait_for_app  # noqa: E402

STATUS = re.compile(r"step (\d+) / (\d+)")

# Runs in the page: on every animation frame, fingerprint the top-most chart of the frame panel.
WATCH_JS = r"""
(() => {
  const W = window.__live = {updates: [], nodes: new Set(), blanks: 0, frames: 0, sig: null,
                             started: null, nodeIds: new WeakMap(), nextId: 1};
  function topChart() {
    const root = document.querySelector('.st-key-panel_frame');
    if (!root) return null;
    const charts = [...root.querySelectorAll('.js-plotly-plot')];
    if (charts.length <= 1) return charts[0] || null;
    let best = null, bestZ = -Infinity;  // double-buffered slots: the raised one is in front
    for (const c of charts) {
      const slot = c.closest('[class*="st-key-panel_frame_"]');
      const z = slot ? (parseInt(getComputedStyle(slot).zIndex) || 0) : 0;
      if (z >= bestZ) { best = c; bestZ = z; }
    }
    return best;
  }
  function fingerprint(layer) {
    const s = layer.innerHTML;
    let h = s.length;
    for (let i = 0; i < s.length; i += 31) h = (h * 33 + s.charCodeAt(i)) | 0;
    return h;
  }
  function tick() {
    const gd = topChart();
    const layer = gd && gd.querySelector('.cartesianlayer');
    const drawn = !!(layer && layer.querySelector('.trace'));
    if (W.started !== null) {
      W.frames += 1;
      if (!drawn && W.updates.length) W.blanks += 1;
    }
    if (drawn) {
      if (!W.nodeIds.has(gd)) W.nodeIds.set(gd, W.nextId++);
      W.nodes.add(W.nodeIds.get(gd));
      const sig = fingerprint(layer);
      if (W.sig !== null && sig !== W.sig && W.started !== null) W.updates.push(performance.now());
      W.sig = sig;
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();
"""


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _server_process(port: int) -> psutil.Process:
    """The ``streamlit run`` child that serves ``port``."""
    for child in psutil.Process().children(recursive=True):
        try:
            if "streamlit" in " ".join(child.cmdline()) and str(port) in child.cmdline():
                return child
        except psutil.Error:
            continue
    raise RuntimeError("streamlit server process not found")


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _step(page) -> int:
    text = page.locator(".st-key-status_line").first.inner_text(timeout=30_000)
    match = STATUS.search(text)
    return int(match.group(1)) if match else 0


def measure(browser, base: str, server: psutil.Process, target: str, seconds: float,
            warmup: float, shots: Path | None) -> dict:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    received: list[tuple[float, int]] = []

    def on_ws(ws):
        def frame(payload):
            received.append((time.monotonic(), len(payload)))
        ws.on("framereceived", frame)

    page.on("websocket", on_ws)
    page.add_init_script(WATCH_JS)
    page.goto(f"{base}/?target={target}&steps=50000")
    wait_for_app(page, 120_000)
    page.locator(".st-key-panel_frame .js-plotly-plot").first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)  # preview drawn, plotly.js loaded
    start = page.locator(".st-key-start").get_by_role("button").first
    t_click = page.evaluate("performance.now()")
    page.evaluate("window.__live.started = performance.now()")
    start.click()
    page.wait_for_timeout(warmup * 1000)
    step0, cpu0, t0 = _step(page), _cpu_s(server), time.monotonic()
    w0 = page.evaluate("performance.now()")
    shot_times = {seconds * 0.3, seconds * 0.6}
    elapsed = 0.0
    while elapsed < seconds:
        page.wait_for_timeout(250)
        elapsed = time.monotonic() - t0
        for at in sorted(shot_times):
            if shots is not None and elapsed >= at:
                shot_times.discard(at)
                shots.mkdir(parents=True, exist_ok=True)
                page.locator(".st-key-panel_frame").first.screenshot(
                    path=str(shots / f"live_{target}_{len(shot_times)}.png"))
    w1 = page.evaluate("performance.now()")
    cpu1, t1, step1 = _cpu_s(server), time.monotonic(), _step(page)
    live = page.evaluate("({u: window.__live.updates, n: window.__live.nodes.size,"
                         " b: window.__live.blanks, f: window.__live.frames})")
    bytes_in = sum(n for t, n in received if t0 <= t <= t1)
    page.locator(".st-key-reset").get_by_role("button").first.click()  # free the CPU
    page.wait_for_timeout(1000)
    context.close()
    ups = [u for u in live["u"] if w0 <= u <= w1]
    gaps = [b - a for a, b in zip(ups, ups[1:], strict=False)]
    first = [u - t_click for u in live["u"] if u > t_click]
    return {
        "target": target,
        "updates_per_s": len(ups) / ((w1 - w0) / 1000),
        "gap_p50_ms": _pct(gaps, 50) if gaps else float("nan"),
        "gap_p90_ms": _pct(gaps, 90) if gaps else float("nan"),
        "gap_max_ms": max(gaps) if gaps else float("nan"),
        "first_plot_ms": first[0] if first else float("nan"),
        "blank_frames": live["b"],
        "chart_nodes": live["n"],
        "ws_kb_per_update": bytes_in / 1024 / max(len(ups), 1),
        "server_cpu": (cpu1 - cpu0) / (t1 - t0),
        "steps_per_s": (step1 - step0) / (t1 - t0),
    }


def _fps_site(fps: float) -> str:
    """A PYTHONPATH folder whose sitecustomize makes every ``Limits`` publish ``fps`` frames/s."""
    folder = tempfile.mkdtemp(prefix="live_rate_")
    Path(folder, "sitecustomize.py").write_text(
        "import gandemo.limits as _L\n"
        "_init = _L.Limits.__init__\n"
        "def _patched(self, *a, **k):\n"
        "    _init(self, *a, **k)\n"
        f"    self.fps = {float(fps)!r}\n"
        "_L.Limits.__init__ = _patched\n")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default="gaussian,bimodal,ring8")
    ap.add_argument("--seconds", type=float, default=10.0, help="steady window per target")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds after Start not counted")
    ap.add_argument("--fps", type=float, default=None, help="what-if: Limits.fps on the server")
    ap.add_argument("--shots", type=Path, default=None, help="folder for mid-update screenshots")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    env = {}
    if args.fps is not None:
        env["PYTHONPATH"] = _fps_site(args.fps) + ":" + str(ROOT)
    port = None
    from conftest import free_port

    port = free_port()
    rows = []
    with run_server(env=env, port=port) as base, sync_playwright() as pw:
        server = _server_process(port)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for target in args.targets.split(","):
                rows.append(measure(browser, base, server, target.strip(), args.seconds,
                                    args.warmup, args.shots))
        finally:
            browser.close()
    print(f"tree: {ROOT}   fps override: {args.fps}   window: {args.seconds:g} s "
          f"after {args.warmup:g} s")
    head = ("target", "upd/s", "p50 ms", "p90 ms", "max ms", "first ms", "blank", "nodes",
            "kB/upd", "srv CPU", "steps/s")
    print(("{:<10}" + "{:>9}" * (len(head) - 1)).format(*head))
    for r in rows:
        print(f"{r['target']:<10}{r['updates_per_s']:>9.2f}{r['gap_p50_ms']:>9.0f}"
              f"{r['gap_p90_ms']:>9.0f}{r['gap_max_ms']:>9.0f}{r['first_plot_ms']:>9.0f}"
              f"{r['blank_frames']:>9d}{r['chart_nodes']:>9d}{r['ws_kb_per_update']:>9.1f}"
              f"{r['server_cpu']:>9.2f}{r['steps_per_s']:>9.0f}")
    if rows:
        print("median gap (all):", statistics.median(r["gap_p50_ms"] for r in rows))


if __name__ == "__main__":
    main()
