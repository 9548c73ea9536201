"""Plotly figure builders: the live app and the file exports draw with the same functions.

Every builder is cheap (no per-point Python loops, ≤ 500 points per curve, a few hundred
markers, one validation pass per figure), pins its axis ranges so frames do not jump, and takes
every word from ``i18n.t``. Colours are fixed project-wide: real = blue, generated = red,
D = dark green (D* the same green, dashed).

Panels are built as ``Panel`` parts (trace dicts + axis dicts) and then placed either in a
one-panel figure or in a cell of the comparison grid, so both draw exactly the same things.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from .i18n import t
from .snapshot import Snapshot

COLORS = {
    "real": "#1f77b4",  # p_r, real samples
    "fake": "#d62728",  # p_g, generated samples, G's loss and gradient
    "d": "#1b7837",  # D(x) solid, D*(x) dashed, D's loss and gradient
    "push": "#7a1010",  # −∇ₓL_G arrows on the fakes
    "x_grad": "#ff7f0e",  # mean ‖∇ₓL_G‖ at the fakes; W1
    "js": "#6a3d9a",  # JS and what is computed from it
    "v_opt": "#222222",  # measured V(G, D*)
    "ref": "#666666",  # reference lines (ln 2, −2·ln 2)
}
# One colour per compared variant (panel title and bottom-row curves); avoids the colours above.
VARIANT_COLORS = (
    "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#000000",
)
# Light PRGn: purple = low D ("fake"), white = unsure, green = high D ("real"). The light ends
# keep the blue/red samples and the arrows readable on top of it.
D_COLORSCALE = [
    [0.0, "#9970ab"], [0.25, "#c2a5cf"], [0.5, "#f7f7f7"], [0.75, "#a6dba0"], [1.0, "#5aae61"],
]
FONT_FAMILY = (
    '"Open Sans", Arial, "Liberation Sans", "DejaVu Sans", "Noto Sans CJK SC", '
    '"Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif'
)
FONT_SIZE = 14
TITLE_SIZE = 18
HEIGHTS = {"density": 460, "samples": 600, "curves": 360, "divergence": 430}
LEGEND_WIDTH = 1000  # px a live legend is assumed to wrap at (a wide column on a projector)
COMPARISON_WIDTH = 1600  # export width the comparison grid is laid out for
PANEL_ROW_PX = 400  # comparison grid: pixels per row
MAX_CURVE_POINTS = 500
MAX_GRID = 128  # heatmap cells per axis
MAX_SCATTER = 300
MAX_RUG = 150
MAX_ARROWS = 150
ARROW_FRACTION = 0.08  # the longest arrow, as a share of the x span
LN2 = math.log(2.0)
LOG_AXIS = {"type": "log", "nticks": 6, "exponentformat": "power"}

# "plotly_white" restricted to the layout keys these figures use: assigning the full template
# deep-copies it (~10 ms a figure); this copy costs ~1 ms and renders the same.
_WHITE = pio.templates["plotly_white"].layout
TEMPLATE = go.layout.Template(layout={
    k: _WHITE[k] for k in ("paper_bgcolor", "plot_bgcolor", "font", "xaxis", "yaxis",
                           "hoverlabel", "colorway", "autotypenumbers")
})

PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 3, "filename": "gandemo"},
}

Bounds = Sequence[tuple[float, float]]
Range = tuple[float, float]


class Series(NamedTuple):
    """One history column drawn as a curve."""

    column: str
    name: str
    color: str
    dash: str = "solid"
    mode: str = "lines"


class Panel(NamedTuple):
    """What one frame panel draws: ``(trace, on the right-hand y axis)`` pairs and its axes."""

    traces: list[tuple[dict, bool]]
    xaxis: dict
    yaxis: dict
    yaxis2: dict | None = None


# --------------------------------------------------------------------------- small helpers


def _rgba(hex_color: str, alpha: float) -> str:
    """``#rrggbb`` -> ``rgba(r,g,b,alpha)``."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _stride(n: int, cap: int) -> int:
    """Step that keeps at most ``cap`` of ``n`` items."""
    return max(1, math.ceil(n / cap))


