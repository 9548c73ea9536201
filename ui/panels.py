"""What the live view (``ui/run_view.py``) shows of a run: the figures of one run (density or
sample plot, losses, gradients, divergences) or of a comparison (one tile per variant, the
variants' curves overlaid, a summary table), the replay scrubber and the downloads.

Everything here reads only what the training thread published (``Run.latest``/``frames``/
``history``); figures are cached per session and rebuilt only when what they show changed.
Replay and export widgets are drawn only while the run is not active, so nothing fights the
auto-refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gandemo import animate, export, moves, report
from gandemo.config import RunConfig, target_defaults, to_json
from gandemo.figures import (
    COMPARISON_WIDTH,
    FULL,
    LIVE,
    STYLE,
    TILE,
    Detail,
    Style,
    density_top,
    divergence_curves,
    frame_panel,
    grad_norm_curves,
    loss_curves,
    title_block,
    variant_color,
    variant_text_color,
    wrap_text,
)
from gandemo.i18n import t
from gandemo.losses import LOSSES
from gandemo.runner import Run
from gandemo.snapshot import Snapshot
from gandemo.targets import TARGETS
from gandemo.trainer import Trainer

from . import present
from . import run_session as rs
from .common import labeler, lang, tr
from .live_chart import _as_array, live_chart
from .page_gate import slot_released

CURVE_REFRESH_S = 1.2  # history curves redraw at most this often while training (browser CPU)
FIGURE_KINDS = ("frame", "loss", "grad", "div")
FRAME_HEIGHT = {1: 480, 2: 640}  # px; 1D spans the page, 2D sits beside the loss/gradient column
CURVE_HEIGHT = 320
LIVE_TOP_MARGIN = 20  # px above the legend once the title is drawn outside the figure
TITLE_SPACE = 40  # px the outside title takes, removed from the figure's height
EXPORT_WIDTH = {1: 1200, 2: 900}  # px before the PNG scale


# Live charts are Plotly charts that stay mounted and are updated in place (ui/live_chart.py):
# no remount, so nothing blinks and no CSS has to hide Streamlit's own refresh.
PAGE_CSS = """<style>
.st-key-status_line p { font-size: 1.25rem; }
[class*="st-key-title_"] p { font-size: 1.15rem; margin-bottom: -0.5rem; }
</style>"""


def page_style() -> None:
    st.html(PAGE_CSS)


# --------------------------------------------------------------------------- data


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def preview_snapshot(cfg_json: str) -> Snapshot:
    """Step-0 frame of an untrained run with these settings (shared by all sessions)."""
    from gandemo.config import from_json

    return Trainer(from_json(cfg_json)).snapshot()


def frame_step(frame: Snapshot | list) -> int:
    """The step of a published frame: a run's ``Snapshot``, or a comparison's list of
    ``(label, Snapshot)`` (its furthest variant)."""
    if isinstance(frame, Snapshot):
        return frame.step
    return max((snap.step for _, snap in frame), default=0)


def distinct_frames(run: Run) -> list:
    """Published frames, one per step (the last one published at that step)."""
    by_step: dict[int, Any] = {}
    for frame in run.frames():
        by_step[frame_step(frame)] = frame
    return [by_step[s] for s in sorted(by_step)]


def build_figure(kind: str, cfg: RunConfig, snap: Snapshot | None, hist: dict, code: str,
                 style: Style = STYLE, previous: Snapshot | None = None,
                 density_max: float | None = None, detail: Detail = FULL):
    """One of the four panels as a complete, titled figure (the exports use this, in the
    normal style and sizes; presentation mode passes ``figures.PRESENT`` and its heights).
    ``previous``: the frame before a lone move, drawn faintly behind (frame panel only);
    ``density_max``: the 1D density axis top (``density_ceiling``); ``detail``: how much a 2D
    frame draws (``figures.LIVE`` in the live view)."""
    if kind == "frame":
        loss = LOSSES[cfg.loss]
        fig = frame_panel(snap, d_label=loss.output_label, d_range=loss.output_range,
                          bounds=TARGETS[cfg.target].bounds, lang=code, style=style,
                          previous=previous, density_max=density_max, detail=detail)
        fig.update_layout(height=present.size(f"frame_{snap.dim}d") if style.present
                          else FRAME_HEIGHT[snap.dim])
        return fig
    fig = {"loss": loss_curves, "grad": grad_norm_curves, "div": divergence_curves}[kind](
        hist, lang=code, style=style)
    if style.present:
        fig.update_layout(height=present.size("div" if kind == "div" else "curves"))
    elif kind != "div":
        fig.update_layout(height=CURVE_HEIGHT)
    return fig


def live_figure(kind: str, cfg: RunConfig, snap: Snapshot | None, hist: dict,
                code: str, previous: Snapshot | None = None,
                density_max: float | None = None) -> tuple[str, go.Figure]:
    """The panel for the page: its title comes out of the figure (drawn above it by Streamlit,
    where it wraps), so the legend can sit right above the plot at any column width — inside
    the figure a legend that wraps onto more rows would run into the title. A 2D frame draws
    ``figures.LIVE`` (fewer, plainer markers: the browser redraws it several times a second;
    its legend says how many samples it shows); exports draw ``build_figure``'s FULL."""
    fig = build_figure(kind, cfg, snap, hist, code, present.style(), previous, density_max,
                       detail=LIVE)
    title = fig.layout.title.text or ""
    if kind == "div":  # full width: its legend stays on one or two rows under its own title
        return "", fig
    fig.update_layout(title_text="", margin_t=LIVE_TOP_MARGIN)
    fig.update_layout(height=fig.layout.height - TITLE_SPACE)
    if kind == "frame" and snap.dim == 2:
        # In a half-width column a horizontal colour bar titled at its side keeps little room
        # for the bar itself; with the title under its ticks the bar gets the whole length
        # (a title on top of a bar anchored to the figure's bottom was drawn over the bar).
        fig.update_traces(colorbar_title_side="bottom", selector={"type": "heatmap"})
    return title, fig


