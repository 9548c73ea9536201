"""Runs that move: an animated GIF, an MP4 and a Plotly HTML animation from the replay frames.

Every frame is a figure from the same builders the live view and the exports use
(``figures.frame_panel`` for one run, ``report.comparison_figure_from`` → ``comparison_grid``
for a comparison), with the step in the top-right corner. The HTML carries those figures as
Plotly ``frames`` with a slider (one step per frame) and a play button; GIF and MP4 are the
same figure specs rasterised.

Rasterising, and why not one kaleido call per frame: kaleido 1.x renders a figure in
~0.23 s on this 2-core machine once its browser is up (measured: 20 frames 4.6 s, start
2.2 s), and its batch API (``write_fig_from_object``, n = 1 or 2 tabs) was no faster (40 frames
9.6-11.7 s; it still builds a fresh plot and encodes it through ``Plotly.toImage``). Here one
headless Chromium (via choreographer, kaleido's own browser driver) loads plotly.js once; each
frame is ``Plotly.react`` on that page (an in-place update) and a ``Page.captureScreenshot``:
~0.09 s a frame (40 frames 3.6 s, start 2.5 s). A 2,000-step 1D run at 80 frames therefore
renders in ~10 s instead of ~21 s. Numbers for whole runs: ``bench/animate_bench.py``.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import math
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.json import to_json_plotly

from . import export
from .config import RunConfig
from .figures import FONT_SIZE, d_axis_range, density_top, frame_panel
from .i18n import t
from .losses import get_loss
from .snapshot import Snapshot
from .targets import get_target

FORMATS = ("gif", "mp4", "html")
MAX_FRAMES = 80  # frames in an animation (evenly spaced over the replay, the last kept)
RECORD_FRAMES = 120  # frames the CLI records while training (as many as a live run keeps)
FPS = 10.0
HOLD_LAST_S = 1.5  # the GIF lingers on the final frame before it loops
SOLO_WIDTH = {1: 800, 2: 720}  # px of a one-run frame (height: the figure's own)
GRID_SCALE = 0.75  # the comparison grid is laid out 1600 px wide; rasterised at 1200 px
START_TIMEOUT_S = 60.0
FRAME_TIMEOUT_S = 30.0
_RENDER_LOCK = threading.Lock()  # one animation browser at a time (each holds ~350 MiB)


class AnimationError(RuntimeError):
    """An animation could not be produced; ``str(err)`` is one line for the user."""


def parse_formats(text: str, option: str = "--animate") -> tuple[str, ...]:
    """``"gif,mp4"`` -> ``("gif", "mp4")`` (order kept, repeats dropped); anything else ->
    AnimationError naming ``option`` and the allowed values."""
    names = [part.strip().lower() for part in str(text).split(",") if part.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        got = ", ".join(repr(b) for b in bad) if bad else "nothing"
        raise AnimationError(f"{option}: choose one or more of {','.join(FORMATS)} "
                             f"(comma-separated); got {got}")
    return tuple(dict.fromkeys(names))


def pick(items: Sequence, n: int) -> list:
    """At most ``n`` of ``items``, evenly spaced by index; the first and the last are kept."""
    if n < 1:
        raise AnimationError(f"frames: at least 1; got {n}")
    if len(items) <= n:
        return list(items)
    if n == 1:
        return [items[-1]]
    idx = np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))
    return [items[i] for i in idx]


# --------------------------------------------------------------------------- frames


@dataclass
class Animation:
    """One figure dict per frame (all the same size) and the step each shows."""

    figures: list[dict]
    steps: list[int]
    width: int
    height: int
    scale: float = 1.0  # raster pixels per layout pixel
    fps: float = FPS
    meta: dict = field(default_factory=dict)

    @property
    def raster_size(self) -> tuple[int, int]:
        """(width, height) of a GIF/MP4 frame in pixels (even, as H.264 wants)."""
        return (2 * round(self.width * self.scale / 2), 2 * round(self.height * self.scale / 2))


def _corner(fig: go.Figure, step: int, total: int, lang: str) -> dict:
    """The figure as a dict with ``step N / total`` boxed in its top-right corner (in the title
    row, so it covers no data)."""
    spec = fig.to_plotly_json()
    layout = spec["layout"]
    top = float((layout.get("margin") or {}).get("t", 80))
    note = {"text": f"<b>{t('anim.step', lang, step=step, total=total)}</b>",
            "xref": "paper", "yref": "paper", "x": 1, "y": 1, "xanchor": "right",
            "yanchor": "top", "yshift": top - 6, "showarrow": False,
            "font": {"size": FONT_SIZE + 4, "color": "#111111"}, "bgcolor": "#ffffffdd",
            "bordercolor": "#444444", "borderwidth": 1, "borderpad": 4}
    layout["annotations"] = [*(layout.get("annotations") or []), note]
    return spec


def solo_animation(snaps: Sequence[Snapshot], cfg: RunConfig, *, lang: str = "en",
                   max_frames: int = MAX_FRAMES, fps: float = FPS) -> Animation:
    """A run's replay frames as ``frame_panel`` figures (what the Train page draws). The D axis
    of an unbounded critic is pinned to one range over all frames so it does not jump."""
    if not snaps:
        raise AnimationError("no replay frames yet: train the run first")
    chosen = pick(_distinct(snaps, lambda s: s.step), max_frames)
    loss, target = get_loss(cfg.loss), get_target(cfg.target)
    d_range = loss.output_range or d_axis_range(
        None, *[s.d_out for s in chosen], *[s.d_star for s in chosen if s.dim == 1])
    top = density_top(chosen)  # one density axis over all frames (1D; ignored for 2D)
    figs = [frame_panel(s, d_label=loss.output_label, d_range=d_range, bounds=target.bounds,
                        density_max=top, lang=lang) for s in chosen]
    dim = chosen[0].dim
    height = int(figs[0].layout.height)
    specs = []
    for s, fig in zip(chosen, figs):
        fig.update_layout(width=SOLO_WIDTH[dim], height=height)
        specs.append(_corner(fig, s.step, cfg.steps, lang))
    return Animation(specs, [s.step for s in chosen], SOLO_WIDTH[dim], height, fps=fps,
                     meta={"kind": "solo", "dim": dim})


def grid_animation(frame_lists: Sequence[Sequence[tuple[str, Snapshot]]],
                   histories: Mapping[str, Mapping[str, np.ndarray]],
                   configs: Sequence[RunConfig], *, lang: str = "en",
                   max_frames: int = MAX_FRAMES, fps: float = FPS) -> Animation:
    """A comparison's replay frames as report grids; each frame's curves stop at its step."""
    from .report import comparison_figure_from  # report imports torch; keep it lazy

    lists = [list(f) for f in frame_lists if f]
    if not lists:
        raise AnimationError("no replay frames yet: train the comparison first")
    chosen = pick(_distinct(lists, lambda fr: max(s.step for _, s in fr)), max_frames)
    total = max(c.steps for c in configs)
    top = density_top([s for frames in chosen for _, s in frames])  # one density axis (1D)
    specs, steps = [], []
    for frames in chosen:
        step = max(s.step for _, s in frames)
        upto = {label: _until(h, step) for label, h in histories.items()}
        fig = comparison_figure_from(frames, upto, configs, lang, density_max=top)
        fig.update_layout(width=_grid_width())
        specs.append(_corner(fig, step, total, lang))
        steps.append(step)
    height = max(int(s["layout"]["height"]) for s in specs)
    for s in specs:
        s["layout"]["height"] = height
    return Animation(specs, steps, _grid_width(), height, scale=GRID_SCALE, fps=fps,
                     meta={"kind": "grid", "dim": lists[0][0][1].dim})


def _grid_width() -> int:
    from .figures import COMPARISON_WIDTH

    return COMPARISON_WIDTH


def _distinct(items: Sequence, step_of) -> list:
    """One item per step (the last published at that step), in step order."""
    by_step = {step_of(item): item for item in items}
    return [by_step[s] for s in sorted(by_step)]


def _until(hist: Mapping[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
    """History arrays cut to the rows logged at or before ``step``."""
    steps = np.asarray(hist.get("step", ()), dtype=float)
    keep = steps <= step
    return {c: np.asarray(v)[keep] if len(v) == len(steps) else np.asarray(v)
            for c, v in hist.items()}


# --------------------------------------------------------------------------- HTML


def _changing_keys(items: Sequence[Mapping]) -> list[str]:
    """Keys whose value differs between any two of ``items`` (compared as JSON)."""
    keys = dict.fromkeys(k for item in items for k in item)
    first = items[0]
    return [k for k in keys
            if any(_dumps(item.get(k)) != _dumps(first.get(k)) for item in items[1:])]


def _dumps(value) -> str:
    return to_json_plotly(value)


def to_figure(anim: Animation, lang: str = "en") -> go.Figure:
    """The animation as one Plotly figure: the first frame, ``frames`` carrying every trace
    attribute and layout entry that changes, a slider with one step per frame and play/pause.

    A frame holds a changing key in every frame, not just where it differs from the first
    (``Plotly.animate`` merges a frame into the current state, not into frame 0)."""
    specs = anim.figures
    n_traces = len(specs[0]["data"])
    if any(len(s["data"]) != n_traces for s in specs):
        raise AnimationError("frames draw different numbers of traces; cannot animate them")
    trace_keys = [_changing_keys([s["data"][i] for s in specs]) for i in range(n_traces)]
    layout_keys = [k for k in _changing_keys([s["layout"] for s in specs]) if k != "height"]
    frames = []
    for spec, step in zip(specs, anim.steps):
        data = [{"type": tr["type"], **{k: tr[k] for k in keys if k in tr}}
                for tr, keys in zip(spec["data"], trace_keys)]
        frames.append({"name": str(step), "data": data, "traces": list(range(n_traces)),
                       "layout": {k: spec["layout"][k] for k in layout_keys
                                  if k in spec["layout"]}})
    delay = round(1000 / anim.fps)
    play = {"frame": {"duration": delay, "redraw": True}, "fromcurrent": True,
            "transition": {"duration": 0}, "mode": "immediate"}
    still = {"frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0},
             "mode": "immediate"}
    layout = dict(specs[0]["layout"])
    layout["margin"] = {**layout.get("margin", {}), "b": layout.get("margin", {}).get("b", 60)
                        + 90}
    layout["updatemenus"] = [{
        "type": "buttons", "direction": "left", "showactive": False,
        "x": 0, "xanchor": "left", "y": 0, "yanchor": "top", "pad": {"t": 62, "r": 10},
        "buttons": [
            {"label": "▶ " + t("anim.play", lang), "method": "animate", "args": [None, play]},
            {"label": "❚❚ " + t("anim.pause", lang), "method": "animate",
             "args": [[None], {**still, "frame": {"duration": 0, "redraw": False}}]},
        ],
    }]
    layout["sliders"] = [{
        "active": 0, "x": 0.2, "len": 0.8, "xanchor": "left", "y": 0, "yanchor": "top",
        "pad": {"t": 50, "b": 10},
        "currentvalue": {"prefix": t("anim.slider", lang) + " ", "font": {"size": FONT_SIZE}},
        "steps": [{"label": str(step), "method": "animate", "args": [[str(step)], still]}
                  for step in anim.steps],
    }]
    layout["height"] = anim.height + 90
    fig = go.Figure(data=specs[0]["data"], layout=layout, frames=frames, skip_invalid=True)
    return fig


def to_html(anim: Animation, lang: str = "en") -> str:
    """A self-contained HTML page (plotly.js inlined, works offline) of ``to_figure``."""
    return export.figure_html(to_figure(anim, lang))


# --------------------------------------------------------------------------- raster


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><script>{plotly}</script></head>
<body style="margin:0;background:#fff"><div id="gd" style="width:{w}px;height:{h}px"></div>
<script>
window.show = (fig) => Plotly.react("gd", fig.data, fig.layout, {{staticPlot: true}})
  .then(() => new Promise((ok) => requestAnimationFrame(() => ok(1))));
</script></body></html>"""