def _thin(x, y, *, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Finite (and > 0 if ``positive``) points, evenly thinned to ≤ MAX_CURVE_POINTS; the
    first and the newest point are always kept."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if positive:
        keep &= y > 0
    x, y = x[keep], y[keep]
    if len(x) <= MAX_CURVE_POINTS:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, MAX_CURVE_POINTS).round().astype(int))
    return x[idx], y[idx]


def _subsample(points, cap: int) -> np.ndarray:
    """Every k-th row so that at most ``cap`` rows remain (deterministic: no flicker)."""
    points = np.asarray(points, dtype=float)
    if points.ndim == 1:
        points = points[:, None]
    return points[:: _stride(len(points), cap)]


def _nice_ceil(v: float) -> float:
    """Smallest of 1, 2, 2.5, 5 × 10^k that is ≥ v (so a data-driven range rarely changes)."""
    if not np.isfinite(v) or v <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(v))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= v * (1 - 1e-12))


def d_axis_range(d_range: Range | None, *arrays: np.ndarray | None) -> Range:
    """The fixed ``d_range``, or for an unbounded critic a symmetric nice range around 0
    that covers the 99th percentile of |value| (robust to a few wild grid points)."""
    if d_range is not None:
        return float(d_range[0]), float(d_range[1])
    values = np.concatenate([np.ravel(a) for a in arrays if a is not None] or [np.zeros(1)])
    values = np.abs(values[np.isfinite(values)])
    top = _nice_ceil(1.1 * float(np.percentile(values, 99))) if values.size else 1.0
    return -top, top


def _density_top(snap: Snapshot, density_max: float | None) -> float:
    """Fixed top of the density axis: given, else 1.6 × max p_r."""
    if density_max is not None:
        return float(density_max)
    p_r = np.asarray(snap.p_r, dtype=float)
    peak = float(p_r[np.isfinite(p_r)].max(initial=0.0))
    return 1.6 * peak if peak > 0 else 1.0


def _legend_rows(traces: Sequence[dict], width: float) -> int:
    """Rough count of the rows a horizontal legend of ``traces`` wraps to at ``width`` px."""
    seen: set[str] = set()
    rows, used = 1, 0.0
    for tr in traces:
        name, key = tr.get("name"), tr.get("legendgroup") or tr.get("name")
        if tr.get("showlegend") is False or not name or key in seen:
            continue
        seen.add(key)
        entry = 50 + (FONT_SIZE - 1) * sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in name)
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return rows


def _layout(title: str, height: int, traces: Sequence[dict], *, hovermode: str = "closest",
            subtitles: bool = False, legend_width: float = LEGEND_WIDTH) -> dict:
    """The shared look: template, fonts, the title on top and the legend right under it. The
    legend pushes the plot down as it wraps, so it never covers data; the top margin also
    leaves room for subplot titles."""
    top = 52 + 24 * _legend_rows(traces, legend_width) + (34 if subtitles else 8)
    legend = {"orientation": "h", "x": 0, "xanchor": "left", "font": {"size": FONT_SIZE - 1},
              "tracegroupgap": 0}
    if subtitles:  # below the title, clear of the subplot titles (for this height)
        legend.update(yref="container", y=1 - 42 / height, yanchor="top")
    else:  # right on top of the plot area: stays put if a page changes the height
        legend.update(y=1.02, yanchor="bottom")
    return {
        "template": TEMPLATE,
        "height": height,
        "font": {"family": FONT_FAMILY, "size": FONT_SIZE},
        "title": {"text": title, "font": {"size": TITLE_SIZE}, "x": 0.01, "xanchor": "left",
                  "y": 1, "yanchor": "top", "yref": "container", "pad": {"t": 10}},
        "legend": legend,
        "margin": {"l": 70, "r": 30, "t": top, "b": 60},
        "hovermode": hovermode,
        "hoverlabel": {"font": {"family": FONT_FAMILY, "size": FONT_SIZE - 1}},
    }


def _single_figure(panel: Panel, *, title: str, height: int, hovermode: str = "closest"):
    """A one-panel figure; right-hand-axis traces go to ``yaxis2`` overlaid on ``y``."""
    data = [{**tr, "yaxis": "y2"} if right else tr for tr, right in panel.traces]
    layout = _layout(title, height, data, hovermode=hovermode)
    layout.update(xaxis=panel.xaxis, yaxis=panel.yaxis)
    if panel.yaxis2 is not None:
        layout["yaxis2"] = {**panel.yaxis2, "overlaying": "y", "side": "right"}
        layout["margin"]["r"] = 80
    return go.Figure(data=data, layout=layout)


