"""Compare page: several variants (losses × discriminator strengths, or a classroom preset)
trained side by side on the same seed, streamed as a live grid, exported as a report.

Layout only: the sidebar form of the variants, then the same live run view as the Train page
(``ui/run_view.py`` with ``run_session.COMPARE``: controls, status line, live fragment) whose
body is the grid (``panels.grid_panels``: a tile per variant, the curves, the summary), and the
report downloads (``panels.grid_exports``; the files are ``gandemo.report.comparison_files``).

UI contract: buttons ``cmp_start`` / ``cmp_pause`` / ``cmp_step`` / ``cmp_reset``; the status
line contains ``step N / TOTAL`` and the state; the run id lives in
``st.session_state["cmp_run_id"]`` and in the URL as ``?cmp=<id>`` (a refresh re-attaches).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from gandemo import lessons
from gandemo.compare import STRENGTHS, apply_strength
from gandemo.config import ConfigError, RunConfig, parse_value, query_value, show_value, to_dict
from gandemo.i18n import LANGUAGES, t
from gandemo.losses import LOSSES
from gandemo.naming import variant_names
from gandemo.presets import PRESETS
from gandemo.runner import FINISHED, MAX_VARIANTS, get_scheduler
from gandemo.targets import TARGETS
from ui import panels, present, run_view
from ui import run_session as rs
from ui.common import labeler, lang, rewrite_url_params, tr, tr_or, url_params
from ui.config_form import error_text
from ui.lessons import lesson_checks
from ui.run_session import COMPARE

PRESET_KEY = "cmp_preset"
DEFAULTS = {"cmp_target": "bimodal", "cmp_losses": ["minimax", "nonsaturating", "wgan-gp", "hinge"],
            "cmp_levels": ["balanced"], "cmp_seed": 0, "cmp_steps": 1500, "cmp_batch": 256,
            "cmp_w1": 0.2}
# Presets with several variants belong here (one click loads them all).
COMPARE_PRESETS = {name: p for name, p in PRESETS.items() if len(p.configs()) > 1}


def notices() -> list[tuple[str, str]]:
    return rs.notices(COMPARE)


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
    rs.clear_notices(COMPARE)


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
    return rs.config_error(err, COMPARE)


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


# --------------------------------------------------------------------------- the run view


def variant_titles(configs: list[RunConfig]) -> list[str]:
    """Short names in the page's language: the loaded preset's own, else what differs."""
    preset = COMPARE_PRESETS.get(st.session_state.get(PRESET_KEY) or "")
    names = preset.names if preset is not None and len(preset.names) == len(configs) else None
    return variant_names(configs, lang(), names)


def threshold() -> float:
    return float(st.session_state.get("cmp_w1", DEFAULTS["cmp_w1"]))


def grid(run, active: bool) -> None:
    """What the live view shows of the comparison: the preset's lesson checks, then the grid;
    before the run's first frame, the variants' untrained frames in the same tiles."""
    frames = run.latest() if run is not None else None
    hist = (run.history() or {}) if frames else {}
    preset = st.session_state.get(PRESET_KEY) or ""
    with st.container():  # one place whether or not there are checks: the tiles keep theirs
        if frames and preset in PRESETS and lessons.matches(preset, run.configs):
            lesson_checks(preset, hist, lang(), finished=run.state == FINISHED)
    if frames:
        panels.grid_panels(run, frames, hist, active, threshold())
    elif want is not None:
        panels.preview_grid(want.configs, want.labels)


# --------------------------------------------------------------------------- the page

check_url()  # before the bound widgets read (or crash on) a value from the link
panels.page_style()
with st.sidebar:
    values = sidebar_form()
configs, error = build_configs(values)
labels = variant_titles(configs) if configs else []
want = rs.Variants(tuple(configs), tuple(labels)) if configs and not error else None
run = rs.current_run(COMPARE)

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
    run_view.controls(run, want, COMPARE)
    run_view.live_view(run, want, grid, COMPARE,
                       refresh_s=panels.tile_period(len(run.configs if run else configs)))
st.number_input(tr("cmp.summary.threshold"), 0.0, 100.0, DEFAULTS["cmp_w1"], step=0.05,
                format="%g", key="cmp_w1", help=tr("cmp.summary.threshold.help"))
if run is not None and not rs.is_active(run):
    panels.grid_exports(run, threshold())
elif run is not None:
    st.caption(tr("cmp.export.pause_first"))
