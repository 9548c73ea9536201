"""Compare page: several variants (losses × discriminator strengths, or a classroom preset)
trained side by side on the same seed, streamed as a live grid, exported as a report.

Layout only. The engine (``gandemo.compare`` through ``Scheduler.create_comparison``) trains the
variants in a background worker; this page reads what the run published (``latest()`` =
[(label, Snapshot)], ``history()`` = {label: arrays}) inside ONE top-level auto-refreshing
fragment. Report files are built in the download callbacks (``gandemo.report``), from the data
shown, with the same ``figures.comparison_grid`` the CLI writes.

UI contract: buttons ``cmp_start`` / ``cmp_pause`` / ``cmp_reset``; the status line contains
``step N / TOTAL`` and the state; the run id lives in ``st.session_state["cmp_run_id"]`` and in
the URL as ``?cmp=<id>`` (a refresh re-attaches).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from gandemo import animate, export, lessons, report
from gandemo.compare import STRENGTHS, apply_strength
from gandemo.config import ConfigError, RunConfig, parse_value, query_value, show_value, to_dict
from gandemo.figures import COMPARISON_WIDTH, frame_panel, variant_color, variant_text_color
from gandemo.i18n import LANGUAGES, t
from gandemo.losses import LOSSES, get_loss
from gandemo.naming import variant_names
from gandemo.presets import PRESETS
from gandemo.runner import (
    ACTIVE_STATES,
    ERROR,
    FINISHED,
    MAX_VARIANTS,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    get_scheduler,
)
from gandemo.targets import TARGETS
from ui import panels, present
from ui import run_session as rs
from ui.common import labeler, lang, md_code, rewrite_url_params, tr, tr_or, url_params
from ui.config_form import error_text
from ui.lessons import lesson_checks

RUN_KEY = "cmp_run_id"  # st.session_state key of the session's comparison
RUN_PARAM = "cmp"  # URL query parameter
PRESET_KEY = "cmp_preset"
NOTICE_KEY = "_cmp_notices"
REFRESH_S = 0.5  # live refresh interval while the comparison trains or waits in line
CURVE_REFRESH_S = 2.0  # the overlaid curves redraw at most this often while training
# While training, the tiles are redrawn about TILES_PER_S tiles a second in all (every 1 s with
# 4 variants, 2 s with 8, 3 s with 12); in between, the unchanged figures are resent as cache
# references that the browser does not redraw. Redrawing 8+ charts every 0.5 s made a browser
# on a busy machine fall so far behind that Streamlit's send queue overflowed and it dropped
# the session (and with it the run).
TILES_PER_S = 4.0
TILE_GRID = 64  # D(x) heatmap cells per axis in a 2D tile
PER_ROW = 4
TILE_HEIGHT = {1: 330, 2: 360}
PNG_SCALE = 2  # the grid is laid out 1600 px wide: 3200 px in the PNG (print resolution)
DEFAULTS = {"cmp_target": "bimodal", "cmp_losses": ["minimax", "nonsaturating", "wgan-gp", "hinge"],
            "cmp_levels": ["balanced"], "cmp_seed": 0, "cmp_steps": 1500, "cmp_batch": 256,
            "cmp_w1": 0.2}
# Presets with several variants belong here (one click loads them all).
COMPARE_PRESETS = {name: p for name, p in PRESETS.items() if len(p.configs()) > 1}


def color(i: int) -> str:
    return variant_color(i)


def notices() -> list[tuple[str, str]]:
    return st.session_state.setdefault(NOTICE_KEY, [])


# --------------------------------------------------------------------------- the variants


def level_text(level: str, lr_g: float) -> str:
    """"weak: k = 1 · D width 16 · lr_D = 0.5 × lr_G = 0.0001" (the knobs a level sets)."""
    s = STRENGTHS[level]
    return tr("cmp.level.sets", level=tr_or(f"cmp.level.{level}", level), k=s["d_steps"],
              width=s["d_width"], ratio=f"{s['lr_ratio']:g}",
              lr_d=f"{min(1.0, lr_g * s['lr_ratio']):g}")


def _load_preset() -> None:
    """Preset chosen: its target, seed, steps and batch go into the widgets."""
    name = st.session_state.get(PRESET_KEY) or ""
    if name in COMPARE_PRESETS:
        base = COMPARE_PRESETS[name].config
        st.session_state.update(cmp_target=base.target, cmp_seed=base.seed,
                                cmp_steps=base.steps, cmp_batch=base.batch)
    st.session_state[NOTICE_KEY] = []


def _leave_preset() -> None:
    """Losses or strengths edited: back to the user's own grid."""
    st.session_state[PRESET_KEY] = ""