# --------------------------------------------------------------------------- 1D panel


def _density_parts(snap: Snapshot, *, d_name: str, d_rng: Range, top: float, bounds: Bounds,
                   lang: str, legend: bool = True, axis_titles: bool = True) -> Panel:
    """p_r and p_g filled on the left axis, D and D* on the right axis, fake rug at the bottom."""
    k = _stride(len(snap.axes[0]), MAX_CURVE_POINTS)
    x = np.asarray(snap.axes[0])[::k]
    curves = [
        (snap.p_r, t("fig.legend.p_r", lang), COLORS["real"], "solid", False),
        (snap.p_g, t("fig.legend.p_g", lang), COLORS["fake"], "solid", False),
        (snap.d_out, d_name, COLORS["d"], "solid", True),
        (snap.d_star, t("fig.legend.d_star", lang), COLORS["d"], "dash", True),
    ]
    traces = [
        ({"type": "scatter", "x": x, "y": np.asarray(y)[::k], "name": name, "mode": "lines",
          "legendgroup": name, "showlegend": legend, "hovertemplate": "%{y:.3f}",
          "fill": None if right else "tozeroy", "fillcolor": None if right else _rgba(color, 0.25),
          "line": {"color": color, "dash": dash, "width": 2.5 if right else 1.8}}, right)
        for y, name, color, dash, right in curves if y is not None
    ]
    rug = _subsample(snap.fake, MAX_RUG)[:, 0]
    traces.append((
        {"type": "scatter", "x": rug, "y": np.full(len(rug), -0.035 * top), "mode": "markers",
         "name": t("fig.legend.fakes", lang), "legendgroup": "fakes", "showlegend": legend,
         "hovertemplate": "x = %{x:.2f}",
         "marker": {"symbol": "line-ns-open", "size": 9, "color": COLORS["fake"],
                    "line": {"width": 1.2}, "opacity": 0.7}}, False))
    span = d_rng[1] - d_rng[0]  # same share below zero as the density axis, a little headroom
    return Panel(
        traces,
        xaxis={"range": list(bounds[0]), "title": {"text": t("fig.axis.x", lang)}},
        yaxis={"range": [-0.07 * top, top], "zeroline": False,
               "title": {"text": t("fig.axis.density", lang) if axis_titles else None}},
        yaxis2={"range": [d_rng[0] - 0.07 * span, d_rng[1] + 0.03 * span], "showgrid": False,
                "zeroline": False, "tickmode": "auto", "nticks": 6,
                "tickfont": {"color": COLORS["d"]},
                "title": {"text": d_name if axis_titles else None, "font": {"color": COLORS["d"]}}},
    )


def density_panel(
    snap: Snapshot,
    *,
    d_label: str,
    d_range: Range | None,
    bounds: Bounds,
    density_max: float | None = None,
    lang: str = "en",
) -> go.Figure:
    """1D frame: p_r, p_g (left axis), D(x) and D*(x) (right axis), a rug of fakes."""
    panel = _density_parts(snap, d_name=d_label, d_rng=d_axis_range(d_range, snap.d_out,
                           snap.d_star), top=_density_top(snap, density_max), bounds=bounds,
                           lang=lang)
    return _single_figure(panel, title=t("fig.density.title", lang, step=snap.step),
                          height=HEIGHTS["density"], hovermode="x unified")


# --------------------------------------------------------------------------- 2D panel


def _arrow_trace(fake: np.ndarray, push: np.ndarray, span: float, name: str, legend: bool):
    """All push arrows in ONE trace: segments separated by NaN, an arrowhead at each tip.
    Lengths are relative within the frame; the top 5 % are capped at ARROW_FRACTION·span."""
    fake, push = fake[:MAX_ARROWS], push[:MAX_ARROWS]
    norms = np.linalg.norm(push, axis=1)
    ref = float(np.percentile(norms, 95)) if norms.size else 0.0
    longest = ARROW_FRACTION * span
    scale = longest / ref if ref > 0 else 0.0
    shrink = np.minimum(1.0, longest / np.maximum(norms * scale, 1e-300))
    tips = fake + push * (scale * shrink)[:, None]
    xy = np.stack([fake, tips, np.full_like(fake, np.nan)], axis=1).reshape(-1, 2)
    return {
        "type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "mode": "lines+markers", "name": name,
        "legendgroup": "push", "showlegend": legend, "hoverinfo": "skip", "connectgaps": False,
        "line": {"color": COLORS["push"], "width": 1.3},
        "marker": {"symbol": "arrow", "angleref": "previous", "color": COLORS["push"],
                   "size": np.tile([0, 8, 0], len(fake))},
    }


