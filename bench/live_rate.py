"""How smoothly the live plots move, measured in headless Chromium on the real server.

    .venv/bin/python bench/live_rate.py                       # gaussian, bimodal, ring8; 10 s each
    .venv/bin/python bench/live_rate.py --targets ring8 --seconds 6 --shots test-artifacts
    .venv/bin/python bench/live_rate.py --page compare --seconds 8   # 8 variants on bimodal
    .venv/bin/python bench/live_rate.py --fps 10              # what-if: Limits.fps = 10
    .venv/bin/python bench/live_rate.py --pin                 # as if the browser ran elsewhere
    .venv/bin/python bench/live_rate.py --processes 0         # training inside the web server

Per target it opens the page (1600×1000, a fresh session), presses Start and, on every animation
frame, fingerprints the drawn plot area (``.cartesianlayer`` markup) of each watched chart: the
Train page's density / sample chart (``.st-key-panel_frame``), or the Compare page's eight tiles
(``.st-key-panel_cmp_tile_0`` … ``_7``; 4 losses × 2 discriminator strengths). A *visible update*
of a chart is a frame whose fingerprint differs from the previous one.
It prints, over a steady window that starts ``--warmup`` s after Start:

* upd/s: visible updates per second of the slowest chart (med/s: the median chart's), and the gaps
  between a chart's updates (p50, p90, max, pooled over the charts), in ms;
* first plot: ms from the Start click until every chart has changed once;
* blank frames: animation frames (after a chart's first update) in which it had no drawn trace;
  faded: frames in which Streamlit showed it faded (opacity < 0.9: a script run left it stale);
* needs: times a live chart got a message it could not apply and asked for the whole figure;
* chart nodes: distinct ``.js-plotly-plot`` elements seen per chart (1 = never remounted);
* kB/upd: websocket bytes the browser received in the window per update of a chart;
* srv CPU: CPU seconds per second of the server process (psutil) in the window; wrk CPU: of its
  worker processes (training, ``GANDEMO_PROCESSES``);
* steps/s: training speed read off the status line (``step N / TOTAL``);
* react/s, react90: Plotly.react calls per second (every chart) and their 90th percentile in ms;
  busy %: the share of the window the browser's main thread spent in long tasks (> 50 ms);
* load: the machine's 1-minute load average at the end (other work on it skews everything);
  after the table, when (ms after Start) a chart got a new node, and the browser console's
  errors per target (deduplicated, with counts).

Nothing here is asserted; targets (issue 11): Train ≥ 5 updates/s, p90 gap ≤ 300 ms, first plot
≤ 1 s; Compare every tile ≥ 2 updates/s. ``--fps`` starts the server with
``gandemo.limits.Limits.fps`` replaced (via a sitecustomize on PYTHONPATH): the number of
snapshots a run publishes per second caps the visible rate.
"""

from __future__ import annotations

import argparse
import os
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
from conftest import CHROMIUM, CHROMIUM_ARGS, run_server, tree_cpu_s, wait_for_app  # noqa: E402

PIN = False  # --pin
STATUS = re.compile(r"step (\d+) / (\d+)")

# Runs in the page: on every animation frame, fingerprint the chart of every watched panel
# (``window.__panels``: container keys such as "panel_frame", "panel_cmp_tile_3"); a panel's
# visible update is a frame whose fingerprint of its drawn plot area differs from the last one.
WATCH_JS = r"""
(() => {
  const W = window.__live = {panels: {}, frames: 0, started: null, nodeIds: new WeakMap(),
                             nextId: 1, reacts: [], longs: []};
  function fingerprint(layer) {
    const s = layer.innerHTML;
    let h = s.length;
    for (let i = 0; i < s.length; i += 31) h = (h * 33 + s.charCodeAt(i)) | 0;
    return h;
  }
  function tick() {
    if (W.started !== null) W.frames += 1;
    for (const name of window.__panels || []) {
      const P = W.panels[name] ??= {updates: [], nodes: new Set(), blanks: 0, sig: null,
                                    mounts: []};
      const root = document.querySelector('.st-key-' + name);
      const gd = root && root.querySelector('.js-plotly-plot');
      const layer = gd && gd.querySelector('.cartesianlayer');
      const drawn = !!(layer && layer.querySelector('.trace'));
      if (W.started !== null && !drawn && P.updates.length) P.blanks += 1;
      // Streamlit fades elements a running script has not redrawn yet (after 0.5 s): faded.
      let opacity = 1;
      for (let el = root; el && el !== document.body; el = el.parentElement)
        opacity *= parseFloat(getComputedStyle(el).opacity);
      if (W.started !== null && P.updates.length && opacity < 0.9) P.faded = (P.faded || 0) + 1;
      if (!drawn) continue;
      if (!W.nodeIds.has(gd)) W.nodeIds.set(gd, W.nextId++);
      if (!P.nodes.has(W.nodeIds.get(gd)))  // when (ms after Start) a new chart node appeared
        P.mounts.push(W.started === null ? null : Math.round(performance.now() - W.started));
      P.nodes.add(W.nodeIds.get(gd));
      const sig = fingerprint(layer);
      if (P.sig !== null && sig !== P.sig && W.started !== null) P.updates.push(performance.now());
      P.sig = sig;
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  // Browser cost: every Plotly.react call (ms) and the main thread's long tasks (> 50 ms).
  (function wrap() {
    if (!window.Plotly || !window.Plotly.react) { setTimeout(wrap, 50); return; }
    const react = window.Plotly.react;
    window.Plotly.react = function (...args) {
      const t0 = performance.now();
      const out = react.apply(this, args);
      Promise.resolve(out).then(() => W.reacts.push([t0, performance.now() - t0]));
      return out;
    };
  })();
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) W.longs.push([e.startTime, e.duration]);
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { /* no longtask support */ }
})();
"""