URL_NUMBERS = {"cmp_target": "target", "cmp_seed": "seed", "cmp_steps": "steps",
               "cmp_batch": "batch"}  # URL parameter -> the RunConfig setting it feeds


def url_label(key: str) -> str:
    """The widget label of a ``cmp_*`` parameter (the key itself for anything else)."""
    return tr_or(f"cmp.{key.removeprefix('cmp_')}.label", key)


def check_url() -> None:
    """Screen the ``cmp_*`` URL parameters before the bound widgets read them (call first):
    invalid values are removed and named, with what is allowed, in one message; valid ones are
    rewritten in the widgets' spelling (a strength level by key or by its label in any
    language becomes the label of the current language)."""
    lim = get_scheduler().limits
    caps = {"cmp_steps": lim.max_steps, "cmp_batch": lim.max_batch}
    params = url_params()
    errors: list[ConfigError] = []
    changes: dict[str, list[str] | None] = {}
    for key, name in URL_NUMBERS.items():
        if params.get(key):
            try:
                changes[key] = [query_value(parse_value(name, params[key][-1], caps.get(key)))]
            except ConfigError as err:
                errors.append(ConfigError(key, err.message))
                changes[key] = None
    level_label = labeler("cmp.level.")
    choices = {"cmp_losses": {n: n for n in LOSSES},
               "cmp_levels": {**{t(f"cmp.level.{n}", code): level_label(n)
                                 for n in STRENGTHS for code in LANGUAGES},
                              **{n: level_label(n) for n in STRENGTHS}}}
    for key, allowed in choices.items():
        given = [v for v in params.get(key, []) if v]
        bad = [v for v in given if v not in allowed]
        if bad:
            errors.append(ConfigError(key, (
                f"must be among {', '.join(dict.fromkeys(allowed.values()))}; got "
                f"{', '.join(show_value(v) for v in bad[:3])}{' …' if len(bad) > 3 else ''}")))
        if given:
            changes[key] = list(dict.fromkeys(allowed[v] for v in given if v in allowed)) or None
    rewrite_url_params({k: v for k, v in changes.items() if v != params.get(k)})
    if errors:
        text = error_text(ConfigError.join(errors), "url", label_of=url_label)
        if ("error", text) not in notices():
            notices().append(("error", text))


def sidebar_form() -> dict:
    """The comparison's widgets (in the sidebar); returns their values."""
    lim = get_scheduler().limits
    st.header(tr("cmp.sidebar.title"), divider="gray")
    presets = ["", *COMPARE_PRESETS]
    if st.session_state.get(PRESET_KEY) not in presets:
        st.session_state[PRESET_KEY] = ""
    preset = st.selectbox(
        tr("cmp.preset.label"), presets, key=PRESET_KEY, on_change=_load_preset,
        format_func=lambda n: (tr_or(f"preset.{n}.title", COMPARE_PRESETS[n].title) if n
                               else tr("cmp.preset.none")), help=tr("cmp.preset.help"))
    if preset:
        explain = tr_or(f"preset.{preset}.explain", "")
        if explain:
            st.info(explain, icon=":material/school:")
        st.caption(tr("cmp.preset.loaded", n=len(COMPARE_PRESETS[preset].configs())))
    targets = list(TARGETS)
    values = {"preset": preset}
    values["cmp_target"] = st.selectbox(
        tr("cmp.target.label"), targets, index=targets.index(DEFAULTS["cmp_target"]),
        key="cmp_target", help=tr("cmp.target.help"), bind="query-params")
    values["cmp_losses"] = st.multiselect(
        tr("cmp.losses.label"), list(LOSSES), default=DEFAULTS["cmp_losses"], key="cmp_losses",
        on_change=_leave_preset, help=tr("cmp.losses.help"), bind="query-params")
    values["cmp_levels"] = st.multiselect(
        tr("cmp.levels.label"), list(STRENGTHS), default=DEFAULTS["cmp_levels"],
        key="cmp_levels", on_change=_leave_preset, format_func=labeler("cmp.level."),
        help=tr("cmp.levels.help"), bind="query-params")
    lr_g = RunConfig().lr_g
    with st.container(key="cmp_ladder"):
        st.markdown("  \n".join(level_text(level, lr_g) for level in STRENGTHS))
    cols = st.columns(3)
    for col, (name, lo, hi, step) in zip(cols, (("seed", 0, 2**31 - 1, 1),
                                                ("steps", 1, lim.max_steps, 100),
                                                ("batch", 8, lim.max_batch, 32))):
        key = f"cmp_{name}"
        values[key] = col.number_input(tr(f"cmp.{name}.label"), lo, hi, DEFAULTS[key], step=step,
                                       key=key, help=tr(f"cmp.{name}.help"), bind="query-params")
    return values


