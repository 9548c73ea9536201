"""Drawing one run: controls, the live status line and figures, replay scrubber and exports.

The live part is ONE top-level ``st.fragment`` whose ``run_every`` is computed before it is
defined (0.1 s while the run trains or waits in line — slower when many runs are watched, see
``Scheduler.refresh_interval`` — else ``None``), as in Streamlit's start/stop tutorial.
It only reads what the training thread published (``Run.latest``/``frames``/
``history``), touches the run (heartbeat) and, when the run stops being active, reruns the whole
page once so the buttons and the refresh interval follow. Replay and export widgets are drawn
only while the run is not active, so nothing fights the auto-refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gandemo import animate, export, moves
from gandemo.config import RunConfig, to_json
from gandemo.figures import (
    STYLE,
    Style,
    divergence_curves,
    frame_panel,
    grad_norm_curves,
    loss_curves,
)
from gandemo.i18n import t
from gandemo.losses import LOSSES
from gandemo.runner import (
    DIVERGED,
    ERROR,
    FINISHED,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    Run,
    get_scheduler,
)
from gandemo.snapshot import Snapshot
from gandemo.targets import TARGETS
from gandemo.trainer import PLAYERS, Trainer

from . import present
from . import run_session as rs
from .common import labeler, lang, ordinal, tr
from .live_chart import live_chart

REFRESH_S = 0.1  # live refresh interval while a run is active (an unchanged chart costs ~0)
CURVE_REFRESH_S = 1.2  # history curves redraw at most this often while training (browser CPU)
FIGURE_KINDS = ("frame", "loss", "grad", "div")
STATE_ICONS = {
    "ready": ":gray[:material/radio_button_unchecked:]",
    RUNNING: ":green[:material/play_circle:]",
    QUEUED: ":orange[:material/hourglass_top:]",
    PAUSED: ":orange[:material/pause_circle:]",
    FINISHED: ":blue[:material/check_circle:]",
    DIVERGED: ":red[:material/error:]",
    STOPPED: ":gray[:material/stop_circle:]",
    ERROR: ":red[:material/report:]",
}
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


def distinct_frames(run: Run) -> list[Snapshot]:
    """Published frames, one per step (the last one published at that step)."""
    by_step: dict[int, Snapshot] = {}
    for snap in run.frames():
        by_step[snap.step] = snap
    return [by_step[s] for s in sorted(by_step)]


def build_figure(kind: str, cfg: RunConfig, snap: Snapshot | None, hist: dict, code: str,
                 style: Style = STYLE, previous: Snapshot | None = None):
    """One of the four panels as a complete, titled figure (the exports use this, in the
    normal style and sizes; presentation mode passes ``figures.PRESENT`` and its heights).
    ``previous``: the frame before a lone move, drawn faintly behind (frame panel only)."""
    if kind == "frame":
        loss = LOSSES[cfg.loss]
        fig = frame_panel(snap, d_label=loss.output_label, d_range=loss.output_range,
                          bounds=TARGETS[cfg.target].bounds, lang=code, style=style,
                          previous=previous)
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
                code: str, previous: Snapshot | None = None) -> tuple[str, go.Figure]:
    """The panel for the page: its title comes out of the figure (drawn above it by Streamlit,
    where it wraps), so the legend can sit right above the plot at any column width — inside
    the figure a legend that wraps onto more rows would run into the title."""
    fig = build_figure(kind, cfg, snap, hist, code, present.style(), previous)
    title = fig.layout.title.text or ""
    if kind == "div":  # full width: its legend stays on one or two rows under its own title
        return "", fig
    fig.update_layout(title_text="", margin_t=LIVE_TOP_MARGIN)
    fig.update_layout(height=fig.layout.height - TITLE_SPACE)
    if kind == "frame" and snap.dim == 2:
        # In a half-width column a horizontal colour bar titled at its side keeps little room
        # for the bar itself; with the title on top the bar gets the whole length.
        fig.update_traces(colorbar_title_side="top", selector={"type": "heatmap"})
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


def panel_chart(name: str, fig: go.Figure, uirevision: str | None = None) -> None:
    """``fig`` in panel ``name``: a live chart (key ``chart_<name>``) updated in place inside
    a container with key ``panel_<name>``; the user's zoom is kept while ``uirevision`` stays."""
    with st.container(key=f"panel_{name}", gap=None):
        live_chart(fig, key=f"chart_{name}", uirevision=uirevision)


