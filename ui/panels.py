"""Drawing one run: controls, the live status line and figures, replay scrubber and exports.

The live part is ONE top-level ``st.fragment`` whose ``run_every`` is computed before it is
defined (0.4 s while the run trains or waits in line, else ``None``), as in Streamlit's start/stop
tutorial. It only reads what the training thread published (``Run.latest``/``frames``/
``history``), touches the run (heartbeat) and, when the run stops being active, reruns the whole
page once so the buttons and the refresh interval follow. Replay and export widgets are drawn
only while the run is not active, so nothing fights the auto-refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gandemo import export
from gandemo.config import RunConfig, to_json
from gandemo.figures import (
    PLOTLY_CONFIG,
    divergence_curves,
    frame_panel,
    grad_norm_curves,
    loss_curves,
)
from gandemo.losses import LOSSES
from gandemo.runner import (
    ACTIVE_STATES,
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
from gandemo.trainer import Trainer

from . import run_session as rs
from .common import lang, ordinal, tr

REFRESH_S = 0.4  # live refresh interval while a run is active
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
FRAME_HEIGHT = {1: 560, 2: 640}  # px: about the loss + gradient column beside it
CURVE_HEIGHT = 300
EXPORT_WIDTH = {1: 1200, 2: 900}  # px before the PNG scale


# A live panel is redrawn in place several times a second; on a busy server a redraw can take
# longer than Streamlit's "stale" delay, and the default fade (opacity 0.33) would make the
# charts flicker between grey and colour. Keep the main area opaque while it refreshes.
PAGE_CSS = """<style>
section.stMain [data-stale="true"] { opacity: 1 !important; transition: none !important; }
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


def build_figure(kind: str, cfg: RunConfig, snap: Snapshot | None, hist: dict, code: str):
    """One of the four panels, exactly as shown (also used for the exports)."""
    if kind == "frame":
        loss = LOSSES[cfg.loss]
        fig = frame_panel(snap, d_label=loss.output_label, d_range=loss.output_range,
                          bounds=TARGETS[cfg.target].bounds, lang=code)
        fig.update_layout(height=FRAME_HEIGHT[snap.dim])
        return fig
    fig = {"loss": loss_curves, "grad": grad_norm_curves, "div": divergence_curves}[kind](
        hist, lang=code)
    if kind != "div":
        fig.update_layout(height=CURVE_HEIGHT)
    return fig


def _cached_figure(kind: str, token: tuple, make: Callable[[], go.Figure]) -> go.Figure:
    """Rebuild a figure only when what it shows changed (queued or slow runs redraw nothing)."""
    cache = st.session_state.setdefault("_figure_cache", {})
    hit = cache.get(kind)
    if hit is not None and hit[0] == token:
        return hit[1]
    fig = make()
    cache[kind] = (token, fig)
    return fig


def _hist_token(hist: dict) -> tuple:
    steps = hist.get("step", np.zeros(0))
    return len(steps), float(steps[-1]) if len(steps) else -1.0


# --------------------------------------------------------------------------- controls


def controls(run: Run | None, cfg: RunConfig | None) -> None:
    """Start, Pause/Resume, Step, Reset (keys: start, pause, step, reset)."""
    active = rs.is_active(run)
    changed = rs.settings_changed(run, cfg)
    paused = run is not None and run.state == PAUSED
    cols = st.columns(4)
    cols[0].button(
        tr("ui.controls.restart") if changed else tr("ui.controls.start"), key="start",
        icon=":material/play_arrow:", type="primary", width="stretch",
        disabled=cfg is None or (active and not changed),
        on_click=rs.on_start, args=(cfg,), help=tr("ui.controls.start.help"),
    )
    cols[1].button(
        tr("ui.controls.resume") if paused else tr("ui.controls.pause"), key="pause",
        icon=":material/play_circle:" if paused else ":material/pause:", width="stretch",
        disabled=not (active or paused), on_click=rs.on_pause, help=tr("ui.controls.pause.help"),
    )
    cols[2].button(
        tr("ui.controls.step"), key="step", icon=":material/skip_next:", width="stretch",
        disabled=cfg is None or active, on_click=rs.on_step, args=(cfg,),
        help=tr("ui.controls.step.help"),
    )
    cols[3].button(
        tr("ui.controls.reset"), key="reset", icon=":material/restart_alt:", width="stretch",
        disabled=run is None, on_click=rs.on_reset, help=tr("ui.controls.reset.help"),
    )
    if changed:
        st.warning(tr("ui.controls.changed"), icon=":material/tune:")