def build_configs(v: dict) -> tuple[list[RunConfig], str | None]:
    """The variants of the widgets (preset variants, or losses × levels) and an error text."""
    common = {"target": v["cmp_target"], "seed": int(v["cmp_seed"]),
              "steps": int(v["cmp_steps"]), "batch": int(v["cmp_batch"])}
    try:
        if v["preset"]:
            configs = [c.with_(**common) for c in COMPARE_PRESETS[v["preset"]].configs()]
        else:
            losses, levels = v["cmp_losses"], v["cmp_levels"]
            n = len(losses) * len(levels)
            if n == 0:
                return [], tr("cmp.error.none")
            if n > MAX_VARIANTS:
                return [], tr("cmp.error.too_many", n=n, max=MAX_VARIANTS)
            base = RunConfig(**common)
            configs = [apply_strength(base.with_(loss=loss), level)
                       for loss in losses for level in levels]
        for cfg in configs:
            get_scheduler().limits.check(cfg)
    except ConfigError as err:
        return [], config_error_text(err)
    return configs, None


def config_error_text(err: ConfigError) -> str:
    """``cmp.error.config`` naming the (first) setting; names and values as code spans."""
    return tr("cmp.error.config", setting=tr_or(f"field.{err.name}.label", err.name),
              name=md_code(err.name), detail=md_code(str(err)))


def variants_table(configs: list[RunConfig], labels: list[str]) -> pd.DataFrame:
    dicts = [to_dict(c) for c in configs]
    shown = {"target", "seed", "steps", "batch", "loss", "d_steps", "d_width", "lr_g", "lr_d"}
    rows = []
    varying = [k for k in dicts[0] if k not in shown and any(d[k] != dicts[0][k] for d in dicts)]
    for label, cfg, d in zip(labels, configs, dicts):
        extra = ", ".join(f"{k}={d[k]}" for k in varying)
        rows.append({tr("cmp.variants.col.label"): label, tr("cmp.variants.col.loss"): cfg.loss,
                     tr("cmp.variants.col.k"): cfg.d_steps,
                     tr("cmp.variants.col.d_width"): cfg.d_width,
                     tr("cmp.variants.col.lr_g"): f"{cfg.lr_g:g}",
                     tr("cmp.variants.col.lr_d"): f"{cfg.lr_d:g}",
                     tr("cmp.variants.col.extra"): extra})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the run


def current_run():
    """The session's comparison, re-attaching from ``?cmp=`` after a refresh."""
    sched = get_scheduler()
    run_id = st.session_state.get(RUN_KEY) or st.query_params.get(RUN_PARAM)
    run = sched.get(run_id)
    return rs.sync_attached(run if hasattr(run, "comparison") else None, RUN_KEY, RUN_PARAM)


def _drop() -> None:
    sched = get_scheduler()
    run = sched.get(st.session_state.pop(RUN_KEY, None))
    if run is not None:
        sched.remove(run)
        rs.session_runs().discard(run.id)
    if RUN_PARAM in st.query_params:
        del st.query_params[RUN_PARAM]


def variant_titles(configs: list[RunConfig]) -> list[str]:
    """Short names in the page's language: the loaded preset's own, else what differs."""
    preset = COMPARE_PRESETS.get(st.session_state.get(PRESET_KEY) or "")
    names = preset.names if preset is not None and len(preset.names) == len(configs) else None
    return variant_names(configs, lang(), names)