buffered_chart = panel_chart  # the name pages/compare.py still uses


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


# --------------------------------------------------------------------------- controls


def controls(run: Run | None, cfg: RunConfig | None) -> None:
    """Start, Pause/Resume, Step, Step D, Step G, Reset (keys: start, pause, step, step_d,
    step_g, reset)."""
    active = rs.is_active(run)
    changed = rs.settings_changed(run, cfg)
    paused = run is not None and run.state == PAUSED
    run_id = run.id if run is not None else None
    start = rs.start_label(run, cfg)  # when paused, only Resume continues (and is primary)
    cols = st.columns(6)
    cols[0].button(
        tr(f"ui.controls.{start}"), key="start",
        icon=":material/replay:" if start == "start_again" else ":material/play_arrow:",
        type="secondary" if paused and not changed else "primary", width="stretch",
        disabled=cfg is None or (active and not changed),
        on_click=rs.on_start, args=(cfg, run_id), help=tr(f"ui.controls.{start}.help"),
    )
    cols[1].button(
        tr("ui.controls.resume") if paused else tr("ui.controls.pause"), key="pause",
        icon=":material/play_circle:" if paused else ":material/pause:", width="stretch",
        type="primary" if paused and not changed else "secondary",
        disabled=not (active or paused), on_click=rs.on_pause,
        args=(run_id, "resume" if paused else "pause"), help=tr("ui.controls.pause.help"),
    )
    cols[2].button(
        tr("ui.controls.step"), key="step", icon=":material/skip_next:", width="stretch",
        disabled=cfg is None or active, on_click=rs.on_step,
        args=(cfg, run_id, run.step if run is not None else 0), help=tr("ui.controls.step.help"),
    )
    for col, player in zip(cols[3:5], PLAYERS):  # one player alone (keys step_d, step_g)
        col.button(
            tr(f"ui.controls.step_{player}"), key=f"step_{player}", width="stretch",
            icon=":material/gavel:" if player == "d" else ":material/brush:",
            disabled=cfg is None or active, on_click=rs.on_move,
            args=(cfg, run_id, player, rs.move_mark(run)),
            help=tr(f"ui.controls.step_{player}.help"),
        )
    cols[5].button(
        tr("ui.controls.reset"), key="reset", icon=":material/restart_alt:", width="stretch",
        disabled=run is None, on_click=rs.on_reset, args=(run_id,),
        help=tr("ui.controls.reset.help"),
    )
    if changed:
        st.warning(tr("ui.controls.changed"), icon=":material/tune:")


# --------------------------------------------------------------------------- status


def status_line(run: Run | None, cfg: RunConfig | None) -> str:
    """``<icon> **state** · step N / TOTAL · R it/s`` (zh: ``进度 N / TOTAL 步``); the numbers
    ``N / TOTAL`` after "step" / "进度" are a contract (tests read them)."""
    if run is None:
        state, step, total = "ready", 0, cfg.steps if cfg else 0
    else:
        state, step, total = run.state, run.step, run.cfg.steps
    label = tr(f"ui.status.state.{state}")
    if state == QUEUED and run is not None:
        pos = get_scheduler().position(run)
        if pos:
            label = tr("ui.status.state.queued_pos", nth=ordinal(pos))
    rate = ""
    if state == RUNNING and run is not None and run.iters_per_s > 0:
        rate = " · " + tr("ui.status.rate", rate=f"{run.iters_per_s:,.0f}")
    return tr("ui.status.line", icon=STATE_ICONS.get(state, ""), state=label, step=step,
              total=total) + rate


