"""Sidebar widgets <-> ``RunConfig``: one generic widget per field of ``config.field_specs()``.

Every widget has ``key=<field name>`` and ``bind="query-params"``, so the URL always holds the
settings that differ from the defaults and opening such a link restores them. Ranges come from
the field specs (capped by the server's ``Limits``), labels and one-line help from the locale
files (``field.<name>.label`` / ``field.<name>.help``).

Config values that did not come from the widgets — a hand-edited URL, an uploaded config.json —
are read with ``config.parse_settings`` (every invalid setting collected, the valid ones kept)
and ``Limits.check``; the errors become one message that names each setting and what is
allowed, shown with ``st.error`` (never a crash). URL values are screened before the bound
widgets read them (``check_query_params``); user text in a message is Markdown-escaped.

Picking a target moves the settings still at the previous target's starting values to the new
target's (``config.target_defaults``, e.g. ring8's faster D); a setting the user changed stays.

Target ``custom`` trains on the user's own points (``data_panel``): a CSV upload or points drawn
on a Plotly chart (click adds one, a box or lasso selection fills a region), kept per session;
the URL carries them as ``data=`` (``userdata.to_link``: small sets in full).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gandemo.config import (
    ConfigError,
    RunConfig,
    field_specs,
    load_json,
    parse_settings,
    query_value,
    target_defaults,
)
from gandemo.losses import LOSSES, get_loss
from gandemo.presets import PRESETS
from gandemo.runner import Limits, get_scheduler
from gandemo.targets import CUSTOM, TARGETS, custom_target, is_custom
from gandemo.userdata import (
    LINK_POINTS,
    MAX_ABS,
    MAX_BYTES,
    MAX_POINTS,
    as_rows,
    parse_points,
    to_link,
)

from .common import labeler, md_code, rewrite_url_params, tr, tr_or, url_params

# Sidebar layout: (group key or None for the always-visible block, fields); groups become
# expanders. A RunConfig field missing here still gets a widget, in the last group.
GROUPS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, ("target", "loss", "d_steps", "lr_g", "lr_d", "steps", "seed")),
    ("networks", ("g_width", "g_depth", "d_width", "d_depth", "activation")),
    ("optim", ("opt_g", "opt_d", "beta1", "beta2", "batch")),
    ("tricks", ("spectral_norm", "gp_lambda", "r1_gamma", "clip", "label_smoothing",
                "instance_noise", "noise_anneal", "feature_matching", "minibatch_disc",
                "historical_avg", "vbn", "unrolled", "unroll_lr")),
    ("advanced", ("noise", "noise_dim", "log_every", "eval_samples")),
)

# How a field is drawn when the generic choice (select / checkbox / number) needs a hint.
HINTS: dict[str, dict[str, Any]] = {
    "steps": {"step": 100},
    "batch": {"step": 32},
    "g_width": {"step": 8},
    "d_width": {"step": 8},
    "g_depth": {"widget": "slider"},
    "d_depth": {"widget": "slider"},
    "lr_g": {"step": 1e-4},
    "lr_d": {"step": 1e-4},
    "beta1": {"step": 0.05},
    "beta2": {"step": 0.001},
    "clip": {"step": 0.01},
    "gp_lambda": {"step": 1.0},
    "r1_gamma": {"step": 0.1},
    "label_smoothing": {"widget": "slider", "step": 0.05},
    "instance_noise": {"step": 0.1},
    "noise_anneal": {"step": 100},
    "historical_avg": {"step": 0.01},
    "unrolled": {"widget": "slider"},
    "unroll_lr": {"step": 0.01},
    "noise_dim": {"step": 1},
    "log_every": {"step": 5},
    "eval_samples": {"step": 500},
}

PRESET_KEY = "preset"  # the preset picker (not widget-bound: its URL value is the preset name)
UPLOAD_KEY = "config_upload"
NOTICE_KEY = "_config_notices"  # messages shown in the main area until the next action
TARGET_SEEN_KEY = "_target_seen"  # the target of the last drawn form (whose defaults it shows)


# --------------------------------------------------------------------------- helpers


def limits() -> Limits:
    return get_scheduler().limits


def caps(lim: Limits | None = None) -> dict[str, int]:
    """Upper bounds this server enforces on top of the field specs."""
    lim = lim or limits()
    return {"steps": lim.max_steps, "g_width": lim.max_width, "d_width": lim.max_width,
            "batch": lim.max_batch}


def label(name: str) -> str:
    return tr_or(f"field.{name}.label", name)


def error_text(err: ConfigError, source: str,
               label_of: Callable[[str], str] = label) -> str:
    """One message naming every setting of ``err`` (its label and key) and what is allowed;
    ``source`` is url / upload / form. Setting names and messages may hold text from a link or
    a file, so they are shown as code spans (never Markdown); only known labels are not."""
    if len(err.errors) == 1:
        return tr("ui.form.error." + source, setting=_setting(err.name, label_of),
                  name=md_code(err.name), detail=md_code(str(err)))
    return "\n".join([tr(f"ui.input.{source}.many", n=len(err.errors)),
                      *error_items(err.errors, label_of)])


def error_items(errors: list[ConfigError], label_of: Callable[[str], str] = label) -> list[str]:
    """One escaped Markdown list line per error: '- Label (name): what is allowed; got …'."""
    return ["- " + tr("ui.input.item", setting=_setting(e.name, label_of),
                      name=md_code(e.name), detail=md_code(e.message)) for e in errors]


def _setting(name: str, label_of: Callable[[str], str]) -> str:
    """The label of a known setting (locale text), else the name as given, as a code span."""
    text = label_of(name)
    return md_code(text) if text == name else text


def server_errors(cfg: RunConfig) -> list[ConfigError]:
    """What this server's ``Limits`` refuse in ``cfg`` (empty when it may train it)."""
    try:
        limits().check(cfg)
    except ConfigError as err:
        return list(err.errors)
    return []