def render_frames(anim: Animation) -> list[np.ndarray]:
    """Every frame as an RGB array of ``anim.raster_size`` (one Chromium, see module doc)."""
    path = export.find_browser()
    if path is None:
        raise AnimationError(export.NO_BROWSER.replace("PNG export", "GIF/MP4"))
    with _RENDER_LOCK, tempfile.TemporaryDirectory(prefix="gandemo-anim-") as tmp:
        page = Path(tmp) / "frames.html"
        from plotly.offline import get_plotlyjs

        page.write_text(_PAGE.format(plotly=get_plotlyjs(), w=anim.width, h=anim.height),
                        encoding="utf-8")
        # a fresh thread owns the event loop: callers may be inside one (Streamlit, pytest)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(asyncio.run, _shoot(path, page, anim))
            try:
                return future.result()
            except AnimationError:
                raise
            except Exception as err:  # choreographer raises many types; say what failed
                text = str(err).strip().splitlines()
                raise AnimationError(
                    f"GIF/MP4 rendering failed: {text[0] if text else type(err).__name__}"
                ) from err


async def _shoot(browser_path: str, page: Path, anim: Animation) -> list[np.ndarray]:
    import choreographer as choreo
    from PIL import Image

    w, h = anim.raster_size
    clip = {"x": 0, "y": 0, "width": anim.width, "height": anim.height, "scale": w / anim.width}
    browser = choreo.Browser(path=browser_path, headless=True)
    await asyncio.wait_for(browser.open(), START_TIMEOUT_S)
    try:
        tab = await asyncio.wait_for(browser.create_tab(""), START_TIMEOUT_S)
        await _cmd(tab, "Page.enable")
        await _cmd(tab, "Emulation.setDeviceMetricsOverride",
                   {"width": anim.width, "height": anim.height, "deviceScaleFactor": 1,
                    "mobile": False})
        loaded = tab.subscribe_once("Page.loadEventFired")
        await _cmd(tab, "Page.navigate", {"url": page.as_uri()})
        await asyncio.wait_for(loaded, START_TIMEOUT_S)
        out = []
        for spec in anim.figures:
            fig = pio.to_json(spec, validate=False)
            res = await _cmd(tab, "Runtime.evaluate",
                             {"expression": f"show({fig})", "awaitPromise": True})
            if "exceptionDetails" in res:
                detail = res["exceptionDetails"]
                raise AnimationError("plotly.js could not draw a frame: "
                                     + str(detail.get("exception", {}).get("description")
                                           or detail.get("text")).splitlines()[0])
            shot = await _cmd(tab, "Page.captureScreenshot", {"format": "png", "clip": clip})
            img = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
            if img.size != (w, h):
                img = img.resize((w, h), Image.LANCZOS)
            out.append(np.asarray(img))
        return out
    finally:
        try:
            await asyncio.wait_for(browser.close(), 15)
        except Exception:  # a broken browser may fail to close too; the process ends anyway
            pass