# What each page is measured on: its URL, Start button, status line and watched panels.
PAGES = {
    "train": {"url": "/?target={target}&steps=50000", "start": "start",
              "status": "status_line", "panels": ["panel_frame"]},
    "compare": {"url": "/compare?cmp_target={target}&cmp_steps=20000" + "".join(
        f"&cmp_losses={loss}" for loss in ("minimax", "nonsaturating", "hinge", "wgan-gp"))
        + "&cmp_levels=weak&cmp_levels=balanced", "start": "cmp_start", "status": "cmp_status",
        "panels": [f"panel_cmp_tile_{i}" for i in range(8)]},
}


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


def _pin(server: psutil.Process) -> None:
    """As if the browser ran on another machine (``--pin``): Chromium and the web server share
    CPU 0, the server's worker processes (training) get the other CPUs. Renicing the browser
    is not enough: the kernel keeps the server and training on one core (measured)."""
    cpus = os.cpu_count() or 1
    workers = {c.pid for c in server.children(recursive=True)}
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid in workers:
                mask = set(range(1, cpus)) or {0}
            elif proc.pid == server.pid or "chrom" in proc.name().lower():
                mask = {0}
            else:
                continue
            for tid in os.listdir(f"/proc/{proc.pid}/task"):
                os.sched_setaffinity(int(tid), mask)
        except (psutil.Error, OSError):
            continue


def _step(page, status: str) -> int:
    text = page.locator(f".st-key-{status}").first.inner_text(timeout=30_000)
    match = STATUS.search(text)
    return int(match.group(1)) if match else 0


def _gaps(updates: list[float]) -> list[float]:
    return [b - a for a, b in zip(updates, updates[1:], strict=False)]