def notices() -> list[tuple[str, str]]:
    """(kind, text) messages for the main area: 'error', 'warning', 'info' or 'success'."""
    return st.session_state.setdefault(NOTICE_KEY, [])


def add_notice(kind: str, text: str) -> None:
    items = notices()
    if (kind, text) not in items:
        items.append((kind, text))


def clear_notices() -> None:
    st.session_state[NOTICE_KEY] = []


def validate(data: dict[str, Any]) -> tuple[RunConfig, list[ConfigError]]:
    """``parse_settings`` within the server's caps, plus its ``Limits``: the config of the valid
    values and every error (keys that are not settings are ignored)."""
    cfg, errors = parse_settings(data, caps=caps(), ignore_unknown=True)
    return cfg, errors + server_errors(cfg)


def set_widgets(cfg: RunConfig) -> None:
    """Put every value of ``cfg`` into the widgets (call from a callback, before they render);
    a custom target's points go to the session's point set."""
    for name in field_specs():
        st.session_state[name] = getattr(cfg, name)
    if cfg.data is not None:
        st.session_state["target"] = CUSTOM
        _set_points(np.array(cfg.data), "config")


def starting_values(target) -> dict[str, Any]:
    """Every setting a run on ``target`` starts from: RunConfig's defaults, then the target's
    (``config.target_defaults``), each within this server's caps."""
    specs = field_specs()
    server_caps = caps()
    values = {name: spec["default"] for name, spec in specs.items()}
    for name, value in target_defaults(target).items():
        values[name] = min(value, server_caps[name]) if name in server_caps else value
    return values


def _apply_target_defaults() -> None:
    """The target picker's callback: a setting the user left at the previous target's starting
    value moves to the new target's (``starting_values``); one the user changed stays. Says in
    the main area what changed."""
    new = st.session_state.get("target")
    old = st.session_state.get(TARGET_SEEN_KEY)
    before, after = starting_values(old), starting_values(new)
    changed = []
    for name in sorted(set(target_defaults(old)) | set(target_defaults(new))):
        if st.session_state.get(name, before[name]) == before[name] != after[name]:
            st.session_state[name] = after[name]
            changed.append(name)
    st.session_state[TARGET_SEEN_KEY] = new
    clear_notices()
    if changed and target_defaults(new):
        add_notice("info", tr("ui.form.target_defaults", target=md_code(new), settings=", ".join(
            f"{label(n)} = {after[n]:g}" for n in changed)))


# --------------------------------------------------------------------------- URL check