def _cached_figure(kind: str, token: tuple, make: Callable[[], Any]) -> Any:
    """Rebuild a figure only when what it shows changed. An unchanged figure costs the browser
    nothing: Streamlit resends the same element and Plotly keeps the chart it has."""
    cache = st.session_state.setdefault("_figure_cache", {})
    hit = cache.get(kind)
    if hit is not None and hit[0] == token:
        return hit[1]
    fig = make()
    cache[kind] = (token, fig)
    return fig


def _curve_token(token: tuple, active: bool) -> tuple:
    """The history curves' cache token, held back while training so that the three curve
    figures are redrawn together and at most every CURVE_REFRESH_S (browser CPU)."""
    last = st.session_state.get("_curve_token")
    now = time.monotonic()
    if (active and last is not None and last[0][:2] == token[:2]
            and now - last[1] < CURVE_REFRESH_S):
        return last[0]
    st.session_state["_curve_token"] = (token, now)
    return token


def panel_chart(name: str, fig: go.Figure | dict, uirevision: str | None = None) -> None:
    """``fig`` in panel ``name``: a live chart (key ``chart_<name>``) updated in place inside
    a container with key ``panel_<name>``; the user's zoom is kept while ``uirevision`` stays."""
    with st.container(key=f"panel_{name}", gap=None):
        live_chart(fig, key=f"chart_{name}", uirevision=uirevision)


def panel(name: str, token: tuple, make: Callable[[], tuple[str, go.Figure]]) -> None:
    """Title + live chart of one panel, rebuilt only when ``token`` changed; ``token[0]`` (the
    run) is the chart's ``uirevision``: a new run resets the zoom."""
    title, fig = _cached_figure(name, token, make)
    if title:
        with st.container(key=f"title_{name}"):
            st.markdown(f"**{_md_escape(title)}**")
    panel_chart(name, fig, uirevision=str(token[0]))


def _md_escape(text: str) -> str:
    """Plain text for st.markdown: ``p_r … p_g`` must not turn into italics."""
    return "".join("\\" + ch if ch in "\\`*_[]<>#|~$" else ch for ch in text)


def _hist_token(hist: dict) -> tuple:
    steps = hist.get("step", np.zeros(0))
    return len(steps), float(steps[-1]) if len(steps) else -1.0


DENSITY_KEY = "_density_top"  # st.session_state: run id -> density axis top drawn so far


def density_ceiling(run_id: str, shown: list[Snapshot],
                    published: Callable[[], list[Snapshot]]) -> float | None:
    """Top of the 1D density axis for a run's (or a comparison's) ``shown`` frames:
    ``figures.density_top`` of them, never below the top drawn so far for ``run_id`` (kept in
    the session; on a fresh page, that of every frame the run ``published``), so the live axis
    only grows and holds p_g's peak. None for 2D frames."""
    if not shown or shown[0].dim != 1:
        return None
    store = st.session_state.setdefault(DENSITY_KEY, {})
    floor = store.get(run_id)
    if floor is None:
        before = [s for s in published() if s is not None and s.dim == 1]
        floor = density_top(before) if before else 0.0
    store[run_id] = top = density_top(shown, floor)
    return top