# --------------------------------------------------------------------------- status


def status_line(run: Run | None, cfg: RunConfig | None) -> str:
    """``<icon> **state** · step N / TOTAL · R it/s`` (the ``step N / TOTAL`` part is a contract)."""
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


# --------------------------------------------------------------------------- the live view


def live_view(run: Run | None, cfg: RunConfig | None) -> None:
    """The auto-refreshing fragment: status, progress and the four panels."""
    every = REFRESH_S if rs.is_active(run) else None

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
    st.markdown(status_line(run, cfg))
    if show_cfg is not None:
        step = run.step if run is not None else 0
        st.progress(min(1.0, step / max(show_cfg.steps, 1)))
    state_message(run)
    if show_cfg is None:
        return
    replay = run is not None and not rs.is_active(run)
    if run is None:
        snap = preview_snapshot(to_json(show_cfg))
        hist: dict[str, Any] = {}
    else:
        snap = run.latest()
        hist = run.history()
    left, right = st.columns([1.2, 1], gap="medium")
    with left:
        if replay:
            snap = _scrubber(run) or snap
        run_id = run.id if run is not None else "preview"
        fig = _cached_figure("frame", (run_id, snap.step, id(snap), code),
                             lambda: build_figure("frame", show_cfg, snap, hist, code))
        st.plotly_chart(fig, config=PLOTLY_CONFIG, key="panel_frame", theme=None)
    has_rows = len(hist.get("step", ())) > 0
    token = (run.id if run is not None else "preview", *_hist_token(hist), code)
    with right:
        if not has_rows:
            st.info(tr("ui.panels.no_curves"), icon=":material/show_chart:")
        else:
            for kind in ("loss", "grad"):
                fig = _cached_figure(kind, token, lambda k=kind: build_figure(
                    k, show_cfg, snap, hist, code))
                st.plotly_chart(fig, config=PLOTLY_CONFIG, key=f"panel_{kind}", theme=None)
    if has_rows:
        fig = _cached_figure("div", token, lambda: build_figure("div", show_cfg, snap, hist,
                                                                code))
        st.plotly_chart(fig, config=PLOTLY_CONFIG, key="panel_div", theme=None)
    if run is not None and replay:
        export_row(run, snap, hist)
    elif run is not None:
        st.caption(tr("ui.export.pause_first"))


def _scrubber(run: Run) -> Snapshot | None:
    """History scrubber over the published frames (only while the run is not training)."""
    frames = distinct_frames(run)
    if len(frames) < 2:
        return None
    last = len(frames) - 1
    index = st.select_slider(
        tr("ui.replay.label"), options=list(range(len(frames))), value=last,
        format_func=lambda i: tr("ui.replay.step", step=frames[i].step),
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
    cols = st.columns([2, 1, 1, 1, 1], vertical_alignment="bottom")
    kind = cols[0].selectbox(tr("ui.export.figure"), FIGURE_KINDS, key="export_figure",
                             format_func=lambda k: tr(f"ui.export.kind.{k}"))
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
        disabled=not browser, help=tr("ui.export.png.help") if browser else tr("ui.export.no_browser"),
    )
    cols[2].download_button(
        "HTML", lambda: export.figure_html(figure()),
        file_name=export.safe_filename(*base, f"{kind}.html"), mime="text/html", key="dl_html",
        on_click="ignore", icon=":material/html:", width="stretch", help=tr("ui.export.html.help"),
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