def check_query_params() -> None:
    """Screen the config values of the URL before the bound widgets read them (call first).

    Streamlit silently drops a bound value it cannot use (``lr_g=5`` outside [0, 1]) and crashes
    on some (``seed=1e400``), so every value is read here: an invalid one is removed from the URL
    (its widget shows the default) and named, with its range, in one message listing them all;
    a valid one is rewritten in the widget's spelling (``steps=1e3`` -> ``1000``)."""
    specs = field_specs()
    params = {k: v[-1] for k, v in url_params().items() if (k in specs or k == "data") and v}
    custom = is_custom(params.get("target"))
    if custom and "data" not in params:
        del params["target"]  # custom, no points yet: the data panel asks for them
    if not params:
        return
    mine = user_points()
    given = dict(params)
    if mine and params.get("data") == to_link(mine["points"]):
        given["data"] = as_rows(mine["points"])  # this session's set (also when not in the link)
    cfg, errors = parse_settings(given, caps=caps(), ignore_unknown=True)
    bad = [e for e in errors if not e.combination]  # combinations: the form names them
    dropped = {e.name for e in bad}
    if custom and dropped & {"target", "data"}:
        dropped |= {"target", "data"}  # custom without usable points: neither is kept
    changes = {k: None if k in dropped else [query_value(getattr(cfg, k))] for k in params}
    if cfg.data is not None and "target" not in dropped:
        changes["target"] = [CUSTOM]  # the widget's spelling; the points live in the session
        if not (mine and np.array_equal(mine["points"], cfg.data)):
            _set_points(np.array(cfg.data), "link")
    rewrite_url_params({k: v for k, v in changes.items() if v is None or v != [params[k]]})
    if bad:
        add_notice("error", error_text(ConfigError.join(bad), "url"))


# --------------------------------------------------------------------------- presets / upload


def _load_preset() -> None:
    name = st.session_state.get(PRESET_KEY) or ""
    if name in PRESETS:
        set_widgets(PRESETS[name].configs()[0])
        st.query_params[PRESET_KEY] = name
        clear_notices()
    elif PRESET_KEY in st.query_params:
        del st.query_params[PRESET_KEY]


def _load_upload() -> None:
    file = st.session_state.get(UPLOAD_KEY)
    if file is None:
        return
    clear_notices()
    try:
        data = load_json(file.getvalue().decode("utf-8-sig"))
    except UnicodeDecodeError:
        add_notice("error", error_text(ConfigError("config", "not a UTF-8 text file"), "upload"))
        return
    except ConfigError as err:
        add_notice("error", error_text(err, "upload"))
        return
    if not isinstance(data, dict):
        add_notice("error", error_text(ConfigError("config", "must be a JSON object of settings"),
                                       "upload"))
        return
    cfg, errors = parse_settings(data, caps=caps())
    bad = [e for e in errors if not e.combination]  # combinations: the form names them
    set_widgets(cfg)  # the valid settings of the file, defaults for the invalid ones
    if bad:
        add_notice("error", "\n".join([
            tr("ui.input.upload.partial", file=md_code(file.name), n=len(bad)),
            *error_items(bad)]))
    else:
        add_notice("success", tr("ui.form.upload_ok", file=md_code(file.name)))


def preset_picker() -> str | None:
    """Preset selectbox; choosing one loads its (first) config into the widgets."""
    if PRESET_KEY not in st.session_state:  # a shared link may name the preset
        from_url = st.query_params.get(PRESET_KEY)
        st.session_state[PRESET_KEY] = from_url if from_url in PRESETS else ""
    options = ["", *PRESETS]
    titles = labeler("preset.", {f"{n}.title": p.title for n, p in PRESETS.items()})
    none = tr("ui.form.preset.none")
    name = st.selectbox(
        tr("ui.form.preset.label"), options, key=PRESET_KEY, on_change=_load_preset,
        format_func=lambda n: titles(f"{n}.title") if n else none, help=tr("ui.form.preset.help"),
    )
    if name:
        title = tr_or(f"preset.{name}.title", PRESETS[name].title)
        st.info(tr_or(f"preset.{name}.explain", title), icon=":material/school:")
        if len(PRESETS[name].configs()) > 1:
            st.caption(tr("ui.form.preset.variants", n=len(PRESETS[name].configs())))
    return name or None


def config_uploader() -> None:
    st.file_uploader(tr("ui.form.upload.label"), type=["json"], key=UPLOAD_KEY,
                     on_change=_load_upload, help=tr("ui.form.upload.help"))


# --------------------------------------------------------------------------- the widgets


def _optional_placeholder(name: str, values: dict[str, Any]) -> str:
    loss = get_loss(values.get("loss", "nonsaturating"))
    default = loss.default_clip if name == "clip" else loss.default_gp
    return tr("ui.form.optional_placeholder", value=f"{default:g}", loss=loss.name)


