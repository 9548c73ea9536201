"""Classroom load test: 30 students on one real server, over loopback only.

Each student is a *light session*: it speaks Streamlit's websocket protocol the way the 1.67
frontend does (``/_stcore/stream``, protobuf ``BackMsg``/``ForwardMsg``), renders nothing, and
runs ``st.fragment(run_every=...)`` timers itself, as a browser tab does (the interval timer lives
in the browser). So the server does exactly the work 30 open tabs cost it, on 2 cores.

What is measured and asserted:
* every session clicks Start (button key ``start``) and sees its own status line count up
  (``step N / TOTAL``) to the end of its run; the run id arrives in the ``run`` query parameter;
  every run moves (time-sliced, nobody parked in a line): the seconds from each click to its
  first step > 0 are printed (the target is ≤ 5 s for everyone);
* ``/_stcore/health`` answers in < 2 s throughout (the worst latency is printed);
* after the tabs close, the runs are removed (grace period) and the server's thread count and
  resident memory return to their warm level before the load (RSS within RSS_RETURN_MB);
* the server's resident memory stays bounded.
Server-side numbers (runs, running, queued, threads) are read from the app's own Server status
page (views/status.py) through another light session; the server's threads, and the RSS and
CPU of the server with its worker processes, come from psutil. Nothing is exposed for the
test's sake.

The server is this module's own (not conftest's): it needs its own limits (a 3 s grace period,
short runs) and its process handle. Every loop here is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from conftest import stop_process, tree_cpu_s, tree_rss_mb

websockets = pytest.importorskip("websockets")
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ClientState_pb2 import ClientState  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = Path(os.environ.get("GANDEMO_LOAD_APP_DIR", ROOT))  # another app tree (debugging)
SESSIONS = 30
RUN_STEPS = 60  # per student: enough to see progress and the sharing; cheap on 2 busy cores
GRACE_S = 3
LOAD_TIMEOUT_S = 300  # the whole class must finish within this (a bound, not a speed claim)
CLEANUP_TIMEOUT_S = 60
HEALTH_BOUND_S = 2.0
RSS_BUDGET_MB = 1500  # growth allowed over the idle server's RSS with 30 runs
RSS_RETURN_MB = 150  # RSS after cleanup may exceed the warm baseline by this much (allocator slack)

STEP_RE = re.compile(r"step\W{0,6}(\d[\d,]*)\W{0,6}/\W{0,6}(\d[\d,]*)", re.IGNORECASE)


def _texts(el) -> list[str]:
    """The visible strings of one rendered element (the kinds a status line can be)."""
    kind = el.WhichOneof("type")
    if kind in ("markdown", "text", "alert", "json"):
        return [getattr(el, kind).body]
    if kind == "metric":
        return [el.metric.label, el.metric.body]
    if kind == "heading":
        return [el.heading.body]
    if kind == "progress":
        return [el.progress.text]
    if kind == "code":
        return [el.code.code_text]
    return []


class LightSession:
    """One browser tab without a browser: a websocket, the app's messages, its timers."""

    def __init__(self, base: str, page: str = "", query: str = "", name: str = "s"):
        self.url = base.replace("http://", "ws://") + "/_stcore/stream"
        self.page, self.query, self.name = page, query, name
        self.page_hash = ""
        self.pages: list = []
        self.buttons: dict[str, str] = {}  # user key -> widget id
        self.elements: dict[tuple, object] = {}  # delta path -> latest element
        self.exceptions: list[str] = []
        self.step = self.total = 0
        self.clicked_at: float | None = None
        self.moved_at: float | None = None  # when the status line first showed a step > 0
        self.runs_finished = 0
        self.messages = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, tuple[float, asyncio.Task]] = {}
        self._changed = asyncio.Event()

    # --- connection ---------------------------------------------------------------------------
    async def open(self) -> None:
        self._ws = await websockets.connect(self.url, subprotocols=["streamlit"],
                                            max_size=64 * 2**20, open_timeout=30)
        self._reader = asyncio.create_task(self._read(), name=f"read-{self.name}")
        await self.rerun()

    async def close(self) -> None:
        for _, task in self._timers.values():
            task.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def rerun(self, states: list[WidgetState] = (), fragment_id: str = "",
                    auto: bool = False) -> None:
        cs = ClientState(query_string=self.query, page_script_hash=self.page_hash,
                         page_name="" if self.page_hash else self.page,
                         fragment_id=fragment_id, is_auto_rerun=auto)
        cs.widget_states.widgets.extend(states)
        await self._ws.send(BackMsg(rerun_script=cs).SerializeToString())

    async def click(self, key: str) -> None:
        self.clicked_at = time.monotonic()
        await self.rerun([WidgetState(id=self.buttons[key], trigger_value=True)])

    async def wait_for(self, predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not predicate():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return True

    # --- what the server says ------------------------------------------------------------------
    async def _read(self) -> None:
        async for data in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            self.messages += 1
            self._handle(msg)
            self._changed.set()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
            self.pages = list(msg.new_session.app_pages)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            self._arm(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self._disarm(fid)
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self.runs_finished += 1
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            self.elements[tuple(msg.metadata.delta_path)] = el
            if el.WhichOneof("type") == "button" and el.button.id:
                key = el.button.id.rsplit("-", 1)[-1]
                self.buttons[key] = el.button.id
            elif el.WhichOneof("type") == "exception":
                self.exceptions.append(f"{el.exception.type}: {el.exception.message}")
            for text in _texts(el):
                m = STEP_RE.search(text)
                if m:
                    self.step = max(self.step, int(m.group(1).replace(",", "")))
                    self.total = int(m.group(2).replace(",", ""))
                    if self.step > 0 and self.moved_at is None:
                        self.moved_at = time.monotonic()

    def _arm(self, fragment_id: str, interval: float) -> None:
        """The browser's setInterval for a run_every fragment (deduplicated per fragment)."""
        old = self._timers.get(fragment_id)
        if old and old[0] == interval:
            return
        self._disarm(fragment_id)

        async def tick():
            while True:
                await asyncio.sleep(interval)
                with contextlib.suppress(Exception):
                    await self.rerun(fragment_id=fragment_id, auto=True)

        self._timers[fragment_id] = (interval, asyncio.create_task(tick()))

    def _disarm(self, fragment_id: str) -> None:
        old = self._timers.pop(fragment_id, None)
        if old:
            old[1].cancel()

    def json_bodies(self) -> list:
        out = []
        for el in self.elements.values():
            if el.WhichOneof("type") == "json":
                with contextlib.suppress(ValueError):
                    out.append(json.loads(el.json.body))
        return out


# --------------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(base: str, timeout: float = 5.0) -> float:
    """Seconds one GET /_stcore/health took (raises if it failed)."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=timeout) as r:
        body = r.read()
    if body != b"ok":
        raise RuntimeError(f"health said {body!r}")
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def server():
    if not (APP_DIR / "app.py").exists() or not (APP_DIR / "views" / "train.py").exists():
        pytest.skip("app.py / views/train.py not written yet")
    port = _free_port()
    env = {**os.environ, "GANDEMO_GRACE_SECONDS": str(GRACE_S), "GANDEMO_HEARTBEAT_SECONDS": "60",
           "GANDEMO_MAX_STEPS": "5000", "PYTHONUNBUFFERED": "1",
           "GANDEMO_WORKERS": os.environ.get("GANDEMO_WORKERS", "2"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1",
         "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
         "--client.showErrorDetails=full"],
        cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 90
        while True:
            try:
                _health(base, 2)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > end:
                    log.seek(0)
                    pytest.fail("server did not start:\n" + log.read().decode()[-3000:])
                time.sleep(0.5)
        yield {"base": base, "pid": proc.pid, "log": log}
    finally:
        stop_process(proc)
        log.close()


# The probe runs in its own small process: in this one, 30 sessions' message parsing would hold
# the GIL and the latency would partly be the client's, not the server's.
PROBE = r"""
import json, sys, time, urllib.request, psutil
base, pid, end = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
proc = psutil.Process(pid)
while time.monotonic() < end:
    t = time.monotonic(); row = {"t": t}
    try:
        with urllib.request.urlopen(base + "/_stcore/health", timeout=5) as r:
            ok = r.read() == b"ok"
        row["lat"] = time.monotonic() - t
        if not ok:
            row["err"] = "health did not say ok"
    except Exception as exc:
        row["err"] = repr(exc)
    try:
        rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(True))
        row["threads"], row["rss_mb"] = proc.num_threads(), rss / 2**20
    except psutil.Error:
        break
    print(json.dumps(row), flush=True)
    time.sleep(max(0.0, 0.25 - (time.monotonic() - t)))
"""


class Monitor:
    """/_stcore/health latency and the server's threads/RSS every 0.25 s, from a subprocess."""

    def __init__(self, base: str, pid: int, limit_s: float):
        self._out = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen([sys.executable, "-c", PROBE, base, str(pid), str(limit_s)],
                                      stdout=self._out, stderr=subprocess.STDOUT)
        self.latencies: list[float] = []
        self.times: list[float] = []  # when each successful probe started (monotonic)
        self.failures: list[str] = []
        self.threads: list[int] = []
        self.rss_mb: list[float] = []

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._out.seek(0)
        for line in self._out:
            try:
                row = json.loads(line)
            except ValueError:
                self.failures.append(f"probe said: {line.strip()}")
                continue
            if "err" in row:
                self.failures.append(row["err"])
            else:
                self.latencies.append(row["lat"])
                self.times.append(row["t"])
            self.threads.append(row["threads"])
            self.rss_mb.append(row["rss_mb"])
        self._out.close()


async def _status(base: str) -> dict:
    """The Server status page's raw numbers, read like a teacher's tab would see them."""
    s = LightSession(base, page="status", name="teacher")
    await s.open()
    try:
        ok = await s.wait_for(lambda: any("stats" in b for b in s.json_bodies()), 120)
        assert ok, "the Server status page showed no numbers"
        return next(b for b in s.json_bodies() if "stats" in b)
    finally:
        await s.close()


async def _student(base: str, i: int, steps: int) -> LightSession:
    """Open the Train page with settings in the URL (half the class on a 2D target), press Start."""
    target = "ring8" if i % 2 else "gaussian"
    s = LightSession(base, page="", query=f"target={target}&steps={steps}&seed={i}",
                     name=f"student-{i}")
    await s.open()
    assert await s.wait_for(lambda: "start" in s.buttons, 120), f"{s.name}: no Start button"
    await s.click("start")
    return s


def _run_in_own_loop(coro):
    """asyncio.run in a fresh thread: Playwright's sync API (browser tests in the same pytest
    session) leaves an event loop running in the main thread, where asyncio.run refuses."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    t = threading.Thread(target=target, name="load-clients")
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _run_id(s: LightSession) -> str | None:
    m = re.search(r"(?:^|&)run=([^&]+)", s.query)
    return m.group(1) if m else None


def test_dockerfile_healthcheck_passes_against_a_live_server(server):
    """The image's HEALTHCHECK command, verbatim but for the port, against the real server."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    cmd = json.loads(re.search(r"^HEALTHCHECK.*?CMD\s+(\[.*\])\s*$", text, re.MULTILINE).group(1))
    port = server["base"].rsplit(":", 1)[1]
    cmd = [sys.executable if c == "python" else c.replace("localhost:8501", f"localhost:{port}")
           for c in cmd]
    assert subprocess.run(cmd, timeout=30).returncode == 0


@pytest.mark.load
@pytest.mark.timeout(LOAD_TIMEOUT_S + CLEANUP_TIMEOUT_S + 240)  # warm-up and status reads too
def test_thirty_students_share_one_server(server):
    base, pid = server["base"], server["pid"]
    proc = psutil.Process(pid)

    async def scenario() -> dict:
        # Warm-up: two students, one per kind of target the class uses (1D and 2D: imports,
        # the worker pool, the 2D estimator and the optimal-transport solver), train a little.
        warm = [await _student(base, i, 50) for i in (998, 999)]
        ok = [await w.wait_for(lambda w=w: w.total and w.step >= w.total, 120) for w in warm]
        for w in warm:
            await w.close()
        assert all(ok), f"warm-up runs made no progress: {[(w.step, w.total) for w in warm]}"
        await asyncio.sleep(GRACE_S + 2)
        r = {"before": await _status(base), "threads_before": proc.num_threads(),
             "rss_before": tree_rss_mb(proc)}

        monitor = Monitor(base, pid, LOAD_TIMEOUT_S + CLEANUP_TIMEOUT_S + 120)
        students: list[LightSession] = []
        cpu0 = tree_cpu_s(proc)
        try:
            t0 = r["t0"] = time.monotonic()
            r["load_average"] = [round(os.getloadavg()[0], 2)]  # the machine's other work too
            students = list(await asyncio.gather(
                *(_student(base, i, RUN_STEPS) for i in range(SESSIONS))))
            end = time.monotonic() + LOAD_TIMEOUT_S
            while time.monotonic() < end:
                await asyncio.sleep(1.0)
                if "during" not in r and time.monotonic() - t0 > 5:
                    r["during"] = await _status(base)
                if all(s.total and s.step >= s.total for s in students):
                    break
            r["load_s"] = time.monotonic() - t0
            r["load_average"].append(round(os.getloadavg()[0], 2))
            r["server_cpu_s"] = tree_cpu_s(proc) - cpu0
            r["sessions"] = [(s.name, s.step, s.total, _run_id(s), list(s.exceptions))
                             for s in students]
            r["moved_after_s"] = [round(s.moved_at - s.clicked_at, 2) if s.moved_at else None
                                  for s in students]
        finally:
            for s in students:
                await s.close()
            t_close = time.monotonic()
            # Cleanup: runs removed after the grace period, threads back to the level before.
            while time.monotonic() - t_close < CLEANUP_TIMEOUT_S:
                await asyncio.sleep(1.0)
                r["after"] = await _status(base)
                if (r["after"]["stats"]["runs"] == 0 and proc.num_threads() <= r["threads_before"]
                        and tree_rss_mb(proc) <= r["rss_before"] + RSS_RETURN_MB):
                    break
            r["cleanup_s"] = time.monotonic() - t_close
            r["threads_after"] = proc.num_threads()
            r["rss_after"] = tree_rss_mb(proc)
            monitor.stop()
        r["monitor"] = monitor
        return r

    r = _run_in_own_loop(scenario())
    mon: Monitor = r["monitor"]
    lat = sorted(mon.latencies)
    worst = lat[-1] if lat else float("nan")
    slowest = sorted(zip(mon.latencies, mon.times), reverse=True)[:3]
    r.update(health_probes=len(lat), health_failures=mon.failures, health_worst_s=worst,
             health_median_s=lat[len(lat) // 2] if lat else None,
             health_slowest=[(round(x, 3), round(t - r["t0"], 1)) for x, t in slowest],
             threads_peak=max(mon.threads, default=None), rss_peak_mb=max(mon.rss_mb, default=0))
    report = (
        f"{SESSIONS} sessions x {RUN_STEPS} steps: all finished in {r['load_s']:.1f} s, using "
        f"{r['server_cpu_s']:.0f} server CPU-s ({r['server_cpu_s'] / r['load_s']:.2f} CPUs); "
        f"health probes {len(lat)} ok / {len(mon.failures)} failed, worst {worst * 1000:.0f} ms "
        f"(at +{r['health_slowest'][0][1] if slowest else 0:.0f} s), median "
        f"{(r['health_median_s'] or 0) * 1000:.0f} ms; threads before/peak/after "
        f"{r['threads_before']}/{r['threads_peak']}/{r['threads_after']}; RSS before/peak/after "
        f"{r['rss_before']:.0f}/{r['rss_peak_mb']:.0f}/{r['rss_after']:.0f} MB; cleanup "
        f"{r['cleanup_s']:.1f} s; first step seen after click: worst "
        f"{max((x for x in r['moved_after_s'] if x is not None), default=float('nan')):.1f} s, "
        f"all {r['moved_after_s']}; server during load: {r['during']['stats']}; machine load "
        f"average {r['load_average'][0]} -> {r['load_average'][-1]} on {os.cpu_count()} CPUs"
    )
    print("\nLOAD:", report)
    with contextlib.suppress(OSError):
        out = ROOT / "test-artifacts"
        out.mkdir(exist_ok=True)
        (out / "load.json").write_text(json.dumps(
            {k: v for k, v in r.items() if k != "monitor"}, indent=2, default=str))

    errors = [(n, e) for n, *_, e in r["sessions"] if e]
    assert not errors, f"sessions saw exceptions: {errors[:3]}"
    ids = [rid for *_, rid, _ in r["sessions"]]
    assert all(ids) and len(set(ids)) == SESSIONS, f"run ids in the URL: {ids}"
    unmoved = [s[0] for s, moved in zip(r["sessions"], r["moved_after_s"]) if moved is None]
    assert not unmoved, f"sessions whose run never moved: {unmoved}\n{report}"
    assert r["during"]["stats"]["queued"] == 0, f"runs parked in a line: {r['during']}"
    stuck = [(n, step, total) for n, step, total, *_ in r["sessions"] if not total or step < total]
    assert not stuck, f"runs that did not reach their last step: {stuck}\n{report}"
    assert not mon.failures, f"health probes failed: {mon.failures[:3]}\n{report}"
    assert worst < HEALTH_BOUND_S, report
    assert r["after"]["stats"]["runs"] == 0, f"runs left after the tabs closed: {r['after']}"
    assert r["threads_after"] <= r["threads_before"], report
    assert r["rss_after"] <= r["rss_before"] + RSS_RETURN_MB, report
    assert r["rss_peak_mb"] < r["rss_before"] + RSS_BUDGET_MB, report
