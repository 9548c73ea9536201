"""Files for reports: PNG/SVG (kaleido + a local Chromium), HTML (light or offline), CSV, zip.

PNG/SVG export drives a headless Chromium through kaleido 1.x. ``fig.to_image`` starts and
stops a browser on every call (~2.5 s each); here the first export opens one browser (~2 s)
and later exports reuse it (~0.15-0.5 s). It is closed after ``IDLE_CLOSE_S`` seconds without
exports (and at exit), so an idle classroom container holds no Chromium (~350 MiB while open).
All browser work is serialised by one module-level lock, and every step has a timeout.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .figures import PLOTLY_CONFIG
from .snapshot import SCALAR_COLUMNS

BROWSER_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_BROWSER = "PNG export needs Chromium/Chrome: install the 'chromium' package or set BROWSER_PATH"
DEFAULT_SIZE = (1200, 600)
IDLE_CLOSE_S = 120.0  # close the kept-open browser after this long without exports
START_TIMEOUT_S = 60.0  # browser start (slow on a busy 2-core machine)
RENDER_TIMEOUT_S = 60.0
MAX_NAME = 120
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same files give the same zip bytes

_LOCK = threading.Lock()
_state: dict = {"browser": None, "timer": None}  # the kept-open browser and its idle timer


class ExportError(RuntimeError):
    """An export could not be produced; ``str(err)`` is one line for the user."""


# --------------------------------------------------------------------------- browser


def find_browser() -> str | None:
    """``$BROWSER_PATH``, else /usr/bin/chromium, else a Chromium/Chrome on PATH."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return next(filter(None, map(shutil.which, BROWSER_CANDIDATES)), None)


def _ensure_browser() -> None:
    """Point kaleido (choreographer reads BROWSER_PATH) at a browser, or raise ExportError."""
    path = find_browser()
    if path is None:
        raise ExportError(NO_BROWSER)
    os.environ.setdefault("BROWSER_PATH", path)