def _scatter_trace(points: np.ndarray, name: str, color: str, size: int, legend: bool) -> dict:
    return {
        "type": "scatter", "x": points[:, 0], "y": points[:, 1], "mode": "markers", "name": name,
        "legendgroup": name, "showlegend": legend, "hovertemplate": "(%{x:.2f}, %{y:.2f})",
        "marker": {"color": color, "size": size, "opacity": 0.8,
                   "line": {"color": "white", "width": 0.6}},
    }


def _samples_parts(snap: Snapshot, *, d_name: str, d_rng: Range, bounds: Bounds, lang: str,
                   legend: bool = True, colorbar: bool = True) -> Panel:
    """D heatmap, real and fake samples, push arrows; equal aspect, ranges = bounds."""
    kx = _stride(len(snap.axes[0]), MAX_GRID)
    ky = _stride(len(snap.axes[1]), MAX_GRID)
    heat = {
        "type": "heatmap", "x": np.asarray(snap.axes[0])[::kx],
        "y": np.asarray(snap.axes[1])[::ky], "z": np.asarray(snap.d_out)[::ky, ::kx],
        "zmin": d_rng[0], "zmax": d_rng[1], "colorscale": D_COLORSCALE, "zsmooth": "best",
        "showscale": colorbar, "name": d_name,
        "hovertemplate": "(%{x:.2f}, %{y:.2f})<br>%{z:.3f}<extra>" + d_name + "</extra>",
        "colorbar": {"title": {"text": d_name, "side": "right"}, "orientation": "h", "x": 0.5,
                     "xanchor": "center", "yref": "container", "y": 0.02, "yanchor": "bottom",
                     "len": 0.45, "thickness": 12},
    }
    fake = _subsample(snap.fake, MAX_SCATTER)
    push = _subsample(snap.fake_push, MAX_SCATTER)
    traces = [
        heat,
        _scatter_trace(_subsample(snap.real, MAX_SCATTER), t("fig.legend.reals", lang),
                       COLORS["real"], 6, legend),
        _scatter_trace(fake, t("fig.legend.fakes", lang), COLORS["fake"], 7, legend),
        _arrow_trace(fake, push, float(bounds[0][1] - bounds[0][0]), t("fig.legend.push", lang),
                     legend),
    ]
    axis = {"constrain": "domain", "showgrid": False, "zeroline": False}
    return Panel(
        [(tr, False) for tr in traces],
        xaxis={**axis, "range": list(bounds[0]), "title": {"text": t("fig.axis.x", lang)}},
        yaxis={**axis, "range": list(bounds[1]), "title": {"text": t("fig.axis.y", lang)},
               "scaleanchor": "x", "scaleratio": 1},
    )


def samples_panel(
    snap: Snapshot,
    *,
    d_label: str,
    d_range: Range | None,
    bounds: Bounds,
    lang: str = "en",
) -> go.Figure:
    """2D frame: D(x) heatmap with colourbar, real and fake samples, arrows of −∇ₓL_G."""
    panel = _samples_parts(snap, d_name=d_label, d_rng=d_axis_range(d_range, snap.d_out),
                           bounds=bounds, lang=lang)
    return _single_figure(panel, title=t("fig.samples.title", lang, step=snap.step),
                          height=HEIGHTS["samples"])


def frame_panel(snap: Snapshot, **kw) -> go.Figure:
    """``density_panel`` for 1D snapshots, ``samples_panel`` for 2D ones."""
    if snap.dim == 1:
        return density_panel(snap, **kw)
    kw.pop("density_max", None)
    return samples_panel(snap, **kw)


# --------------------------------------------------------------------------- history curves