def state_message(run: Run | None) -> None:
    """A box explaining states that need words: queued, diverged, stopped, error, auto-paused."""
    if run is None:
        st.info(tr("ui.status.box.ready"), icon=":material/info:")
        return
    limits = get_scheduler().limits
    if run.state == QUEUED:
        pos = get_scheduler().position(run) or 1
        st.info(tr("ui.status.box.queued", nth=ordinal(pos), max_running=limits.max_running),
                icon=":material/hourglass_top:")
    elif run.state == DIVERGED:
        step = run.trainer.diverged_at or run.step
        st.error(tr("ui.status.box.diverged", step=step), icon=":material/error:")
    elif run.state == ERROR:
        st.error(tr("ui.status.box.error", message=run.message), icon=":material/report:")
    elif run.state == STOPPED and "time limit" in run.message:
        st.warning(tr("ui.status.box.time_limit", seconds=limits.max_run_s),
                   icon=":material/timer_off:")
    elif run.state == PAUSED and "nobody was watching" in run.message:
        st.info(tr("ui.status.box.auto_paused"), icon=":material/visibility_off:")
    elif run.state == FINISHED:
        st.success(tr("ui.status.box.finished", steps=run.step), icon=":material/check_circle:")


# Measured (seed 0, default settings, 2000 steps): ring8 with k = 1 ends with 0-2 of 8 modes and
# JS ≈ ln 2, with k = 5 D steps per G step 8 modes at step 1000 and JS 0.69 → 0.27; grid25 covers
# 13 of 25 modes (JS ≈ 0.54) with k = 1 or 5: it needs far more steps than the default.
SLOW_TARGETS = {"ring8": {"d_steps": 5}, "grid25": None}  # target -> settings that converge


def target_note(cfg: RunConfig | None) -> None:
    """Before a run on a 2D target the defaults do not learn in their steps: say so, and offer
    the settings that do (one click puts them into the sidebar form)."""
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


def live_view(run: Run | None, cfg: RunConfig | None) -> None:
    """The auto-refreshing fragment: status, progress and the four panels."""
    every = get_scheduler().refresh_interval(REFRESH_S) if rs.is_active(run) else None

    @st.fragment(run_every=every)
    def live() -> None:
        current = rs.attached_run()  # heartbeat: touch() on every refresh
        if every is not None and not rs.is_active(current):
            st.rerun()  # finished / diverged / paused elsewhere: redraw buttons, stop polling
        _draw(current, cfg)

    live()


def _draw(run: Run | None, cfg: RunConfig | None) -> None:
    code = lang()
    show_cfg = run.cfg if run is not None else cfg
    with st.container(key="status_line"):
        st.markdown(status_line(run, cfg))
    if show_cfg is not None:
        step = run.step if run is not None else 0
        st.progress(min(1.0, step / max(show_cfg.steps, 1)))
    state_message(run)
    if run is None:
        target_note(show_cfg)
    if show_cfg is None:
        return
    replay = run is not None and not rs.is_active(run)
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

    def frame() -> None:
        before = move["before"] if move else None
        panel("frame", (run_id, look, snap.step, id(snap), id(before)),
              lambda: live_figure("frame", show_cfg, snap, hist, code, before))
        if move:  # the sentence under the plot: what the lone move did, with its numbers
            st.info(_md_escape(moves.sentence(move["summary"], code)),
                    icon=":material/swap_horiz:")
            st.caption(tr("moves.caption"))

    has_rows = len(hist.get("step", ())) > 0
    look = (code, present.is_on(), present.screen())  # a new look redraws every panel
    token = _curve_token((run_id, look, *_hist_token(hist)), rs.is_active(run))

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


def _scrubber(run: Run) -> Snapshot | None:
    """History scrubber over the published frames (only while the run is not training)."""
    frames = distinct_frames(run)
    if len(frames) < 2:
        return None
    last = len(frames) - 1
    index = st.select_slider(
        tr("ui.replay.label"), options=list(range(len(frames))), value=last,
        format_func=lambda i, code=lang(): t("ui.replay.step", code, step=frames[i].step),
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

    def figure() -> go.Figure:
        return build_figure(kind, cfg, snap, hist, code)

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