class _Browser:
    """One kaleido Chromium kept open on its own event-loop thread.

    Not ``kaleido.start_sync_server()``: its worker thread dies silently when the browser fails
    to start or crashes, and every later export then waits forever. Here each call has a
    timeout, and failures surface as exceptions."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gandemo-kaleido",
                                       daemon=True)
        self.thread.start()
        try:
            self.kaleido = self._call(self._open(), START_TIMEOUT_S)
        except BaseException:
            self._stop_loop()
            raise

    async def _open(self):
        import kaleido
        import plotly.io as pio

        # mathjax=False: no LaTeX here, and an offline container must not wait for a CDN;
        # plotly.js itself comes from the installed plotly package.
        k = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT_S, mathjax=False,
                            headers=pio.defaults.headers)
        await k.open()
        return k

    def _call(self, coro, timeout: float):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def render(self, fig: go.Figure, opts: dict) -> bytes:
        return self._call(self.kaleido.calc_fig(fig.to_dict(), opts=opts), RENDER_TIMEOUT_S + 5)

    def close(self) -> None:
        try:
            self._call(self.kaleido.close(), 15)
        except Exception:  # closing a broken browser may fail too; the process ends anyway
            pass
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def shutdown() -> None:
    """Close the kept-open browser, if any (safe to call any time; also runs at exit)."""
    with _LOCK:
        _close_browser()


def _close_browser() -> None:
    timer, browser = _state["timer"], _state["browser"]
    _state["timer"] = _state["browser"] = None
    if timer is not None:
        timer.cancel()
    if browser is not None:
        browser.close()


def _arm_idle_timer() -> None:
    """(Re)start the countdown that closes the browser after IDLE_CLOSE_S quiet seconds."""
    if _state["timer"] is not None:
        _state["timer"].cancel()
    timer = threading.Timer(IDLE_CLOSE_S, shutdown)
    timer.daemon = True
    timer.start()
    _state["timer"] = timer


def _render(fig: go.Figure, fmt: str, width: int | None, height: int | None, scale: float) -> bytes:
    """One render under the lock, starting the browser if needed; failures -> ExportError."""
    _ensure_browser()
    opts = {"format": fmt, "scale": scale,
            "width": int(width or fig.layout.width or DEFAULT_SIZE[0]),
            "height": int(height or fig.layout.height or DEFAULT_SIZE[1])}
    with _LOCK:
        try:
            if _state["browser"] is None:
                _state["browser"] = _Browser()
            data = _state["browser"].render(fig, opts)
        except Exception as err:  # kaleido/choreographer raise many types, or we time out
            _close_browser()
            raise ExportError(_explain(err, fmt)) from err
        _arm_idle_timer()
    return data


def _explain(err: Exception, fmt: str) -> str:
    """A one-line reason for the user (kaleido's own advice to download Chrome is no use
    offline, so a browser that cannot start gets our hint instead)."""
    from choreographer.errors import BrowserDepsError, BrowserFailedError, ChromeNotFoundError

    if isinstance(err, (ChromeNotFoundError, BrowserFailedError, BrowserDepsError)):
        return f"{NO_BROWSER} (could not start {os.environ.get('BROWSER_PATH')!r})"
    if isinstance(err, TimeoutError):
        return f"{fmt.upper()} export timed out; try again"
    text = str(err).strip()
    return f"{fmt.upper()} export failed: {text.splitlines()[0] if text else type(err).__name__}"


def figure_png(fig: go.Figure, *, width: int | None = None, height: int | None = None,
               scale: float = 2) -> bytes:
    """PNG bytes of ``fig`` at ``width·scale × height·scale`` pixels (size defaults: the
    figure's own layout width/height, else 1200×600)."""
    return _render(fig, "png", width, height, scale)


def figure_svg(fig: go.Figure, *, width: int | None = None, height: int | None = None) -> bytes:
    """SVG (UTF-8 bytes) of ``fig``; text stays text, so it scales in a report."""
    return _render(fig, "svg", width, height, 1)


# --------------------------------------------------------------------------- browser-free files


def figure_html(fig: go.Figure, *, offline: bool = True) -> str:
    """An interactive HTML page of ``fig``. ``offline=True``: plotly.js inlined (≈ 4.7 MB, opens
    without a network); ``offline=False``: the light page (tens of kB plus the data) that loads
    plotly.js from its CDN with a ``<script src="https://cdn.plot.ly/…">`` tag, to e-mail."""
    return fig.to_html(include_plotlyjs=True if offline else "cdn", full_html=True,
                       config=PLOTLY_CONFIG)


def history_csv(hist_arrays: Mapping[str, np.ndarray], extra_cols: Mapping | None = None) -> str:
    """CSV of a run's scalars: ``extra_cols`` first (constant columns such as the variant),
    then SCALAR_COLUMNS in order, then any further columns the history carries (the lone-move
    counts d_moves, g_moves of a run that used Step D / Step G); NaN (not measured) as empty."""
    n = len(hist_arrays.get("step", ()))
    data = {name: [value] * n for name, value in (extra_cols or {}).items()}
    for col in (*SCALAR_COLUMNS, *(c for c in hist_arrays if c not in SCALAR_COLUMNS)):
        data[col] = np.asarray(hist_arrays.get(col, np.full(n, np.nan)), dtype=float)
    frame = pd.DataFrame(data)
    frame["step"] = frame["step"].astype("Int64")
    return frame.to_csv(index=False, lineterminator="\n")


def safe_filename(*parts: object, max_len: int = MAX_NAME) -> str:
    """Join ``parts`` with '_' into a name of [A-Za-z0-9._-] only: other runs become '-',
    dots never lead or repeat (no '..'), no path separators; 'gandemo' if nothing is left."""
    cleaned = []
    for part in parts:
        text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(part))
        text = re.sub(r"\.{2,}", ".", text).strip(".-_")
        if text:
            cleaned.append(text)
    name = "_".join(cleaned)
    ext = re.search(r"\.[A-Za-z0-9]{1,5}$", name)
    suffix = ext.group() if ext and len(name) > max_len else ""
    name = name[: max_len - len(suffix)].rstrip(".-_") + suffix
    return name if name.strip(".") else "gandemo"


def bundle_zip(files: Mapping[str, bytes | str]) -> bytes:
    """An in-memory zip of ``{name: content}`` (str is UTF-8); names are made safe."""
    buf = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            safe = safe_filename(name)
            if safe in seen:
                raise ExportError(f"two files would both be called {safe!r} in the zip")
            seen.add(safe)
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            zf.writestr(zipfile.ZipInfo(safe, date_time=_ZIP_TIME), data,
                        compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


atexit.register(shutdown)