def _series_traces(hist: Mapping[str, np.ndarray], series: Sequence[Series], *,
                   positive: bool = False, legend: bool = True, group: str | None = None,
                   axes: tuple[str, str] = ("x", "y")) -> list[dict]:
    """One curve per ``Series`` against ``hist["step"]`` (NaN and, if asked, ≤ 0 dropped)."""
    steps = hist.get("step", np.zeros(0))
    traces = []
    for s in series:
        x, y = _thin(steps, hist.get(s.column, np.full(len(steps), np.nan)), positive=positive)
        traces.append({
            "type": "scatter", "x": x, "y": y, "name": s.name, "mode": s.mode,
            "legendgroup": group or s.name, "showlegend": legend, "xaxis": axes[0],
            "yaxis": axes[1], "hovertemplate": "%{y:.4g}",
            "line": {"color": s.color, "dash": s.dash, "width": 2},
            "marker": {"color": s.color, "size": 5},
        })
    return traces


def _hline(hist, y: float, name: str, *, legend: bool = True, axes=("x", "y")) -> dict:
    """A dashed grey reference line across the recorded steps (a trace, so it has a legend)."""
    steps = np.asarray(hist.get("step", []), dtype=float)
    steps = steps[np.isfinite(steps)]
    x = [float(steps.min()), float(steps.max())] if steps.size else [0.0, 1.0]
    return {"type": "scatter", "x": x, "y": [y, y], "mode": "lines", "name": name,
            "showlegend": legend, "xaxis": axes[0], "yaxis": axes[1],
            "hovertemplate": f"{y:.4f}", "line": {"color": COLORS["ref"], "dash": "dash",
                                                  "width": 1.5}}


def _series_figure(hist, series, *, title: str, y_title: str, lang: str, log: bool = False):
    """A single-axis curve figure over training steps."""
    panel = Panel(
        [(tr, False) for tr in _series_traces(hist, series, positive=log)],
        xaxis={"title": {"text": t("fig.axis.step", lang)}},
        yaxis={"title": {"text": y_title}, **(LOG_AXIS if log else {})},
    )
    return _single_figure(panel, title=title, height=HEIGHTS["curves"], hovermode="x unified")


def loss_curves(hist_arrays: Mapping[str, np.ndarray], lang: str = "en") -> go.Figure:
    """D and G loss against the step."""
    series = [
        Series("d_loss", t("fig.loss.d", lang), COLORS["d"]),
        Series("g_loss", t("fig.loss.g", lang), COLORS["fake"]),
    ]
    return _series_figure(hist_arrays, series, title=t("fig.loss.title", lang),
                          y_title=t("fig.axis.loss", lang), lang=lang)


def grad_norm_curves(hist_arrays: Mapping[str, np.ndarray], lang: str = "en") -> go.Figure:
    """‖∇θ_G L_G‖, ‖∇θ_D L_D‖ and mean ‖∇ₓL_G‖ at the fakes, on a log axis."""
    series = [
        Series("g_grad_norm", t("fig.grad.g", lang), COLORS["fake"]),
        Series("d_grad_norm", t("fig.grad.d", lang), COLORS["d"]),
        Series("x_grad_norm", t("fig.grad.x", lang), COLORS["x_grad"], "dot"),
    ]
    return _series_figure(hist_arrays, series, title=t("fig.grad.title", lang),
                          y_title=t("fig.axis.grad_norm", lang), lang=lang, log=True)


def _side_by_side(titles: Sequence[str], gap: float = 0.1) -> dict:
    """Layout entries for two panels side by side, each with its title above it."""
    half = (1 - gap) / 2
    domains = ([0, half], [1 - half, 1])
    return {
        "xaxis": {"domain": domains[0], "anchor": "y"},
        "xaxis2": {"domain": domains[1], "anchor": "y2"},
        "annotations": [
            {"text": text, "x": sum(dom) / 2, "xref": "paper", "y": 1, "yref": "paper",
             "xanchor": "center", "yanchor": "bottom", "showarrow": False,
             "font": {"size": FONT_SIZE + 1}}
            for text, dom in zip(titles, domains, strict=True)
        ],
    }