async def _cmd(tab, command: str, params: dict | None = None) -> dict:
    """One DevTools command with a timeout; its ``result`` or AnimationError."""
    res = await asyncio.wait_for(tab.send_command(command, params=params), FRAME_TIMEOUT_S)
    if "error" in res:
        raise AnimationError(f"browser refused {command}: {res['error'].get('message')}")
    return res.get("result", {})


def gif_bytes(anim: Animation, frames: Sequence[np.ndarray] | None = None) -> bytes:
    """An endlessly looping GIF at ``anim.fps``, the last frame held HOLD_LAST_S seconds.

    One 255-colour palette (median cut over the first, middle and last frames, plus pure white)
    for every frame, no dithering: flat plot colours stay flat and identical pixels stay
    identical between frames. Encoded by Pillow (imageio's GIF backend) directly: imageio's
    default quantises each frame on its own, 8.3 s for 80 frames of 800×460 against 0.4 s."""
    from PIL import Image

    frames = render_frames(anim) if frames is None else frames
    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1],
                             np.full((1, frames[0].shape[1], 3), 255, np.uint8)], axis=0)
    palette = Image.fromarray(sample).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)).quantize(
        palette=palette, dither=Image.Dither.NONE) for f in frames]
    step_ms = round(1000 / anim.fps)
    durations = [step_ms] * (len(images) - 1) + [max(step_ms, round(1000 * HOLD_LAST_S))]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, optimize=False)
    return buf.getvalue()


