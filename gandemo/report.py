"""Files of a finished run or comparison, built from published data only (histories, snapshots,
configs → DataFrames, figures, CSV/JSON text, image bytes); ``cli`` trains and writes them to disk,
the Compare page offers them as downloads.

A run directory holds ``config.json``, ``metrics.csv``, ``samples.npy``, ``figure.png``,
``figure.html`` (light: plotly.js from its CDN) and ``figure_offline.html`` (plotly.js inlined); a
comparison directory holds ``config.json``, ``metrics.csv`` (long format with a ``variant``
column), ``summary.csv`` (one row per variant) and the same three figure files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from . import export
from .config import RunConfig, to_dict
from .figures import (
    COMPARISON_WIDTH,
    STYLE,
    Style,
    base_layout,
    comparison_grid,
    log_axis,
    variant_curves,
)
from .i18n import t
from .losses import get_loss
from .snapshot import Snapshot
from .targets import get_target

SUMMARY_COLUMNS = (
    "variant", "loss", "d_steps", "d_width", "lr_d", "steps", "final_js", "best_js", "final_w1",
    "best_w1", "modes_covered", "n_modes", "steps_to_w1", "diverged_at", "iters_per_s",
)


def caption(configs: Sequence[RunConfig], labels: Sequence[str], steps: int) -> str:
    """Caption block: target, seed, steps, then each variant's distinguishing settings."""
    base = configs[0]
    lines = [f"target {base.target} · seed {base.seed} · step {steps} · batch {base.batch} · "
             f"G {base.g_depth}×{base.g_width} · z {base.noise}({base.noise_dim})"]
    for label, c in zip(labels, configs):
        lines.append(f"{label}: k={c.d_steps}, D {c.d_depth}×{c.d_width}, lr_G={c.lr_g:g}, "
                     f"lr_D={c.lr_d:g}, {c.opt_g}/{c.opt_d}")
    return "\n".join(lines)


def comparison_figure_from(frames: Sequence[tuple[str, Snapshot]],
                           histories: Mapping[str, Mapping[str, np.ndarray]],
                           configs: Sequence[RunConfig], lang: str = "en",
                           density_max: float | None = None) -> go.Figure:
    """The report figure from published data: ``frames`` = [(label, Snapshot)] in variant order,
    ``histories`` = {label: history arrays}, ``configs`` the variants' configs in that order
    (what a live ``ComparisonRun`` offers, or ``cli`` from its finished trainers);
    ``density_max``: the 1D density axis top (an animation pins one over all its frames)."""
    labels = [label for label, _ in frames]
    losses = [get_loss(c.loss) for c in configs]
    steps = max((snap.step for _, snap in frames), default=0)
    return comparison_grid(
        frames, histories,
        d_labels={label: loss.output_label for label, loss in zip(labels, losses)},
        d_ranges={label: loss.output_range for label, loss in zip(labels, losses)},
        bounds=get_target(configs[0].target).bounds,
        caption=caption(configs, labels, steps),
        lang=lang,
        density_max=density_max,
    )


def variant_curve_figures(histories: Mapping[str, Mapping[str, np.ndarray]],
                          labels: Sequence[str], titles: Sequence[str], lang: str = "en",
                          height: int = 340, style: Style = STYLE) -> list[go.Figure]:
    """The grid's bottom row as three figures (JS with ln 2 | W1 | ‖∇θ_G‖ on a log axis), every
    variant overlaid in its ``VARIANT_COLORS`` colour, no legend (the tiles' titles carry the
    colours). ``titles``: the three figure titles."""
    figs = []
    grads = [np.asarray(h.get("g_grad_norm", ()), dtype=float) for h in histories.values()]
    for j, traces in enumerate(variant_curves(histories, list(labels), lang, style)):
        traces = [{**tr, "showlegend": False} for tr in traces]
        layout = base_layout(titles[j], height, [], style=style)
        layout.update(showlegend=False, hovermode="x unified")
        layout["xaxis"] = {**layout.get("xaxis", {}),
                           "title": {"text": t("fig.axis.step", lang)}}
        layout["yaxis"] = {**layout.get("yaxis", {}), **(log_axis(*grads) if j == 2 else {})}
        layout["margin"].update(t=style.title + 30, l=60 + 3 * (style.tick - 14), r=20)
        figs.append(go.Figure(data=traces, layout=layout))
    return figs


_TRAIN_SCALARS = ("d_loss", "g_loss", "g_grad_norm", "d_grad_norm", "x_grad_norm")


def history_diverged_at(h: Mapping[str, np.ndarray]) -> int | None:
    """The step a run diverged at, read from its history (the trainer logs a row with a
    non-finite loss or gradient at that step and stops), None if it did not."""
    steps = np.asarray(h.get("step", ()), dtype=float)
    if not len(steps):
        return None
    bad = np.zeros(len(steps), dtype=bool)
    for col in _TRAIN_SCALARS:
        if col in h:
            bad |= ~np.isfinite(np.asarray(h[col], dtype=float))
    hits = np.flatnonzero(bad)
    return int(steps[hits[0]]) if len(hits) else None