def on_start(configs: list[RunConfig]) -> None:
    """Start / Start again / Restart: a NEW comparison of these variants from step 0 (the old
    one is removed), unless it is already training them. Resume alone continues."""
    st.session_state[NOTICE_KEY] = []
    sched = get_scheduler()
    run = sched.get(st.session_state.get(RUN_KEY))
    if run is not None and run.comparison.configs == configs and run.state in ACTIVE_STATES:
        return
    _drop()
    try:
        run = sched.create_comparison(configs, labels=variant_titles(configs))
    except ConfigError as err:
        notices().append(("error", config_error_text(err)))
        return
    st.session_state[RUN_KEY] = run.id
    st.query_params[RUN_PARAM] = run.id
    rs.session_runs().add(run.id)
    sched.start(run)


def on_pause() -> None:
    sched = get_scheduler()
    run = sched.get(st.session_state.get(RUN_KEY))
    if run is None:
        return
    if run.state in ACTIVE_STATES:
        sched.pause(run)
    elif run.state == PAUSED:
        sched.start(run)


def on_reset() -> None:
    st.session_state[NOTICE_KEY] = []
    _drop()


def controls(run, configs: list[RunConfig], error: str | None) -> None:
    active = run is not None and run.state in ACTIVE_STATES
    paused = run is not None and run.state == PAUSED
    changed = run is not None and bool(configs) and run.comparison.configs != configs
    start = "restart" if changed else "start_again" if run is not None and not active else "start"
    cols = st.columns(3)
    cols[0].button(
        tr(f"cmp.controls.{start}"), key="cmp_start",
        icon=":material/replay:" if start == "start_again" else ":material/play_arrow:",
        type="secondary" if paused and not changed else "primary", width="stretch",
        disabled=bool(error) or not configs or (active and not changed),
        on_click=on_start, args=(configs,), help=tr(f"cmp.controls.{start}.help"))
    cols[1].button(
        tr("cmp.controls.resume") if paused else tr("cmp.controls.pause"), key="cmp_pause",
        icon=":material/play_circle:" if paused else ":material/pause:", width="stretch",
        type="primary" if paused and not changed else "secondary",
        disabled=not (active or paused), on_click=on_pause, help=tr("cmp.controls.pause.help"))
    cols[2].button(
        tr("cmp.controls.reset"), key="cmp_reset", icon=":material/restart_alt:",
        width="stretch", disabled=run is None, on_click=on_reset,
        help=tr("cmp.controls.reset.help"))
    if changed:
        st.warning(tr("cmp.controls.changed"), icon=":material/tune:")


# --------------------------------------------------------------------------- live view


def status_line(run, configs: list[RunConfig]) -> str:
    """``<icon> **state** · step N / TOTAL`` (zh: ``进度 N / TOTAL 步``; + it/s while running);
    ``N / TOTAL`` after "step" / "进度" is a contract (tests and screenshots read it)."""
    if run is None:
        state, step = "ready", 0
        total = max((c.steps for c in configs), default=0)
    else:
        state, step = run.state, run.step
        total = max(c.steps for c in run.comparison.configs)
    line = tr("cmp.status.line", icon=panels.STATE_ICONS.get(state, ""),
              state=tr(f"cmp.state.{state}"), step=step, total=total)
    if state == RUNNING and run.iters_per_s > 0:
        line += " · " + tr("cmp.status.rate", rate=f"{run.iters_per_s:,.0f}")
    return line


def state_box(run) -> None:
    if run is None:
        st.info(tr("cmp.box.ready"), icon=":material/info:")
    elif run.state == QUEUED:
        st.info(tr("cmp.box.queued", pos=get_scheduler().position(run) or 1),
                icon=":material/hourglass_top:")
    elif run.state == ERROR:
        st.error(tr("cmp.box.error", message=run.message), icon=":material/report:")
    elif run.state == STOPPED:
        st.warning(tr("cmp.box.stopped", message=run.message), icon=":material/timer_off:")
    elif run.state == PAUSED and "nobody was watching" in run.message:
        st.info(tr("cmp.box.auto_paused"), icon=":material/visibility_off:")
    elif run.state == FINISHED:
        st.success(tr("cmp.box.finished"), icon=":material/check_circle:")