def measure(browser, base: str, server: psutil.Process, kind: str, target: str, seconds: float,
            warmup: float, shots: Path | None) -> dict:
    """One page, one target: Start, wait ``warmup`` s, then watch ``seconds`` s (see module doc).
    Per-panel figures are over all watched panels: updates/s the slowest panel's (``min``) and
    their median, gaps pooled over the panels."""
    spec = PAGES[kind]
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    received: list[tuple[float, int]] = []

    def on_ws(ws):
        def frame(payload):
            received.append((time.monotonic(), len(payload)))
        ws.on("framereceived", frame)

    page.on("websocket", on_ws)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(f"window.__panels = {spec['panels']!r};")
    page.add_init_script(WATCH_JS)
    page.goto(base + spec["url"].format(target=target))

    wait_for_app(page, 120_000)
    page.locator(f".st-key-{spec['start']}").get_by_role("button").first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)  # preview drawn, plotly.js loaded
    start = page.locator(f".st-key-{spec['start']}").get_by_role("button").first
    t_click = page.evaluate("performance.now()")
    page.evaluate("window.__live.started = performance.now()")
    start.click()
    page.wait_for_timeout(warmup * 1000)
    if PIN:  # now that the page's renderer and the server's worker processes exist
        _pin(server)
    step0, cpu0, t0 = _step(page, spec["status"]), _cpu_s(server), time.monotonic()
    work0 = tree_cpu_s(server) - cpu0
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
                where = page.locator(f".st-key-{spec['panels'][0]}").first
                (where if kind == "train" else page).screenshot(
                    path=str(shots / f"live_{kind}_{target}_{len(shot_times)}.png"))
    w1 = page.evaluate("performance.now()")
    cpu1, t1, step1 = _cpu_s(server), time.monotonic(), _step(page, spec["status"])
    work1 = tree_cpu_s(server) - cpu1
    live = page.evaluate("""(() => {
        const W = window.__live, out = {};
        for (const [k, P] of Object.entries(W.panels))
          out[k] = {u: P.updates, n: P.nodes.size, b: P.blanks, f: P.faded || 0,
                    m: P.mounts};
        return {panels: out, r: W.reacts, l: W.longs,
                needs: (window.__gandemoLiveNeeds || []).length};
      })()""")
    bytes_in = sum(n for t, n in received if t0 <= t <= t1)
    reset = "reset" if kind == "train" else "cmp_reset"
    page.locator(f".st-key-{reset}").get_by_role("button").first.click()  # free the CPU
    page.wait_for_timeout(1000)
    context.close()
    span = (w1 - w0) / 1000
    panels = [live["panels"].get(name, {"u": [], "n": 0, "b": 0}) for name in spec["panels"]]
    ups = [[u for u in p["u"] if w0 <= u <= w1] for p in panels]
    rates = [len(u) / span for u in ups]
    gaps = [g for u in ups for g in _gaps(u)]
    firsts = [next((u - t_click for u in p["u"] if u > t_click), float("nan")) for p in panels]
    reacts = [ms for at, ms in live["r"] if w0 <= at <= w1]
    busy = sum(ms for at, ms in live["l"] if w0 <= at <= w1)
    return {
        "target": f"{kind[:3]}:{target}",
        "updates_per_s": min(rates),
        "median_rate": statistics.median(rates),
        "gap_p50_ms": _pct(gaps, 50) if gaps else float("nan"),
        "gap_p90_ms": _pct(gaps, 90) if gaps else float("nan"),
        "gap_max_ms": max(gaps) if gaps else float("nan"),
        "first_plot_ms": max(firsts),
        "blank_frames": sum(p["b"] for p in panels),
        "faded_frames": sum(p.get("f", 0) for p in panels),
        "needs": live["needs"],
        "chart_nodes": max(p["n"] for p in panels),
        "ws_kb_per_update": bytes_in / 1024 / max(sum(len(u) for u in ups), 1) * len(ups),
        "server_cpu": (cpu1 - cpu0) / (t1 - t0),
        "workers_cpu": (work1 - work0) / (t1 - t0),
        "load": os.getloadavg()[0],
        "steps_per_s": (step1 - step0) / (t1 - t0),
        "reacts_per_s": len(reacts) / span,
        "react_p90_ms": _pct(reacts, 90) if reacts else float("nan"),
        "long_task_share": busy / (w1 - w0),
        "errors": errors,
        "remounts": {name: p["m"][1:] for name, p in zip(spec["panels"], panels, strict=True)
                     if len(p.get("m", [])) > 1},
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
    ap.add_argument("--page", choices=list(PAGES), default="train",
                    help="train: the density / sample panel; compare: 8 variants' tiles")
    ap.add_argument("--targets", default=None,
                    help="comma-separated (default: gaussian,bimodal,ring8; compare: bimodal)")
    ap.add_argument("--seconds", type=float, default=10.0, help="steady window per target")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds after Start not counted")
    ap.add_argument("--fps", type=float, default=None, help="what-if: Limits.fps on the server")
    ap.add_argument("--shots", type=Path, default=None, help="folder for mid-update screenshots")
    ap.add_argument("--pin", action="store_true",
                    help="browser + server on CPU 0, training on the others (browser elsewhere)")
    ap.add_argument("--processes", type=int, default=1,
                    help="GANDEMO_PROCESSES on the server (0: training in the server process)")
    args = ap.parse_args()
    global PIN
    PIN = args.pin
    from playwright.sync_api import sync_playwright

    env = {"GANDEMO_PROCESSES": str(args.processes)}
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
            targets = args.targets or ("bimodal" if args.page == "compare"
                                       else "gaussian,bimodal,ring8")
            for target in targets.split(","):
                rows.append(measure(browser, base, server, args.page, target.strip(),
                                    args.seconds, args.warmup, args.shots))
        finally:
            browser.close()
    print(f"tree: {ROOT}   fps override: {args.fps}   window: {args.seconds:g} s "
          f"after {args.warmup:g} s   pinned: {args.pin}   "
          f"worker processes: {args.processes}")
    columns = (  # (header, row key, format)
        ("upd/s", "updates_per_s", ".2f"), ("med/s", "median_rate", ".2f"),
        ("p50 ms", "gap_p50_ms", ".0f"), ("p90 ms", "gap_p90_ms", ".0f"),
        ("max ms", "gap_max_ms", ".0f"),
        ("first ms", "first_plot_ms", ".0f"), ("blank", "blank_frames", "d"),
        ("faded", "faded_frames", "d"), ("needs", "needs", "d"),
        ("nodes", "chart_nodes", "d"), ("kB/upd", "ws_kb_per_update", ".1f"),
        ("srv CPU", "server_cpu", ".2f"), ("wrk CPU", "workers_cpu", ".2f"),
        ("steps/s", "steps_per_s", ".0f"),
        ("react/s", "reacts_per_s", ".1f"), ("react90", "react_p90_ms", ".0f"),
        ("busy %", "long_task_share", ".0%"), ("load", "load", ".2f"))
    print(f"{'target':<13}" + "".join(f"{h:>9}" for h, _, _ in columns))
    for r in rows:
        print(f"{r['target']:<13}" + "".join(f"{r[k]:>9{f}}" for _, k, f in columns))
    if rows:
        print("median gap (all):", statistics.median(r["gap_p50_ms"] for r in rows))
    for r in rows:  # the browser's console errors (a chart that stops moving says why here)
        for name, at in r["remounts"].items():
            print(f"{r['target']}: {name} got a new chart node at {at} ms after Start")
        for text in dict.fromkeys(r["errors"]):
            print(f"{r['target']}: console error ×{r['errors'].count(text)}: {text[:300]}")

if __name__ == "__main__":
    main()