def _inf_markers(hist, columns: Sequence[str], names: Sequence[str], top: float) -> list[dict]:
    """An "∞" marker at height ``top`` for every logged step where a column is +∞ (the curve
    itself has a gap there: a log axis cannot draw ∞)."""
    steps = np.asarray(hist.get("step", np.zeros(0)), dtype=float)
    traces = []
    for col, name in zip(columns, names, strict=True):
        y = np.asarray(hist.get(col, np.full(len(steps), np.nan)), dtype=float)
        at = np.flatnonzero(np.isposinf(y))
        if len(at):
            traces.append({"type": "scatter", "x": steps[at], "y": np.full(len(at), top),
                           "mode": "markers+text", "text": ["∞"] * len(at),
                           "textposition": "top center", "name": f"{name} = ∞",
                           "hovertemplate": f"{name} = ∞<extra></extra>",
                           "marker": {"symbol": "triangle-up", "size": 9,
                                      "color": COLORS["ref"]}})
    return traces


def divergence_curves(hist_arrays: Mapping[str, np.ndarray], lang: str = "en",
                      info: Mapping | None = None) -> go.Figure:
    """(a) JS (with the ln 2 ceiling), KL both ways and W1 on a log axis, ∞ drawn as a gap plus
    an "∞" marker; (b) the measured V(G, D*) as markers under 2·JS − 2·ln 2 as a line.
    ``info`` (a ``metrics.divergences`` result, e.g. ``Trainer.last_measure``) names the
    kernel width h and the W1 method in the legend; without it the labels stay generic."""
    hist = hist_arrays
    right = ("x2", "y2")
    info = info or {}
    js_name = (t("fig.div.js_h", lang, h=f"{info['bandwidth']:g}") if "bandwidth" in info
               else t("fig.div.js", lang))
    w1_name = (t("fig.div.w1_n", lang, method=info["w1_method"]) if "w1_method" in info
               else t("fig.div.w1", lang))
    from_js = {"step": hist.get("step", np.zeros(0)), "v_opt": hist.get("v_opt", np.zeros(0)),
               "v_js": 2.0 * np.asarray(hist.get("js", np.zeros(0))) - 2.0 * LN2}
    data = _series_traces(hist, [
        Series("js", js_name, COLORS["js"]),
        Series("kl_rg", t("fig.div.kl_rg", lang), COLORS["real"]),
        Series("kl_gr", t("fig.div.kl_gr", lang), COLORS["fake"]),
        Series("w1", w1_name, COLORS["x_grad"], "dot"),
    ], positive=True)
    finite = [v for c in ("js", "kl_rg", "kl_gr", "w1")
              for v in np.asarray(hist.get(c, []), dtype=float) if np.isfinite(v) and v > 0]
    data += _inf_markers(hist, ("kl_rg", "kl_gr"),
                         (t("fig.div.kl_rg", lang), t("fig.div.kl_gr", lang)),
                         max(finite, default=1.0) * 2)
    data.append(_hline(hist, LN2, t("fig.div.ln2", lang)))
    data += _series_traces(from_js, [
        Series("v_opt", t("fig.div.v_opt", lang), COLORS["v_opt"], mode="markers"),
        Series("v_js", t("fig.div.v_js", lang), COLORS["js"]),
    ], axes=right)
    data.append(_hline(hist, -2.0 * LN2, t("fig.div.v_min", lang), axes=right))
    layout = _layout(t("fig.div.title", lang), HEIGHTS["divergence"], data,
                     hovermode="x unified", subtitles=True)
    layout.update(_side_by_side([t("fig.div.sub_a", lang), t("fig.div.sub_b", lang)]))
    step_title = {"text": t("fig.axis.step", lang)}
    layout["xaxis"]["title"] = layout["xaxis2"]["title"] = step_title
    layout["yaxis"] = {"anchor": "x", "title": {"text": t("fig.div.axis_a", lang)}, **LOG_AXIS}
    layout["yaxis2"] = {"anchor": "x2", "title": {"text": t("fig.div.axis_b", lang)}}
    return go.Figure(data=data, layout=layout)


# --------------------------------------------------------------------------- comparison grid


