"""Shared fixtures: the real Streamlit server and Debian's Chromium (driven by Playwright).

* ``streamlit_server`` (session scope) starts ``streamlit run app.py`` on a free port, waits for
  ``/_stcore/health`` to answer ``ok`` and yields the base URL; the server is stopped at the end.
* ``chromium`` (session scope) is a Playwright Chromium browser on /usr/bin/chromium (Playwright's
  own browser download does not work here); tests open their own pages/contexts from it.
* ``wait_for_app`` waits like Streamlit's own e2e suite: the app container is attached and the
  websocket is CONNECTED (``data-test-connection-state``), then no skeleton is left.

Tests that need a browser are marked ``browser``; they are skipped only where no Chromium exists.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# One torch thread, as the server's workers and the CLI use: on a busy 2-core machine two
# threads per small matmul mostly wait on each other (a wgan-gp test went 29 s -> 300 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `ui`, `gandemo` and `app.py` live at the repo root
    sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("GANDEMO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots (gitignored)
SERVER_START_TIMEOUT_S = 120  # a busy 2-core machine imports torch + streamlit slowly


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float) -> None:
    """Poll ``/_stcore/health`` until it answers ``ok`` (or the process dies / time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=5) as resp:
                if resp.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not become healthy within {timeout:.0f} s")


@contextlib.contextmanager
def run_server(app: str = "app.py", env: dict[str, str] | None = None,
               port: int | None = None) -> Iterator[str]:
    """``streamlit run`` in a subprocess; yields the base URL, prints the log on failure."""
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", app, "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a full pipe would block
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, SERVER_START_TIMEOUT_S)
        yield base
    except BaseException:
        log.seek(0)
        sys.stderr.write("---- streamlit log ----\n" + log.read()[-8000:] + "\n")
        raise
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="session")
def streamlit_server() -> Iterator[str]:
    """Base URL of a real gandemo server (shared by every test of the session)."""
    with run_server() as base:
        yield base


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium driven by Playwright (skips where no Chromium is installed)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Streamlit e2e's wait: app attached, websocket CONNECTED, no loading skeleton left."""
    page.wait_for_selector("[data-testid='stAppViewContainer']", state="attached",
                           timeout=timeout_ms)
    page.wait_for_timeout(210)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']",
                           state="attached", timeout=timeout_ms)
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stSkeleton\"]').length == 0",
                           timeout=timeout_ms)


@pytest.fixture()
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def full_page_screenshot(page, path: Path) -> None:
    """The whole app, not just the viewport: Streamlit scrolls inside its main area, so grow the
    viewport to the content's height for the shot and restore it afterwards."""
    size = page.viewport_size
    page.mouse.move(0, size["height"] - 1)  # no hover tooltip over the page
    height = page.evaluate(
        "Math.max(...['stMain', 'stSidebarContent'].map(id =>"
        " document.querySelector(`[data-testid=${id}]`)?.scrollHeight || 0))"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    page.wait_for_timeout(600)  # let Plotly redraw at the new size
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    page.set_viewport_size(size)


def wait_until(predicate, timeout: float = 120.0) -> bool:
    """Poll ``predicate`` every 50 ms until it holds or ``timeout`` passes (busy machines)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def tree_cpu_s(proc) -> float:
    """CPU seconds of ``proc`` (a psutil.Process: the server) and its worker processes."""
    import psutil

    total = 0.0
    for p in (proc, *proc.children(recursive=True)):
        with contextlib.suppress(psutil.Error):  # a child may end meanwhile
            t = p.cpu_times()
            total += t.user + t.system
    return total


def tree_rss_mb(proc) -> float:
    """Resident MB of ``proc`` (a psutil.Process: the server) and its worker processes."""
    import psutil

    total = 0
    for p in (proc, *proc.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def stop_all_runs() -> None:
    """Teardown of the AppTest sessions: stop every run and check no worker thread is left
    (the worker processes stay, warm, for the next test: they start in seconds, not ms)."""
    from gandemo.runner import get_scheduler

    get_scheduler().shutdown(processes=False)
    alive = [th.name for th in threading.enumerate() if th.name.startswith("gandemo-worker")]
    assert not alive, alive


@pytest.fixture()
def at():
    """A fresh AppTest session of the whole app (app.py, 60 s per run); afterwards every run
    is stopped and the workers are gone."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    yield app
    stop_all_runs()


def click_until_visible(button, target, *, first_ms: int = 20_000, then_ms: int = 240_000):
    """Click ``button`` and wait for ``target`` (Playwright locators). A click that lands while
    the live fragment swaps the button's element is lost in the browser — a person would click
    again, and so does this, once, if the button still reads the same."""
    from playwright.sync_api import Error as PlaywrightError

    label = button.inner_text()
    button.click()
    try:
        target.wait_for(timeout=first_ms)
    except PlaywrightError:
        if button.inner_text() == label:
            button.click()
        target.wait_for(timeout=then_ms)


def pytest_collection_modifyitems(config, items):
    """A test that uses the real server or the browser is a ``browser`` test, whatever its file
    says, so `make test-fast` (`-m "not browser and not slow and not load"`) never starts one."""
    for item in items:
        if {"streamlit_server", "chromium", "server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def one_torch_thread():
    """As the server and the benches run: small batched matmuls split over threads only wait."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