def field_widget(name: str, spec: dict[str, Any], values: dict[str, Any], cap: int | None):
    """The one widget for field ``name``: selectbox, checkbox, slider or number input."""
    hint = HINTS.get(name, {})
    common = {"key": name, "bind": "query-params",
              "help": tr_or(f"field.{name}.help", spec["help"])}
    text = label(name)
    default = spec["default"]
    if spec["choices"] is not None:  # target: the named ones, then your own points
        options = [*spec["choices"], *([CUSTOM] if name == "target" else [])]
        if name == "target":  # a newly picked target brings its own starting settings
            common["on_change"] = _apply_target_defaults
        return st.selectbox(text, options, index=options.index(default), **common)
    if isinstance(default, bool):
        return st.checkbox(text, value=default, **common)
    is_int = isinstance(default, int)
    lo, hi = spec["lo"], spec["hi"]
    if cap is not None:
        hi = min(hi, cap)
    if is_int:
        lo, hi, step = int(lo), int(hi), int(hint.get("step", 1))
    else:
        lo, hi, step = float(lo), float(hi), float(hint.get("step", 0.01))
    if hint.get("widget") == "slider":
        return st.slider(text, lo, hi, default, step=step, **common)
    fmt = None if is_int else "%g"
    if spec["optional"]:
        return st.number_input(text, lo, hi, value=None, step=step, format=fmt,
                               placeholder=_optional_placeholder(name, values), **common)
    return st.number_input(text, lo, hi, value=default, step=step, format=fmt, **common)


def _describe_choice(name: str, value: str) -> str | None:
    """Caption under the target / loss pickers."""
    if name == "target" and value == CUSTOM:  # no format_func: it would change the URL value
        return tr("userdata.option.custom")
    if name == "target" and value in TARGETS:
        tg = TARGETS[value]
        return tr("ui.form.target.caption", dim=tg.dim,
                  text=tr_or(f"target.{value}.desc", tg.description))
    if name == "loss" and value in LOSSES:
        return tr_or(f"loss.{value}.summary", LOSSES[value].summary)
    return None


def config_form() -> dict[str, Any]:
    """Draw every config widget into the sidebar (call inside ``with st.sidebar``); returns the
    raw values keyed by field name."""
    specs = field_specs()
    server_caps = caps()
    values: dict[str, Any] = {}
    placed = {name for _, names in GROUPS for name in names}
    extra = tuple(name for name in specs if name not in placed)
    groups = GROUPS[:-1] + ((GROUPS[-1][0], GROUPS[-1][1] + extra),)
    for group, names in groups:
        box = st.container() if group is None else st.expander(tr(f"ui.form.group.{group}"))
        with box:
            if group is not None:
                st.caption(tr(f"ui.form.group.{group}.caption"))
            for name in (n for n in names if n in specs):
                values[name] = field_widget(name, specs[name], values, server_caps.get(name))
                note = _describe_choice(name, values[name])
                if note:
                    st.caption(note)
                if name == "target":
                    st.session_state[TARGET_SEEN_KEY] = values[name]
                    if values[name] == CUSTOM:
                        values["data"] = data_panel()
    _sync_data_param(values.get("data"))
    return values


def current_config(values: dict[str, Any]) -> tuple[RunConfig | None, str | None]:
    """The validated config of the widgets, or None and a message naming every setting that
    cannot be used."""
    cfg, errors = validate(values)
    return (None, error_text(ConfigError.join(errors), "form")) if errors else (cfg, None)


# --------------------------------------------------------------------------- your own points

POINTS_KEY = "_userdata"  # {"points": (n, dim) array, "source": ..., "file": ..., "target": ...}
DATA_UPLOAD_KEY = "data_upload"
DRAW_KEY = "data_draw"
DRAW_LIMIT = 4.0  # the drawing area is [−4, 4]², points on a 0.2 lattice
DRAW_GRID = np.round(np.linspace(-DRAW_LIMIT, DRAW_LIMIT, 41), 3)


def user_points() -> dict | None:
    """This session's point set, or None."""
    return st.session_state.get(POINTS_KEY)


def _set_points(points: np.ndarray | None, source: str = "", file: str = "") -> None:
    """Keep a checked point set for this session (with its target, which stays loaded)."""
    if points is None or not len(points):
        st.session_state.pop(POINTS_KEY, None)
        return
    tgt = custom_target(points)
    st.session_state[POINTS_KEY] = {"points": tgt.means, "source": source, "file": file,
                                    "target": tgt}