def _grid_specs(n: int, dim: int) -> tuple[list, int, int, int]:
    """make_subplots specs: panel rows (≤ 4 per row) over a bottom row of 3 curve cells.
    Returns (specs, panel rows, panels per row, base columns per panel)."""
    ncols = max(1, min(n, 4))
    base = math.lcm(ncols, 3)
    span, cspan = base // ncols, base // 3
    panel = {"colspan": span, "secondary_y": dim == 1}
    rows = math.ceil(max(n, 1) / ncols)
    specs = []
    for r in range(rows):
        cells = min(ncols, n - r * ncols)
        specs.append(([panel] + [None] * (span - 1)) * cells + [None] * (base - cells * span))
    specs.append(([{"colspan": cspan}] + [None] * (cspan - 1)) * 3)
    return specs, rows, ncols, span


@lru_cache(maxsize=64)
def _grid_skeleton(n: int, dim: int, height: int) -> tuple[dict, tuple]:
    """The grid's empty layout (domains, anchors, title slots) and, per cell in reading order
    (panels, then the 3 bottom cells), its axis ids ``(x, y, y_right | None)``. make_subplots
    is slow (~50 ms), so this is built once per shape and deep-copied."""
    specs, prow, ncols, span = _grid_specs(n, dim)
    cspan = len(specs[0]) // 3
    fig = make_subplots(
        rows=prow + 1, cols=len(specs[0]), specs=specs, subplot_titles=[" "] * (n + 3),
        horizontal_spacing=min(0.06, 0.9 / max(len(specs[0]) - 1, 1)),
        vertical_spacing=130 / height, row_heights=[1.0] * prow + [0.8],
    )
    places = [(i // ncols + 1, (i % ncols) * span + 1) for i in range(n)]
    places += [(prow + 1, j * cspan + 1) for j in range(3)]
    cells = tuple(_cell_axes(fig, row, col, dim == 1 and row <= prow) for row, col in places)
    skeleton = fig.layout.to_plotly_json()
    skeleton.pop("template", None)  # replaced by TEMPLATE; not worth deep-copying
    return skeleton, cells


def _cell_axes(fig: go.Figure, row: int, col: int, secondary: bool) -> tuple:
    """Trace-style axis ids of one make_subplots cell: ("x3", "y5", "y6" or None)."""
    def ids(sub):
        return sub.xaxis.plotly_name.replace("axis", ""), sub.yaxis.plotly_name.replace("axis", "")

    x_id, y_id = ids(fig.get_subplot(row, col))
    return x_id, y_id, ids(fig.get_subplot(row, col, secondary_y=True))[1] if secondary else None


def _axis_key(axis_id: str) -> str:
    """"x3" -> "xaxis3", "y" -> "yaxis"."""
    return axis_id[0] + "axis" + axis_id[1:]


def _place(layout: dict, panel: Panel, cell: tuple) -> list[dict]:
    """Merge a panel's axes into its grid cell of ``layout``; return its traces on those axes."""
    x_id, y_id, y2_id = cell
    layout[_axis_key(x_id)].update(panel.xaxis)
    layout[_axis_key(y_id)].update(panel.yaxis)
    if "scaleanchor" in panel.yaxis:
        layout[_axis_key(y_id)]["scaleanchor"] = x_id
    if panel.yaxis2 is not None and y2_id is not None:
        layout[_axis_key(y2_id)].update(panel.yaxis2)
    return [{**tr, "xaxis": x_id, "yaxis": y2_id if right else y_id} for tr, right in panel.traces]


def _panel_title(name: str, snap: Snapshot, d_label: str, rng: Range, lang: str) -> str:
    """Two lines: variant and step; then what the right axis (1D) or the shading (2D) shows."""
    head = t("fig.cmp.panel", lang, name=name, step=snap.step)
    if snap.dim == 1:
        sub = t("fig.cmp.d_axis", lang, label=d_label)
    else:
        sub = t("fig.cmp.range", lang, label=d_label, lo=f"{rng[0]:g}", hi=f"{rng[1]:g}")
    return f"<b>{head}</b><br><span style='font-size:{FONT_SIZE}px'>{sub}</span>"


def _variant_color(i: int) -> str:
    return VARIANT_COLORS[i % len(VARIANT_COLORS)]


def _grid_panel(snap: Snapshot, *, first: bool, left_title: bool, top: float, lang: str,
                **kw) -> Panel:
    """One variant's frame for the grid: no colourbar and no right-axis title (both are in the
    panel title); the density axis title on the first column only; legend from the first."""
    if snap.dim == 2:
        return _samples_parts(snap, lang=lang, legend=first, colorbar=False, **kw)
    panel = _density_parts(snap, top=top, lang=lang, legend=first, axis_titles=False, **kw)
    if left_title:
        panel.yaxis["title"] = {"text": t("fig.axis.density", lang)}
    return panel


def _variant_curves(histories, names: Sequence[str], lang: str) -> list[list[dict]]:
    """Bottom row, per cell: JS (with ln 2) | W1 | ‖∇θ_G‖, one colour per variant."""
    cells: list[list[dict]] = [[], [], []]
    for i, name in enumerate(names):
        hist = histories.get(name)
        if hist is None:
            continue
        for j, (column, log) in enumerate((("js", False), ("w1", False), ("g_grad_norm", True))):
            cells[j] += _series_traces(hist, [Series(column, name, _variant_color(i))],
                                       positive=log, legend=j == 0, group=f"variant-{name}")
    drawn = [histories[n] for n in names if n in histories]
    if drawn:
        cells[0].append(_hline(drawn[0], LN2, t("fig.div.ln2", lang), legend=False))
    return cells


def comparison_grid(
    frames: Sequence[tuple[str, Snapshot]],
    histories: Mapping[str, Mapping[str, np.ndarray]],
    *,
    d_labels: Mapping[str, str],
    d_ranges: Mapping[str, Range | None],
    bounds: Bounds,
    caption: str,
    lang: str = "en",
    density_max: float | None = None,
) -> go.Figure:
    """One report figure: a panel per variant on identical axes (≤ 4 per row), then JS, W1 and
    ‖∇θ_G‖ (log) of every variant overlaid, then the caption. Laid out for 1600 px wide."""
    dim = frames[0][1].dim if frames else 1
    ncols = max(1, min(len(frames), 4))
    names = [name for name, _ in frames]
    labels = {n: d_labels.get(n, "D(x)") for n in names}
    ranges = {n: d_axis_range(d_ranges.get(n), s.d_out, s.d_star if dim == 1 else None)
              for n, s in frames}
    caption_lines = [line for line in caption.splitlines() if line.strip()]
    caption_lines.append(t(f"fig.cmp.note_{dim}d", lang))
    caption_px = 24 * len(caption_lines) + 20
    height = PANEL_ROW_PX * (math.ceil(max(len(frames), 1) / ncols) + 1) + caption_px
    skeleton, cells = _grid_skeleton(len(frames), dim, height)
    layout = copy.deepcopy(skeleton)
    top = max((_density_top(s, density_max) for _, s in frames), default=1.0)
    data: list[dict] = []
    for i, (name, snap) in enumerate(frames):
        panel = _grid_panel(snap, first=i == 0, left_title=i % ncols == 0, top=top, lang=lang,
                            d_name=labels[name], d_rng=ranges[name], bounds=bounds)
        data += _place(layout, panel, cells[i])
    curve_titles = ("fig.cmp.js", "fig.cmp.w1", "fig.cmp.grad_g")
    for j, traces in enumerate(_variant_curves(histories, names, lang)):
        x_id, y_id, _ = cells[len(frames) + j]
        data += [{**tr, "xaxis": x_id, "yaxis": y_id} for tr in traces]
        layout[_axis_key(x_id)]["title"] = {"text": t("fig.axis.step", lang)}
        layout["annotations"][len(frames) + j]["text"] = t(curve_titles[j], lang)
    layout[_axis_key(cells[-1][1])].update(LOG_AXIS)
    for i, (name, snap) in enumerate(frames):
        layout["annotations"][i].update(
            text=_panel_title(name, snap, labels[name], ranges[name], lang),
            font={"color": _variant_color(i), "size": FONT_SIZE + 2})
    layout.update(_layout(t("fig.cmp.title", lang), height, data, subtitles=True,
                          legend_width=COMPARISON_WIDTH - 100))
    layout["margin"].update(t=layout["margin"]["t"] + 14, b=caption_px + 70, r=60)
    layout["annotations"].append({
        "text": "<br>".join(caption_lines), "xref": "paper", "yref": "paper", "x": 0, "y": 0,
        "xanchor": "left", "yanchor": "top", "yshift": -62, "align": "left",
        "showarrow": False, "font": {"size": FONT_SIZE},
    })
    return go.Figure(data=data, layout=layout)