# --------------------------------------------------------------------------- one run


# target -> settings that converge (its own defaults, config.target_defaults; measured in
# docs/target-defaults.md), or None where even those do not: then the note always shows.
SLOW_TARGETS = {"ring8": target_defaults("ring8"), "grid25": None}


def target_note(cfg: RunConfig | None) -> None:
    """Before a run on a 2D target with settings that do not learn in their steps: say so, and
    offer the settings that do (one click puts them into the sidebar form)."""
    if cfg is None or cfg.target not in SLOW_TARGETS:
        return
    fix = SLOW_TARGETS[cfg.target]
    if fix is not None and all(getattr(cfg, k) == v for k, v in fix.items()):
        return
    st.caption(tr(f"present.target_note.{cfg.target}"))
    if fix is not None:
        from .config_form import set_widgets

        st.button(tr(f"present.target_fix.{cfg.target}"), key="target_fix",
                  icon=":material/auto_fix_high:", on_click=set_widgets,
                  args=(cfg.with_(**fix),))


# --------------------------------------------------------------------------- the live view


def run_panels(run: Run | None, cfg: RunConfig | None, active: bool) -> None:
    """One run's body in the live view (``run_view.live_view``): the four panels of the run,
    or of the untrained preview of ``cfg``; replay and downloads while it is not training."""
    code = lang()
    show_cfg = run.cfg if run is not None else cfg
    with st.container():  # always there: the panels below keep their place when it empties
        if run is None:
            target_note(show_cfg)
    if show_cfg is None:
        return
    replay = run is not None and not active
    if run is None:
        snap = preview_snapshot(to_json(show_cfg))
        hist: dict[str, Any] = {}
    else:
        snap = run.latest()
        hist = run.history()
    run_id = run.id if run is not None else "preview"
    if replay:
        snap = _scrubber(run) or snap

    move = _shown_move(run, snap)
    top = (density_ceiling(run.id, [snap], run.frames) if run is not None
           else None)  # the preview: one still frame, its own top

    def frame() -> None:
        before = move["before"] if move else None
        panel("frame", (run_id, look, snap.step, id(snap), id(before), top),
              lambda: live_figure("frame", show_cfg, snap, hist, code, before, top))
        if move:  # the sentence under the plot: what the lone move did, with its numbers
            st.info(_md_escape(moves.sentence(move["summary"], code)),
                    icon=":material/swap_horiz:")
            st.caption(tr("moves.caption"))

    has_rows = len(hist.get("step", ())) > 0
    look = (code, present.is_on(), present.screen())  # a new look redraws every panel
    token = _curve_token((run_id, look, *_hist_token(hist)), active)

    def curves(kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            panel(kind, token, lambda k=kind: live_figure(k, show_cfg, snap, hist, code))

    # 1D: the density plot spans the page; 2D: the square sample plot sits beside the curves.
    if snap.dim == 1:
        frame()
    if has_rows:
        if snap.dim == 1:
            for col, kind in zip(st.columns(2, gap="medium"), ("loss", "grad"), strict=True):
                with col:
                    curves((kind,))
        else:
            left, right = st.columns([1.35, 1], gap="medium")
            with left:
                frame()
            with right:
                curves(("loss", "grad"))
        curves(("div",))
    else:
        if snap.dim == 2:
            left, right = st.columns([1.35, 1], gap="medium")
            with left:
                frame()
            box = right
        else:
            box = st.container()
        box.info(tr("ui.panels.no_curves"), icon=":material/show_chart:")
    if run is not None and replay:
        export_row(run, snap, hist)
    elif run is not None:
        st.caption(tr("ui.export.pause_first"))


def _shown_move(run: Run | None, snap: Snapshot | None) -> dict | None:
    """The session's last lone move (``rs.MOVE_KEY``) when ``snap`` is the frame it made."""
    move = st.session_state.get(rs.MOVE_KEY)
    if run is None or not move or move["run"] != run.id or move["after"] is not snap:
        return None
    return move


def _scrubber(run: Run) -> Any:
    """History scrubber over the published frames (only while the run is not training), for a
    run and for a comparison alike: the chosen frame, None when there are fewer than two."""
    frames = distinct_frames(run)
    if len(frames) < 2:
        return None
    last = len(frames) - 1
    index = st.select_slider(
        tr("ui.replay.label"), options=list(range(len(frames))), value=last,
        format_func=lambda i, code=lang(): t("ui.replay.step", code, step=frame_step(frames[i])),
        key=f"replay_{run.id}_{len(frames)}", help=tr("ui.replay.help"),
    )
    return frames[index]


# --------------------------------------------------------------------------- export


def export_row(run: Run, snap: Snapshot, hist: dict) -> None:
    """Downloads of the shown panel (PNG ×3, HTML), the metrics (CSV) and the config (JSON).
    Files are produced only when a button is clicked (callable ``data``)."""
    code = lang()
    cfg = run.cfg
    holder = rs.session_runs()
    for message in holder.export_errors:
        st.error(tr("ui.export.png_failed", message=message))
    holder.export_errors.clear()
    st.markdown(f"**{tr('ui.export.title')}**")
    cols = st.columns([2, 1, 1.3, 1, 1, 1.2], vertical_alignment="bottom")
    kind = cols[0].selectbox(tr("ui.export.figure"), FIGURE_KINDS, key="export_figure",
                             format_func=labeler("ui.export.kind."))
    base = (cfg.target, cfg.loss, f"seed{cfg.seed}", f"step{snap.step}")

    top = density_ceiling(run.id, [snap], run.frames)  # the axis of the live view

    def figure() -> go.Figure:
        return build_figure(kind, cfg, snap, hist, code, density_max=top)

    def png() -> bytes:
        try:
            width = EXPORT_WIDTH[snap.dim] if kind == "frame" else None
            return export.figure_png(figure(), width=width, scale=3)
        except export.ExportError as err:
            holder.export_errors.append(str(err))
            raise

    browser = export.find_browser() is not None
    cols[1].download_button(
        "PNG", png, file_name=export.safe_filename(*base, f"{kind}.png"), mime="image/png",
        key="dl_png", on_click="ignore", icon=":material/image:", width="stretch",
        disabled=not browser,
        help=tr("ui.export.png.help") if browser else tr("ui.export.no_browser"),
    )
    cols[2].download_button(
        "HTML", lambda: export.figure_html(figure(), offline=False),
        file_name=export.safe_filename(*base, f"{kind}.html"), mime="text/html", key="dl_html",
        on_click="ignore", icon=":material/html:", width="stretch", help=tr("ui.export.html.help"),
    )
    cols[5].download_button(
        tr("ui.export.html_offline"), lambda: export.figure_html(figure()),
        file_name=export.safe_filename(*base, f"{kind}_offline.html"), mime="text/html",
        key="dl_html_offline", on_click="ignore", icon=":material/html:", width="stretch",
        help=tr("ui.export.html_offline.help"),
    )
    cols[3].download_button(
        "CSV", lambda: export.history_csv(run.history()),
        file_name=export.safe_filename(*base[:3], f"step{run.step}", "metrics.csv"),
        mime="text/csv", key="dl_csv", on_click="ignore", icon=":material/table:",
        width="stretch", help=tr("ui.export.csv.help"),
    )
    cols[4].download_button(
        "config.json", lambda: to_json(cfg),
        file_name=export.safe_filename(*base[:3], "config.json"), mime="application/json",
        key="dl_config", on_click="ignore", icon=":material/settings:", width="stretch",
        help=tr("ui.export.config.help"),
    )
    frames = distinct_frames(run)
    animation_row("train", (run.id, run.step, len(frames), code), base[:3], len(frames),
                  lambda: animate.solo_animation(frames, cfg, lang=code))


ANIMATION_MIME = {"gif": "image/gif", "mp4": "video/mp4", "html": "text/html"}


def animation_row(key: str, token: tuple, base: tuple, n_frames: int,
                  make: Callable[[], Any]) -> None:
    """GIF / MP4 / HTML of the replay frames (``make()`` -> ``animate.Animation``), built only
    when its button is clicked (with a spinner) and kept for this ``token`` (run, step,
    language); then a download button hands the file out. Errors show as one message."""
    st.markdown(f"**{tr('anim.ui.title')}**")
    if n_frames < 2:
        st.caption(tr("anim.ui.few_frames"))
        return
    st.caption(tr("anim.ui.caption", frames=min(n_frames, animate.MAX_FRAMES)))
    store = st.session_state.setdefault("_animations", {})
    if store.get(key, {}).get("token") != token:
        store[key] = {"token": token}
    built = store[key]
    browser = export.find_browser() is not None
    for col, fmt in zip(st.columns(len(animate.FORMATS)), animate.FORMATS):
        name, raster = fmt.upper(), fmt != "html"
        with col:
            if fmt not in built and st.button(
                    tr("anim.ui.build", fmt=name), key=f"anim_{key}_{fmt}", width="stretch",
                    icon=":material/movie:", disabled=raster and not browser,
                    help=tr(f"anim.ui.{fmt}.help") if browser or not raster
                    else tr("anim.ui.no_browser")):
                with st.spinner(tr("anim.ui.building", n=min(n_frames, animate.MAX_FRAMES),
                                   fmt=name)):
                    try:
                        with slot_released():  # seconds of work: others draw meanwhile
                            built[fmt] = animate.build(make(), fmt, lang())
                    except animate.AnimationError as err:
                        st.error(tr("anim.ui.failed", fmt=name, message=str(err)))
            if fmt in built:
                st.download_button(
                    tr("anim.ui.download", fmt=name), built[fmt],
                    file_name=export.safe_filename(*base, f"animation.{fmt}"),
                    mime=ANIMATION_MIME[fmt], key=f"anim_dl_{key}_{fmt}", on_click="ignore",
                    icon=":material/download:", width="stretch", type="primary",
                    help=tr(f"anim.ui.{fmt}.help"))


# --------------------------------------------------------------------------- a comparison
# A comparison is a grid of the same frame panels (one tile per variant, ``frame_panel``), the
# variants' curves overlaid, and a summary table; its figures are cached per session like a
# single run's and rebuilt only when what they show changed.

# While training, the tiles are rebuilt together about TILES_PER_S tiles a second in all, and at
# most every TILE_MIN_S (8 tiles: every 0.35 s; 12: every 0.5 s); in between, the unchanged
# figures cost nothing (the live chart sends "same"). Each tile is updated in place by the live
# chart (Plotly.react with the changed arrays), not remounted as Streamlit charts once were,
# when 8+ new charts every 0.5 s made a slow browser fall far enough behind for Streamlit's
# send queue to overflow and drop the session. A tile draws ``figures.TILE``: 1D curves thinned
# to ~150 points (a tile's plot is ~150 px wide), 60 rug marks, 2D as the live view: eight
# tiles redraw at ≥ 2/s where the whole 500-point curves managed 1.5/s (bench/live_rate.py).
TILES_PER_S = 24.0
TILE_MIN_S = 0.35
TILE_GRID = 64  # D(x) heatmap cells per axis in a 2D tile
PER_ROW = 4
TILE_HEIGHT = {1: 330, 2: 360}
SCREEN_WIDTH = {"1080": 1920, "720": 1280}  # px of the projector's browser window
NORMAL_MAIN_PX = 1000  # main column of the wide layout with the sidebar open, on a laptop
MIN_SQUARE = 160  # px: the smallest 2D tile plot


def tile_period(n: int) -> float:
    """Seconds between rebuilds of a comparison's ``n`` tiles while training (the Compare
    page's live refresh too: in between, nothing it shows would change but the step)."""
    return max(TILE_MIN_S, n / TILES_PER_S)


def _grid_cache() -> dict:
    return st.session_state.setdefault("_cmp_figs", {})


def tile_width(per_row: int) -> float:
    """Estimated width (px) of one tile, ``per_row`` to a row: in presentation mode the plots
    column beside the preset's explanation on the projector (``present.SIZES`` root font,
    ``present.SIDE_RATIO``, Streamlit's 2 rem page padding, 4 rem "large" and 1 rem "small"
    column gaps), else NORMAL_MAIN_PX. Used to wrap the variant names; a wider screen only
    leaves room to spare."""
    if present.is_on():
        screen = present.screen()
        rem = present.SIZES[screen]["root"]
        main = SCREEN_WIDTH[screen] - 4 * rem
        plots = (main - 4 * rem) * present.SIDE_RATIO[0] / sum(present.SIDE_RATIO)
    else:
        rem, plots = 16, NORMAL_MAIN_PX
    return (plots - (per_row - 1) * rem) / per_row


def tile_label_lines(label: str, width: float, style: Style) -> list[str]:
    """A variant's name wrapped to a tile's title width (bold at ``style.panel_title``;
    ``text_width``'s 0.6 em covers bold latin letters too)."""
    room = 0.95 * width - 12  # the title starts at 1 % of the width
    return wrap_text(label, room, style.panel_title)


def _tile(i: int, name_lines: list[str], n_lines: int, snap: Snapshot, cfg: RunConfig,
          top: float | None, code: str, width: float) -> dict:
    """Variant ``i``'s frame panel, compact: its name (whole: wrapped onto ``name_lines``) and
    the step as a coloured title; the top margin holds ``n_lines`` name lines (the most any
    tile of the row has) so that the plots of a row line up. A 2D tile is as tall as its
    square plot needs at ``width``. Returned as the figure's plotly JSON, edited as a dict:
    eight tiles are rebuilt a few times a second, and plotly's validated updates would cost
    more than drawing the panel itself."""
    loss = LOSSES[cfg.loss]
    style = present.style()
    spec = frame_panel(snap, d_label=loss.output_label, d_range=loss.output_range,
                       bounds=TARGETS[cfg.target].bounds, density_max=top, lang=code,
                       style=style, detail=TILE).to_plotly_json()
    grow = style.tick - 14  # larger ticks need wider margins
    layout = spec["layout"]
    text = tr("cmp.tile.title", label="</b><br><b>".join(name_lines), step=snap.step)
    lines = text.split("<br>")
    pad_lines = lines + [""] * max(0, n_lines - len(name_lines))  # as tall as the tallest
    title, top_px = title_block(pad_lines, style.panel_title, variant_text_color(i))
    title["text"] = "<br>".join(lines)
    side = 56 + 3 * grow
    margin = {"t": top_px, "l": side if snap.dim == 1 else 44 + 2 * grow,
              "r": side if snap.dim == 1 else 12, "b": 48 + 2 * grow}
    if snap.dim == 2:  # narrow margins for a larger square; they grow if the labels need it
        layout["yaxis"]["automargin"] = True
    height = present.size(f"tile_{snap.dim}d") if style.present else TILE_HEIGHT[snap.dim]
    if snap.dim == 2:  # a square plot: no empty band between the title and the plot
        square = max(MIN_SQUARE, width - margin["l"] - margin["r"])
        height = min(height, round(margin["t"] + margin["b"] + square))
    layout.update(height=height, showlegend=False, title=title,
                  margin={**(layout.get("margin") or {}), **margin})
    # Eight tiles refresh together: at most TILE_GRID² D(x) cells per tile.
    for trace in spec["data"]:
        if trace.get("type") == "heatmap":
            z, x, y = (_as_array(trace[k]) for k in ("z", "x", "y"))
            k = max(1, int(np.ceil(max(z.shape) / TILE_GRID)))
            trace.update(z=z[::k, ::k], x=x[::k], y=y[::k], showscale=False)
    return spec


def tiles(run: Run, frames: list, code: str, active: bool) -> None:
    """One tile per variant, PER_ROW to a row (1D tiles share one density axis, which only
    grows: ``density_ceiling``)."""
    cache = _grid_cache()
    now = time.monotonic()
    built = cache.get("tiles_at")
    if (active and built is not None and built[0] == (run.id, code, len(frames))
            and now - built[1] < 0.8 * tile_period(len(frames))):  # 0.8: timer jitter
        frames = [(label, cache[("tile", i)][2]) for i, (label, _) in enumerate(frames)]
    else:
        cache["tiles_at"] = ((run.id, code, len(frames)), now)
    top = density_ceiling(run.id, [s for _, s in frames],
                          lambda: [s for frame in run.frames() for _, s in frame])
    _tile_grid(run.id, run.configs, frames, top, code)


PREVIEW_ID = "preview"  # the tiles' run id before Start


def preview_grid(configs: Sequence[RunConfig], labels: Sequence[str]) -> None:
    """Before Start (and until the run's first frame): every variant's untrained frame, step 0,
    in the same places as the run's grid (``grid_panels``), so Start updates these tiles in
    place instead of mounting eight new charts (measured: ~1.8 s of a busy browser)."""
    code = lang()
    frames = [(label, preview_snapshot(to_json(cfg))) for cfg, label in zip(configs, labels)]
    st.caption(tr("cmp.legend.colors"))
    with st.container(key="cmp_tiles"):
        snaps = [s for _, s in frames]
        top = density_top(snaps) if snaps and snaps[0].dim == 1 else None
        _tile_grid(PREVIEW_ID, list(configs), frames, top, code)
    st.container(key="cmp_curves")
    st.container(key="cmp_summary")


def _tile_grid(run_id: str, configs: Sequence[RunConfig], frames: list, top: float | None,
               code: str) -> None:
    """The tiles of ``frames`` ((label, Snapshot) per variant), PER_ROW to a row."""
    cache = _grid_cache()
    per_row = min(PER_ROW, len(frames)) if present.is_on() else PER_ROW  # wide tiles on stage
    style = present.style()
    width = tile_width(per_row)
    names = [tile_label_lines(label, width, style) for label, _ in frames]
    for start in range(0, len(frames), per_row):
        cols = st.columns(per_row, gap="small")
        n_lines = max(len(n) for n in names[start:start + per_row])
        for j, (_, snap) in enumerate(frames[start:start + per_row]):
            i = start + j
            token = (run_id, i, id(snap), code, present.is_on(), present.screen(), top,
                     n_lines)
            hit = cache.get(("tile", i))
            if hit is None or hit[0] != token:
                hit = (token, _tile(i, names[i], n_lines, snap, configs[i], top, code, width),
                       snap)
                cache[("tile", i)] = hit
            with cols[j]:
                panel_chart(f"cmp_tile_{i}", hit[1], uirevision=run_id)


def legend_chips(labels: list[str]) -> None:
    chips = "".join(
        f"<span style='display:inline-block;margin:0 18px 4px 0;font-size:0.95rem;"
        f"color:{variant_text_color(i)}'>"
        f"<span style='display:inline-block;width:22px;height:4px;"
        f"background:{variant_color(i)};vertical-align:middle;margin-right:6px'></span>"
        f"{_html_escape(label)}</span>"
        for i, label in enumerate(labels))
    st.html(f"<div>{chips}</div>")


def _html_escape(text: str) -> str:
    import html

    return html.escape(text)


def variant_curves_view(run: Run, hist: dict, code: str, active: bool) -> None:
    """JS, W1 and gradient norm of every variant overlaid (redrawn together, at most every
    CURVE_REFRESH_S while training)."""
    cache = _grid_cache()
    labels = run.labels
    token = (run.id, code, present.is_on(),
             tuple(len(hist.get(lb, {}).get("step", ())) for lb in labels))
    hit = cache.get("curves")
    now = time.monotonic()
    fresh = hit is not None and (hit[0] == token or (
        active and hit[0][:3] == token[:3] and now - hit[2] < CURVE_REFRESH_S))
    if not fresh:
        titles = [tr("cmp.curve.js"), tr("cmp.curve.w1"), tr("cmp.curve.grad")]
        style = present.style()
        figs = report.variant_curve_figures(
            hist, labels, titles, code, style=style,
            **({"height": present.size("cmp_curve")} if style.present else {}))
        hit = (token, figs, now)
        cache["curves"] = hit
    st.subheader(tr("cmp.curves.title"))
    legend_chips(labels)
    for j, (col, fig) in enumerate(zip(st.columns(3, gap="small"), hit[1])):
        with col:
            panel_chart(f"cmp_curve_{j}", fig, uirevision=run.id)


def summary_view(df, threshold: float):
    """The summary as shown: translated headers, modes as "k / n", variant names coloured."""
    import pandas as pd

    no = tr("cmp.diverged.no")

    def modes(row) -> str:
        got, n = row["modes_covered"], row["n_modes"]
        return f"{got:.0f} / {n:.0f}" if np.isfinite(n) and np.isfinite(got) else "—"

    view = pd.DataFrame({
        tr("cmp.col.variant"): df["variant"],
        tr("cmp.col.final_js"): df["final_js"], tr("cmp.col.best_js"): df["best_js"],
        tr("cmp.col.final_w1"): df["final_w1"], tr("cmp.col.best_w1"): df["best_w1"],
        tr("cmp.col.modes"): [modes(r) for _, r in df.iterrows()],
        tr("cmp.col.steps_to_w1", t=f"{threshold:g}"): [
            "—" if v is None or pd.isna(v) else f"{int(v)}" for v in df["steps_to_w1"]],
        tr("cmp.col.diverged"): [no if v is None or pd.isna(v) else f"{int(v)}"
                                 for v in df["diverged_at"]],
        tr("cmp.col.rate"): df["iters_per_s"],
    }).replace([np.inf, -np.inf], np.nan)
    fmt = {c: "{:.4f}" for c in list(view.columns)[1:5]} | {view.columns[-1]: "{:,.0f}"}
    return view.style.format(fmt, na_rep="—").apply(
        lambda col: [f"color: {variant_text_color(i)}; font-weight: 600"
                     for i in range(len(col))],
        subset=[view.columns[0]])


def summary_table(run: Run, frames: list, hist: dict, threshold: float, code: str) -> None:
    """Rebuilt only when a variant logged a row (or the threshold / language changed)."""
    cache = _grid_cache()
    token = (run.id, code, threshold, tuple(len(h.get("step", ())) for h in hist.values()))
    hit = cache.get("summary")
    if hit is None or hit[0] != token:
        df = report.summary_from_histories(hist, run.configs, run.labels, threshold,
                                           steps=[snap.step for _, snap in frames])
        hit = (token, summary_view(df, threshold), bool(df["final_w1"].notna().any()))
        cache["summary"] = hit
    st.subheader(tr("cmp.summary.title"))
    st.caption(tr("cmp.summary.caption") if hit[2] else tr("cmp.summary.empty"))
    st.dataframe(hit[1], hide_index=True, width="stretch")


def grid_panels(run: Run, frames: list, hist: dict, active: bool, threshold: float) -> None:
    """A comparison's body in the live view: the replay scrubber (while not training), tiles of
    the chosen frame, overlaid curves and summary table of the whole run."""
    code = lang()
    shown = (_scrubber(run) if not active else None) or frames
    st.caption(tr("cmp.legend.colors"))
    with st.container(key="cmp_tiles"):
        tiles(run, shown, code, active)
    with st.container(key="cmp_curves"):
        variant_curves_view(run, hist, code, active)
    with st.container(key="cmp_summary"):
        summary_table(run, frames, hist, threshold, code)


def grid_exports(run: Run, threshold: float) -> None:
    """Downloads of a comparison's report (``report.comparison_files``); files are produced
    only when a button is clicked, from the data published at this rerun."""
    code = lang()
    holder = rs.session_runs()
    for message in holder.export_errors:
        st.error(tr("cmp.export.failed", message=message))
    holder.export_errors.clear()
    configs, labels = list(run.configs), list(run.labels)
    frames, hist = list(run.latest() or []), dict(run.history() or {})
    if not frames:
        return
    step = max(s.step for _, s in frames)
    base = ("compare", configs[0].target, f"seed{configs[0].seed}", f"step{step}")
    memo: dict = {}

    def figure() -> go.Figure:
        if "fig" not in memo:
            memo["fig"] = report.comparison_figure_from(frames, hist, configs, code)
        return memo["fig"]

    def image(fmt: str) -> bytes:
        try:
            return report.comparison_image(figure(), fmt)
        except export.ExportError as err:
            holder.export_errors.append(str(err))
            raise

    def files() -> dict:
        return report.comparison_files(frames, hist, configs, labels, threshold, code,
                                       fig=figure(), on_error=holder.export_errors.append)

    st.subheader(tr("cmp.export.title"))
    height = int(figure().layout.height or 0)
    st.caption(tr("cmp.export.caption", w=COMPARISON_WIDTH * report.PNG_SCALE,
                  h=height * report.PNG_SCALE))
    browser = export.find_browser() is not None
    img_help = (lambda k: tr(k)) if browser else (lambda k: tr("cmp.export.no_browser"))
    steps = [s.step for _, s in frames]
    buttons = (
        ("cmp_dl_png", "cmp.export.png", lambda: image("png"), "grid.png", "image/png",
         ":material/image:", not browser, img_help("cmp.export.png.help")),
        ("cmp_dl_svg", "cmp.export.svg", lambda: image("svg"), "grid.svg", "image/svg+xml",
         ":material/draw:", not browser, img_help("cmp.export.svg.help")),
        ("cmp_dl_html", "cmp.export.html", lambda: export.figure_html(figure(), offline=False),
         "grid.html", "text/html", ":material/html:", False, tr("cmp.export.html.help")),
        ("cmp_dl_html_offline", "cmp.export.html_offline", lambda: export.figure_html(figure()),
         "grid_offline.html", "text/html", ":material/html:", False,
         tr("cmp.export.html_offline.help")),
        ("cmp_dl_metrics", "cmp.export.metrics",
         lambda: report.long_metrics_from_histories(hist, labels), "metrics.csv", "text/csv",
         ":material/table:", False, tr("cmp.export.metrics.help")),
        ("cmp_dl_summary", "cmp.export.summary",
         lambda: report.summary_csv(hist, configs, labels, threshold, steps), "summary.csv",
         "text/csv", ":material/summarize:", False, tr("cmp.export.summary.help")),
        ("cmp_dl_config", "cmp.export.config",
         lambda: report.comparison_config_json(configs, labels), "config.json",
         "application/json", ":material/settings:", False, tr("cmp.export.config.help")),
        ("cmp_dl_zip", "cmp.export.zip", lambda: export.bundle_zip(files()), "report.zip",
         "application/zip", ":material/folder_zip:", False, tr("cmp.export.zip.help")),
    )
    cols = st.columns(4)
    for n, (key, text, data, name, mime, icon, disabled, help_text) in enumerate(buttons):
        cols[n % 4].download_button(
            tr(text), data, file_name=export.safe_filename(*base, name), mime=mime, key=key,
            on_click="ignore", icon=icon, width="stretch", disabled=disabled, help=help_text,
            type="primary" if key == "cmp_dl_zip" else "secondary")
    replay = run.frames()
    animation_row("compare", (run.id, step, len(replay), code), base[:3], len(replay),
                  lambda: animate.grid_animation(replay, hist, configs, lang=code))