def _load_points() -> None:
    """The CSV uploader's callback: one message, success or the parser's one-line reason."""
    file = st.session_state.get(DATA_UPLOAD_KEY)
    if file is None:
        return
    clear_notices()
    try:
        points = parse_points(file.getvalue())
    except ConfigError as err:
        add_notice("error", tr("userdata.upload.error", file=md_code(file.name),
                               detail=md_code(err.message)))
        return
    _set_points(points, "upload", file.name)
    add_notice("success", tr("userdata.upload.ok", n=len(points), dim=points.shape[1],
                             file=md_code(file.name)))


def _draw_points() -> None:
    """The drawing chart's callback: add every selected lattice point (a click selects one, a
    box or lasso all inside it) to the drawn set, up to MAX_POINTS."""
    state = st.session_state.get(DRAW_KEY)
    picked = [(p["x"], p["y"]) for p in (state or {}).get("selection", {}).get("points", [])
              if p.get("curve_number") == 0 and "x" in p and "y" in p]
    if not picked:
        return
    mine = user_points()
    old = mine["points"] if mine and mine["source"] == "draw" else np.empty((0, 2))
    new = np.unique(np.round(np.array(picked, dtype=float), 3), axis=0)
    points = np.concatenate([old, new])[:MAX_POINTS]
    _set_points(points, "draw")
    if len(old) + len(new) > MAX_POINTS:
        add_notice("warning", tr("userdata.draw.full", max=MAX_POINTS))


def _clear_points() -> None:
    _set_points(None)


def _draw_figure(points: np.ndarray | None) -> go.Figure:
    """The drawing area: a faint 0.2 lattice to pick from (trace 0) and the current points."""
    gx, gy = np.meshgrid(DRAW_GRID, DRAW_GRID)
    fig = go.Figure(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", hoverinfo="none",
                               marker={"size": 7, "color": "rgba(120,120,120,0.12)"},
                               showlegend=False))
    if points is not None and points.shape[1] == 2:
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers",
                                 hoverinfo="skip", showlegend=False,
                                 marker={"size": 6, "color": "#d62728"}))
    lim = [-DRAW_LIMIT - 0.3, DRAW_LIMIT + 0.3]
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      dragmode="select", clickmode="event+select",
                      xaxis={"range": lim, "zeroline": True},
                      yaxis={"range": lim, "scaleanchor": "x", "zeroline": True})
    return fig


def data_panel() -> tuple[tuple[float, ...], ...] | None:
    """Upload box, drawing area and a summary of the session's points (under the target
    picker when it says ``custom``); returns the points as RunConfig rows, or None."""
    st.file_uploader(tr("userdata.upload.label"), type=["csv", "txt", "tsv"],
                     key=DATA_UPLOAD_KEY, on_change=_load_points,
                     help=tr("userdata.upload.help", points=f"{MAX_POINTS:,}",
                             kb=MAX_BYTES // 1000, lim=f"{MAX_ABS:g}"))
    mine = user_points()
    with st.expander(tr("userdata.draw.title"), expanded=mine is None):
        st.caption(tr("userdata.draw.help"))
        st.plotly_chart(_draw_figure(mine["points"] if mine else None), key=DRAW_KEY,
                        on_select=_draw_points, selection_mode=("points", "box", "lasso"),
                        config={"displaylogo": False})
        st.button(tr("userdata.clear"), key="data_clear", on_click=_clear_points,
                  disabled=mine is None)
    if mine is None:
        st.caption(tr("userdata.none"))
        return None
    points, tgt = mine["points"], mine["target"]
    source = tr(f"userdata.source.{mine['source']}",
                file=md_code(mine["file"]) if mine["file"] else "")
    st.caption(tr("userdata.summary", n=len(points), dim=points.shape[1], source=source,
                  h=f"{tgt.std:.3g}"))
    if to_link(points).startswith("uploaded-"):
        st.caption(tr("userdata.link.out", n=len(points), max=LINK_POINTS))
    return as_rows(points)


def _sync_data_param(rows) -> None:
    """The URL's ``data=``: the current points (``userdata.to_link``) or nothing."""
    want = to_link(rows) if rows is not None else None
    if st.query_params.get("data") != want:
        if want is None:
            del st.query_params["data"]
        else:
            st.query_params["data"] = want