def _tile(i: int, label: str, snap, cfg: RunConfig, top: float, code: str):
    loss = get_loss(cfg.loss)
    style = present.style()
    fig = frame_panel(snap, d_label=loss.output_label, d_range=loss.output_range,
                      bounds=TARGETS[cfg.target].bounds, density_max=top, lang=code,
                      style=style)
    grow = style.tick - 14  # larger ticks need wider margins
    fig.update_layout(
        height=present.size(f"tile_{snap.dim}d") if style.present else TILE_HEIGHT[snap.dim],
        showlegend=False,
        title={"text": tr("cmp.tile.title", label=label, step=snap.step),
               "font": {"color": variant_text_color(i), "size": style.panel_title}},
        margin={"t": 30 + style.panel_title, "l": 56 + 3 * grow,
                "r": 56 + 3 * grow if snap.dim == 1 else 16, "b": 48 + 2 * grow})
    # Eight tiles refresh together: send float32 (half the bytes of Plotly's float64 arrays)
    # and at most TILE_GRID² D(x) cells per tile, so the page's websocket keeps up.
    for trace in fig.data:
        if trace.type == "heatmap":
            z = np.asarray(trace.z, dtype=float)
            k = max(1, int(np.ceil(max(z.shape) / TILE_GRID)))
            trace.update(z=z[::k, ::k].astype(np.float32), x=np.asarray(trace.x)[::k],
                         y=np.asarray(trace.y)[::k], showscale=False)
        elif trace.type == "scatter" and trace.x is not None and trace.y is not None:
            trace.update(x=np.asarray(trace.x, dtype=np.float32),
                         y=np.asarray(trace.y, dtype=np.float32))
    return fig


def _figure_cache() -> dict:
    return st.session_state.setdefault("_cmp_figs", {})


def tiles(run, frames, configs: list[RunConfig], code: str, active: bool) -> None:
    cache = _figure_cache()
    now = time.monotonic()
    built = cache.get("tiles_at")
    if (active and built is not None and built[0] == (run.id, code, len(frames))
            and now - built[1] < max(1.0, len(frames) / TILES_PER_S)):
        frames = [(label, cache[("tile", i)][2]) for i, (label, _) in enumerate(frames)]
    else:
        cache["tiles_at"] = ((run.id, code, len(frames)), now)
    dim = frames[0][1].dim
    top = None
    if dim == 1:  # identical axes: one density scale for every tile
        peaks = [float(np.nanmax(np.asarray(s.p_r, dtype=float), initial=0.0)) for _, s in frames]
        top = 1.6 * max(peaks) if max(peaks) > 0 else 1.0
    per_row = min(PER_ROW, len(frames)) if present.is_on() else PER_ROW  # wide tiles on stage
    for start in range(0, len(frames), per_row):
        cols = st.columns(per_row, gap="small")
        for j, (label, snap) in enumerate(frames[start:start + per_row]):
            i = start + j
            token = (run.id, i, id(snap), code)
            hit = cache.get(("tile", i))
            if hit is None or hit[0] != token:
                hit = (token, _tile(i, label, snap, configs[i], top, code), snap)
                cache[("tile", i)] = hit
            with cols[j]:
                panels.buffered_chart(f"cmp_tile_{i}", hit[1])


def legend_chips(labels: list[str]) -> None:
    chips = "".join(
        f"<span style='display:inline-block;margin:0 18px 4px 0;font-size:0.95rem;"
        f"color:{variant_text_color(i)}'>"
        f"<span style='display:inline-block;width:22px;height:4px;background:{color(i)};"
        f"vertical-align:middle;margin-right:6px'></span>{label}</span>"
        for i, label in enumerate(labels))
    st.html(f"<div>{chips}</div>")


def curves(run, labels: list[str], hist: dict, code: str, active: bool) -> None:
    cache = _figure_cache()
    token = (run.id, code, tuple(len(hist.get(lb, {}).get("step", ())) for lb in labels))
    hit = cache.get("curves")
    now = time.monotonic()
    fresh = hit is not None and (hit[0] == token or (
        active and hit[0][:2] == token[:2] and now - hit[2] < CURVE_REFRESH_S))
    if not fresh:
        titles = [tr("cmp.curve.js"), tr("cmp.curve.w1"), tr("cmp.curve.grad")]
        style = present.style()
        figs = report.variant_curve_figures(
            hist, labels, titles, code, style=style,
            **({"height": present.size("cmp_curve")} if style.present else {}))
        for fig in figs:  # float32: half the bytes of Plotly's float64 arrays
            for trace in fig.data:
                trace.update(x=np.asarray(trace.x, dtype=np.float32),
                             y=np.asarray(trace.y, dtype=np.float32))
        hit = (token, figs, now)
        cache["curves"] = hit
    st.subheader(tr("cmp.curves.title"))
    legend_chips(labels)
    cols = st.columns(3, gap="small")
    for j, fig in enumerate(hit[1]):
        with cols[j]:
            panels.buffered_chart(f"cmp_curve_{j}", fig)