def summary_from_histories(histories: Mapping[str, Mapping[str, np.ndarray]],
                           configs: Sequence[RunConfig], labels: Sequence[str],
                           w1_threshold: float = 0.2, *,
                           steps: Sequence[int] | None = None,
                           diverged_at: Sequence[int | None] | None = None,
                           iters_per_s: Sequence[float] | None = None) -> pd.DataFrame:
    """Summary of a comparison, one row per label: final and best JS/W1, modes, first logged step
    with W1 < ``w1_threshold``, divergence step, iterations/s. Without the optional per-variant
    values, ``steps`` is the last logged step, ``diverged_at``
    comes from ``history_diverged_at`` and ``iters_per_s`` from the logged wall time."""
    rows = []
    for i, (label, cfg) in enumerate(zip(labels, configs)):
        h = histories.get(label) or {}
        col = {c: np.asarray(h.get(c, ()), dtype=float) for c in ("step", "js", "w1",
                                                                 "modes_covered", "wall_s")}
        js, w1, logged = col["js"], col["w1"], col["step"]
        below = np.flatnonzero(w1 < w1_threshold)
        finite_js, finite_w1 = js[np.isfinite(js)], w1[np.isfinite(w1)]
        modes = col["modes_covered"][np.isfinite(col["modes_covered"])]
        last_valid = lambda a: float(a[-1]) if len(a) else float("nan")  # noqa: E731
        last_step = int(logged[-1]) if len(logged) else 0
        wall = last_valid(col["wall_s"])
        target = get_target(cfg.target)
        rows.append({
            "variant": label, "loss": cfg.loss, "d_steps": cfg.d_steps,
            "d_width": cfg.d_width, "lr_d": cfg.lr_d,
            "steps": steps[i] if steps is not None else last_step,
            "final_js": last_valid(finite_js), "best_js": float(finite_js.min(initial=np.inf)),
            "final_w1": last_valid(finite_w1), "best_w1": float(finite_w1.min(initial=np.inf)),
            "modes_covered": last_valid(modes),
            "n_modes": len(target.modes) if target.modes is not None else float("nan"),
            "steps_to_w1": int(logged[below[0]]) if len(below) else None,
            "diverged_at": (diverged_at[i] if diverged_at is not None
                            else history_diverged_at(h)),
            "iters_per_s": (iters_per_s[i] if iters_per_s is not None
                            else last_step / wall if wall > 0 else float("nan")),
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def long_metrics_from_histories(histories: Mapping[str, Mapping[str, np.ndarray]],
                                labels: Sequence[str]) -> str:
    """metrics.csv of a comparison: every variant's history with a ``variant`` column, a row per
    variant and logged step."""
    parts = [export.history_csv(histories.get(label) or {}, {"variant": label})
             for label in labels]
    return parts[0] + "".join(p.split("\n", 1)[1] for p in parts[1:])


def comparison_config_json(configs: Sequence[RunConfig], labels: Sequence[str]) -> str:
    """config.json of a comparison: ``{"variants": [{"label": …, <every RunConfig field>}]}``."""
    return json.dumps({"variants": [{"label": lb, **to_dict(c)} for lb, c in zip(labels, configs)]},
                      indent=2, ensure_ascii=False)


PNG_SCALE = 2  # the grid is laid out COMPARISON_WIDTH px wide: twice that in the PNG (print)


def summary_csv(histories: Mapping[str, Mapping[str, np.ndarray]], configs: Sequence[RunConfig],
                labels: Sequence[str], threshold: float = 0.2,
                steps: Sequence[int] | None = None) -> str:
    """``summary_from_histories`` as CSV text (one row per variant, ``\n`` line ends)."""
    return summary_from_histories(histories, configs, labels, threshold, steps=steps).to_csv(
        index=False, lineterminator="\n")


def comparison_image(fig: go.Figure, fmt: str) -> bytes:
    """The report figure as ``png`` (COMPARISON_WIDTH × PNG_SCALE px wide) or ``svg``; raises
    ``export.ExportError`` without a browser."""
    if fmt == "png":
        return export.figure_png(fig, width=COMPARISON_WIDTH, scale=PNG_SCALE)
    return export.figure_svg(fig, width=COMPARISON_WIDTH)


def comparison_files(frames: Sequence[tuple[str, Snapshot]],
                     histories: Mapping[str, Mapping[str, np.ndarray]],
                     configs: Sequence[RunConfig], labels: Sequence[str],
                     threshold: float = 0.2, lang: str = "en", fig: go.Figure | None = None,
                     on_error=None) -> dict[str, bytes | str]:
    """Every file of a comparison report from published data (``frames`` = [(label, Snapshot)],
    ``histories`` = {label: arrays}): figure.png and figure.svg (only where a browser renders
    them; an ``export.ExportError`` goes to ``on_error(message)`` and leaves the file out),
    figure.html (plotly.js from the CDN), metrics.csv, summary.csv, config.json. ``fig``: the
    figure if already built (``comparison_figure_from``)."""
    fig = fig if fig is not None else comparison_figure_from(frames, histories, configs, lang)
    files: dict[str, bytes | str] = {}
    if export.find_browser() is not None:
        for fmt in ("png", "svg"):
            try:
                files[f"figure.{fmt}"] = comparison_image(fig, fmt)
            except export.ExportError as err:
                if on_error is not None:
                    on_error(str(err))
    files["figure.html"] = export.figure_html(fig, offline=False)
    files["metrics.csv"] = long_metrics_from_histories(histories, labels)
    files["summary.csv"] = summary_csv(histories, configs, labels, threshold,
                                       steps=[s.step for _, s in frames])
    files["config.json"] = comparison_config_json(configs, labels)
    return files


def figure_files(fig: go.Figure, width: int = 1600,
                 on_error: Callable[[str], None] | None = None) -> dict[str, bytes | str]:
    """A run directory's figure files: figure.html (light: plotly.js from its CDN) and
    figure_offline.html (plotly.js inlined) always; figure.png (``width`` px, scale 1) when
    kaleido finds a browser, else ``on_error(message)`` and no PNG."""
    files: dict[str, bytes | str] = {
        "figure.html": export.figure_html(fig, offline=False),
        "figure_offline.html": export.figure_html(fig),
    }
    try:
        files["figure.png"] = export.figure_png(fig, width=width, scale=1)
    except export.ExportError as err:
        if on_error is not None:
            on_error(str(err))
    return files