def mp4_bytes(anim: Animation, frames: Sequence[np.ndarray] | None = None) -> bytes:
    """H.264 (yuv420p, plays in browsers and slide decks) at ``anim.fps`` via imageio-ffmpeg;
    the last frame is repeated to hold it HOLD_LAST_S seconds."""
    import imageio_ffmpeg

    frames = list(render_frames(anim) if frames is None else frames)
    frames += [frames[-1]] * max(0, math.ceil(HOLD_LAST_S * anim.fps) - 1)
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="gandemo-mp4-") as tmp:
        path = Path(tmp) / "animation.mp4"
        writer = imageio_ffmpeg.write_frames(
            str(path), (w, h), fps=anim.fps, codec="libx264", pix_fmt_out="yuv420p",
            macro_block_size=2, quality=7, ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"])
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return path.read_bytes()


def build(anim: Animation, fmt: str, lang: str = "en",
          frames: Sequence[np.ndarray] | None = None) -> bytes:
    """The file content of one format (``frames``: already rendered rasters, reused)."""
    if fmt == "html":
        return to_html(anim, lang).encode("utf-8")
    if fmt == "gif":
        return gif_bytes(anim, frames)
    if fmt == "mp4":
        return mp4_bytes(anim, frames)
    raise AnimationError(f"format: choose one of {', '.join(FORMATS)}; got {fmt!r}")


def write(anim: Animation, out: Path, formats: Sequence[str], lang: str = "en") -> list[Path]:
    """``animation.<fmt>`` in ``out`` for each format; rasterises once for GIF and MP4."""
    frames = render_frames(anim) if {"gif", "mp4"} & set(formats) else None
    paths = []
    for fmt in formats:
        path = Path(out) / f"animation.{fmt}"
        path.write_bytes(build(anim, fmt, lang, frames))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- recording (CLI)


class Recorder:
    """Keeps replay frames while a headless run trains: a Snapshot (or, for a comparison, a list
    of (label, Snapshot)) at step 0, every ``every`` steps, and at the end. ``every`` is a
    multiple of ``log_every`` (snapshots there reuse the logged evaluation) chosen so that about
    RECORD_FRAMES frames are kept."""

    def __init__(self, steps: int, log_every: int, keep: int = RECORD_FRAMES):
        self.every = max(1, log_every) * max(1, math.ceil(steps / max(1, log_every) / keep))
        self.frames: list = []
        self._next = 0
        self._job = None

    def __call__(self, job) -> None:
        """Call after a step with a Trainer or a compare.Comparison."""
        self._job = job
        trainers = getattr(job, "trainers", None) or [job]
        step = max(tr.step_count for tr in trainers)
        if step >= self._next or job.done:
            if self.frames and _step_of(self.frames[-1]) == step:
                return
            if hasattr(job, "labels"):
                self.frames.append([(lb, tr.snapshot()) for lb, tr in zip(job.labels, trainers)])
            else:
                self.frames.append(job.snapshot())
            self._next = (step // self.every + 1) * self.every

    def animation(self, lang: str = "en", max_frames: int = MAX_FRAMES) -> Animation:
        """The recorded frames as a solo or a grid animation (the job seen last gives the
        configs and, for a comparison, the histories)."""
        if not self.frames:
            raise AnimationError("no frames were recorded")
        if isinstance(self.frames[0], Snapshot):
            return solo_animation(self.frames, self._job.cfg, lang=lang, max_frames=max_frames)
        job = self._job
        hist = {lb: tr.history.as_arrays() for lb, tr in zip(job.labels, job.trainers)}
        return grid_animation(self.frames, hist, job.configs, lang=lang, max_frames=max_frames)


def _step_of(frame) -> int:
    return frame.step if isinstance(frame, Snapshot) else max(s.step for _, s in frame)