def summary_frame(run, frames, hist: dict, threshold: float) -> pd.DataFrame:
    configs = run.comparison.configs
    labels = run.labels
    steps = [snap.step for _, snap in frames]
    return report.summary_from_histories(hist, configs, labels, threshold, steps=steps)


def summary_view(df: pd.DataFrame, threshold: float):
    """The summary as shown: translated headers, modes as "k / n", variant names coloured."""
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


def summary_table(run, frames, hist: dict, threshold: float, code: str) -> None:
    """Rebuilt only when a variant logged a row (or the threshold / language changed)."""
    cache = _figure_cache()
    token = (run.id, code, threshold, tuple(s.step for _, s in frames),
             tuple(len(h.get("step", ())) for h in hist.values()))
    hit = cache.get("summary")
    if hit is None or hit[0][:3] != token[:3] or hit[0][4] != token[4]:
        df = summary_frame(run, frames, hist, threshold)
        hit = (token, summary_view(df, threshold), bool(df["final_w1"].notna().any()))
        cache["summary"] = hit
    st.subheader(tr("cmp.summary.title"))
    st.caption(tr("cmp.summary.caption") if hit[2] else tr("cmp.summary.empty"))
    st.dataframe(hit[1], hide_index=True, width="stretch")


def live_view(run, configs: list[RunConfig]) -> None:
    """ONE top-level fragment, refreshing while the comparison trains or waits in line."""
    active = run is not None and run.state in ACTIVE_STATES
    every = get_scheduler().refresh_interval(REFRESH_S) if active else None

    @st.fragment(run_every=every)
    def live() -> None:
        current = get_scheduler().get(st.session_state.get(RUN_KEY))
        if current is not None:
            current.touch()  # heartbeat: somebody is watching
        if every is not None and (current is None or current.state not in ACTIVE_STATES):
            st.rerun()  # finished / paused / gone: redraw buttons and exports, stop polling
        draw(current, configs, every is not None)

    live()


def draw(run, configs: list[RunConfig], active: bool) -> None:
    code = lang()
    with st.container(key="cmp_status"):
        st.markdown(status_line(run, configs))
    if run is not None:
        total = max(c.steps for c in run.comparison.configs)
        st.progress(min(1.0, run.step / max(total, 1)))
    with st.container():  # one slot whatever the state: later elements keep their place
        state_box(run)
    if run is None:
        return
    frames = run.latest() or []
    hist = run.history() or {}
    if not frames:
        return
    preset = st.session_state.get(PRESET_KEY) or ""
    if preset in PRESETS and lessons.matches(preset, run.comparison.configs):
        lesson_checks(preset, hist, code, finished=run.state == FINISHED)
    st.caption(tr("cmp.legend.colors"))
    with st.container(key="cmp_tiles"):
        tiles(run, frames, run.comparison.configs, code, active)
    with st.container(key="cmp_curves"):
        curves(run, run.labels, hist, code, active)
    threshold = float(st.session_state.get("cmp_w1", DEFAULTS["cmp_w1"]))
    with st.container(key="cmp_summary"):
        summary_table(run, frames, hist, threshold, code)


# --------------------------------------------------------------------------- export


def export_section(run) -> None:
    """Downloads of the report; files are produced only when a button is clicked (callable
    ``data``, run by Streamlit on its own thread), from the data published at this rerun."""
    code = lang()
    holder = rs.session_runs()
    for message in holder.export_errors:
        st.error(tr("cmp.export.failed", message=message))
    holder.export_errors.clear()
    configs = list(run.comparison.configs)
    labels = list(run.labels)
    frames = list(run.latest() or [])
    hist = dict(run.history() or {})
    if not frames:
        return
    step = max(s.step for _, s in frames)
    threshold = float(st.session_state.get("cmp_w1", DEFAULTS["cmp_w1"]))
    base = ("compare", configs[0].target, f"seed{configs[0].seed}", f"step{step}")
    memo: dict = {}

    def figure():
        if "fig" not in memo:
            memo["fig"] = report.comparison_figure_from(frames, hist, configs, code)
        return memo["fig"]

    def image(fmt: str) -> bytes:
        try:
            if fmt == "png":
                return export.figure_png(figure(), width=COMPARISON_WIDTH, scale=PNG_SCALE)
            return export.figure_svg(figure(), width=COMPARISON_WIDTH)
        except export.ExportError as err:
            holder.export_errors.append(str(err))
            raise

    def metrics_csv() -> str:
        return report.long_metrics_from_histories(hist, labels)

    def summary_csv() -> str:
        df = report.summary_from_histories(hist, configs, labels, threshold,
                                           steps=[s.step for _, s in frames])
        return df.to_csv(index=False, lineterminator="\n")

    def config_json() -> str:
        return report.comparison_config_json(configs, labels)

    def bundle() -> bytes:
        files: dict[str, bytes | str] = {}
        if export.find_browser() is not None:
            for fmt in ("png", "svg"):
                try:
                    files[f"figure.{fmt}"] = image(fmt)
                except export.ExportError:
                    pass
        files["figure.html"] = export.figure_html(figure(), offline=False)
        files["metrics.csv"] = metrics_csv()
        files["summary.csv"] = summary_csv()
        files["config.json"] = config_json()
        return export.bundle_zip(files)

    st.subheader(tr("cmp.export.title"))
    height = int(figure().layout.height or 0)
    st.caption(tr("cmp.export.caption", w=COMPARISON_WIDTH * PNG_SCALE, h=height * PNG_SCALE))
    browser = export.find_browser() is not None
    img_help = (lambda k: tr(k)) if browser else (lambda k: tr("cmp.export.no_browser"))
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
        ("cmp_dl_metrics", "cmp.export.metrics", metrics_csv, "metrics.csv", "text/csv",
         ":material/table:", False, tr("cmp.export.metrics.help")),
        ("cmp_dl_summary", "cmp.export.summary", summary_csv, "summary.csv", "text/csv",
         ":material/summarize:", False, tr("cmp.export.summary.help")),
        ("cmp_dl_config", "cmp.export.config", config_json, "config.json", "application/json",
         ":material/settings:", False, tr("cmp.export.config.help")),
        ("cmp_dl_zip", "cmp.export.zip", bundle, "report.zip", "application/zip",
         ":material/folder_zip:", False, tr("cmp.export.zip.help")),
    )
    cols = st.columns(4)
    for n, (key, text, data, name, mime, icon, disabled, help_text) in enumerate(buttons):
        cols[n % 4].download_button(
            tr(text), data, file_name=export.safe_filename(*base, name), mime=mime, key=key,
            on_click="ignore", icon=icon, width="stretch", disabled=disabled, help=help_text,
            type="primary" if key == "cmp_dl_zip" else "secondary")
    replay = run.frames()
    panels.animation_row("compare", (run.id, step, len(replay), code), base[:3], len(replay),
                         lambda: animate.grid_animation(replay, hist, configs, lang=code))


# --------------------------------------------------------------------------- the page

check_url()  # before the bound widgets read (or crash on) a value from the link
panels.page_style()
with st.sidebar:
    values = sidebar_form()
configs, error = build_configs(values)
labels = variant_titles(configs) if configs else []
run = current_run()

st.title(tr("cmp.title"))
if not present.is_on():  # presentation mode keeps the screen for the plots
    st.caption(tr("cmp.subtitle"))
for kind, text in notices():
    getattr(st, kind)(text)
if error:
    st.error(error, icon=":material/error:")
elif configs:
    with st.expander(tr("cmp.variants.title", n=len(configs)),
                     expanded=run is None and not present.is_on()):
        st.dataframe(variants_table(configs, labels), hide_index=True, width="stretch")
with present.stage(values["preset"]):  # the preset's explanation beside the plots
    controls(run, configs, error)
    live_view(run, configs)
st.number_input(tr("cmp.summary.threshold"), 0.0, 100.0, DEFAULTS["cmp_w1"], step=0.05,
                format="%g", key="cmp_w1", help=tr("cmp.summary.threshold.help"))
if run is not None and run.state not in ACTIVE_STATES:
    export_section(run)
elif run is not None:
    st.caption(tr("cmp.export.pause_first"))
