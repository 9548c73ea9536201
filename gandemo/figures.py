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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from .i18n import t
from .snapshot import Snapshot

# Okabe & Ito's colour-blind-safe palette (Color Universal Design, 2008): eight colours that
# stay distinct under protanopia, deuteranopia and tritanopia.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
COLORS = {
    "real": OKABE_ITO["blue"],  # p_r, real samples
    "fake": OKABE_ITO["vermillion"],  # p_g, generated samples, G's loss and gradient
    "d": OKABE_ITO["green"],  # D(x) solid, D*(x) dashed, D's loss and gradient
    "push": "#000000",  # −∇ₓL_G arrows on the fakes (black reads on every shade of the heatmap)
    "x_grad": OKABE_ITO["orange"],  # mean ‖∇ₓL_G‖ at the fakes; W1
    "js": OKABE_ITO["purple"],  # JS and what is computed from it
    "v_opt": "#000000",  # measured V(G, D*)
    "ref": "#666666",  # reference lines (ln 2, −2·ln 2)
}
# One colour per compared variant (tile title and bottom-row curves), Okabe–Ito order with the
# p_r / p_g / D hues last (the variant curves sit in cells of their own); grey as the eighth.
VARIANT_COLORS = (
    OKABE_ITO["orange"], OKABE_ITO["sky"], OKABE_ITO["purple"], "#000000", OKABE_ITO["blue"],
    OKABE_ITO["vermillion"], OKABE_ITO["green"], "#999999",
)
TEXT_COLOR = "#1a1a1a"  # every title, tick and legend label (≈ 17 : 1 on white)
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text
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
# Density axis (1D): DENSITY_BASE × max p_r, grown by DENSITY_GROW at most DENSITY_MAX_STEPS
# times (to 2.5 × max p_r: a generator collapsed on one of two modes peaks at ≈ 2 × p_r) until
# p_g's peak fits with DENSITY_HEADROOM.
DENSITY_BASE = 1.6
DENSITY_GROW = 1.25
DENSITY_MAX_STEPS = 2
DENSITY_HEADROOM = 1.1
VIEW_FACTORS = (1.0, 1.5, 2.0, 3.0)  # a 2D view grows by these factors to show the fakes
LN2 = math.log(2.0)
# Log axes: labels at whole decades only (10⁻², 10⁻¹, …), unlabelled minor ticks at 2…9 × 10ᵏ.
# ``log_axis`` drops the decade step when the data span less than a decade.
LOG_AXIS = {"type": "log", "dtick": 1, "exponentformat": "power",
            "minor": {"dtick": "D1", "ticks": "outside", "ticklen": 4, "showgrid": False}}

# "plotly_white" restricted to the layout keys these figures use: assigning the full template
# deep-copies it (~10 ms a figure); this copy costs ~1 ms and renders the same.
_WHITE = pio.templates["plotly_white"].layout
TEMPLATE = go.layout.Template(layout={
    k: _WHITE[k] for k in ("paper_bgcolor", "plot_bgcolor", "font", "xaxis", "yaxis",
                           "hoverlabel", "colorway", "autotypenumbers")
})

# The modebar stands upright at the right edge (clear of the titles, which sit on the left) and
# keeps only the buttons a class uses.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "showSendToCloud": False,  # plotly.js 3's "Share" uploads to Plotly Cloud: not in a classroom
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines",
                               "hoverClosestCartesian", "hoverCompareCartesian"],
    "toImageButtonOptions": {"format": "png", "scale": 3, "filename": "gandemo"},
}
MODEBAR = {"orientation": "v", "bgcolor": "rgba(255,255,255,0.85)", "color": "#555555",
           "activecolor": "#000000"}


@dataclass(frozen=True)
class Style:
    """How large a figure draws its words and marks: font sizes in px (``tick`` also sets the
    axis titles, which Plotly draws at 1.2 × it), ``line`` and ``marker`` multiply every line
    width and marker size. ``Style()`` is the look of the app and of every export; ``PRESENT``
    is presentation mode (read from the back row of a lecture hall)."""

    tick: int = FONT_SIZE
    legend: int = FONT_SIZE - 1
    title: int = TITLE_SIZE
    panel_title: int = FONT_SIZE + 2
    line: float = 1.0
    marker: float = 1.0
    fill_alpha: float = 0.25
    grid_color: str | None = None  # None: the template's light grid
    present: bool = False

    def width(self, w: float) -> float:
        """A line width ``w`` (px) in this style."""
        return round(w * self.line, 2)

    def size(self, s: float) -> float:
        """A marker size ``s`` (px) in this style."""
        return round(s * self.marker, 1)


STYLE = Style()
PRESENT = Style(tick=20, legend=22, title=26, panel_title=22, line=1.8, marker=1.6,
                fill_alpha=0.3, grid_color="#d9d9d9", present=True)


def style_for(present: bool) -> Style:
    """``PRESENT`` in presentation mode, else the normal ``STYLE``."""
    return PRESENT if present else STYLE


Bounds = Sequence[tuple[float, float]]
Range = tuple[float, float]


class Series(NamedTuple):
    """One history column drawn as a curve."""

    column: str
    name: str
    color: str
    dash: str = "solid"
    mode: str = "lines"


class Detail(NamedTuple):
    """How much a frame panel draws. 2D: at most ``reals`` / ``fakes`` sample markers and
    ``arrows`` push arrows (every k-th one: ``_subsample``), markers with a white ``outline``
    (px) or none, and D's heatmap interpolated per screen pixel (``smooth="best"``) or per
    cell, scaled by the browser (``"fast"``); 1D: at most ``curve`` points per curve and
    ``rug`` rug marks. ``FULL`` is every export and still frame; ``LIVE`` is what a browser
    redraws several times a second (the figure says how many of the samples it shows),
    ``TILE`` a Compare tile (eight redrawn together, each a quarter of the page wide)."""

    reals: int = MAX_SCATTER
    fakes: int = MAX_SCATTER
    arrows: int = MAX_ARROWS
    outline: float = 0.6
    smooth: str = "best"
    curve: int = MAX_CURVE_POINTS
    rug: int = MAX_RUG


FULL = Detail()
LIVE = Detail(reals=150, fakes=150, arrows=100, outline=0, smooth="fast")
TILE = LIVE._replace(curve=150, rug=60)


class Panel(NamedTuple):
    """What one frame panel draws: ``(trace, on the right-hand y axis)`` pairs and its axes."""

    traces: list[tuple[dict, bool]]
    xaxis: dict
    yaxis: dict
    yaxis2: dict | None = None


# --------------------------------------------------------------------------- small helpers


def rgba(hex_color: str, alpha: float) -> str:
    """``#rrggbb`` -> ``rgba(r,g,b,alpha)``."""
    r, g, b = _rgb(hex_color)
    return f"rgba({r},{g},{b},{alpha})"


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def relative_luminance(hex_color: str) -> float:
    """WCAG 2 relative luminance L = 0.2126 R + 0.7152 G + 0.0722 B of the linearised sRGB
    channels (c ≤ 0.04045: c / 12.92, else ((c + 0.055) / 1.055)^2.4)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
           for c in (v / 255 for v in _rgb(hex_color))]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(fg: str, bg: str = "#ffffff") -> float:
    """WCAG 2 contrast ratio (L_light + 0.05) / (L_dark + 0.05), from 1 to 21."""
    a, b = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


@lru_cache(maxsize=64)
def text_color(hex_color: str, bg: str = "#ffffff", ratio: float = MIN_CONTRAST) -> str:
    """``hex_color`` as text on ``bg``: itself if it has ``ratio`` contrast, else the same hue
    darkened in 2 % steps (every channel × the same factor) until it has."""
    rgb = _rgb(hex_color)
    for k in range(51):
        shade = "#" + "".join(f"{round(c * (1 - 0.02 * k)):02x}" for c in rgb)
        if contrast_ratio(shade, bg) >= ratio:
            return shade
    return "#000000"


def variant_color(i: int) -> str:
    """Line colour of the i-th compared variant (the palette repeats after 8)."""
    return VARIANT_COLORS[i % len(VARIANT_COLORS)]


def variant_text_color(i: int) -> str:
    """The i-th variant's colour as text on white (≥ MIN_CONTRAST : 1)."""
    return text_color(variant_color(i))


def log_axis(*arrays) -> dict:
    """``LOG_AXIS`` (labels at whole decades, minor ticks unlabelled) when the positive finite
    values of ``arrays`` span at least a decade; within one decade a decade step would leave
    at most one label, so Plotly picks ≤ 4 labelled ticks itself."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays]
                            or [np.zeros(0)])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and math.log10(values.max() / values.min()) >= 1:
        return copy.deepcopy(LOG_AXIS)
    axis = {k: v for k, v in LOG_AXIS.items() if k != "dtick"}
    return {**copy.deepcopy(axis), "nticks": 4}


def sample_view(bounds: Bounds, points) -> tuple[list[Range], int]:
    """The 2D view: the target's ``bounds`` scaled about their centre by the smallest of
    VIEW_FACTORS that holds every finite point (the same factor on both axes: equal aspect),
    and how many points lie outside even the largest view."""
    pts = np.asarray(points, dtype=float).reshape(-1, len(bounds))
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    centre = np.array([(lo + hi) / 2 for lo, hi in bounds])
    half = np.array([(hi - lo) / 2 for lo, hi in bounds])
    need = float(np.max(np.abs(pts - centre) / half)) if len(pts) else 0.0
    factor = next((f for f in VIEW_FACTORS if need <= f), VIEW_FACTORS[-1])
    outside = int(np.sum(np.any(np.abs(pts - centre) > factor * half, axis=1)))
    view = [(float(c - factor * h), float(c + factor * h)) for c, h in zip(centre, half)]
    return view, outside


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


def _peak(values) -> float:
    """Largest finite value of ``values`` (0 for none)."""
    v = np.asarray(values if values is not None else (), dtype=float)
    return float(v[np.isfinite(v)].max(initial=0.0))


def density_top(snaps: Sequence[Snapshot], floor: float = 0.0) -> float:
    """Top of the density axis for 1D frames ``snaps`` (one run's or a comparison's frames so
    far): base = DENSITY_BASE × the tallest p_r, times the smallest DENSITY_GROW^k
    (k ≤ DENSITY_MAX_STEPS) that holds DENSITY_HEADROOM × the tallest p_g; never below
    ``floor`` (the top drawn so far: a live axis only grows, so it does not jump). A p_g taller
    than the largest step (an untrained generator's first spike) is clipped."""
    peak_r = max((_peak(s.p_r) for s in snaps), default=0.0)
    peak_g = max((_peak(s.p_g) for s in snaps), default=0.0)
    base = DENSITY_BASE * peak_r if peak_r > 0 else 1.0
    k = 0
    while k < DENSITY_MAX_STEPS and base * DENSITY_GROW**k < DENSITY_HEADROOM * peak_g:
        k += 1
    return max(float(floor), base * DENSITY_GROW**k)


def _density_top(snap: Snapshot, density_max: float | None) -> float:
    """Fixed top of the density axis: given, else ``density_top`` of this frame alone."""
    if density_max is not None:
        return float(density_max)
    return density_top([snap])


def text_width(text: str, font_px: float) -> float:
    """Estimated width (px) of ``text`` at ``font_px``: 1 em per CJK or full-width character,
    0.6 em per other one (an Arial-like average, a little generous)."""
    return font_px * sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in text)


# Line breaks: never before closing punctuation, never after an opening bracket, never on
# either side of a relation ("k = 5" stays whole).
_CLOSING = set("）)」》”’，。、：；！？,.;:!?")
_OPENING = set("（(「《“‘")
_RELATION = set("=≈≠≤≥<>")
_PIECE = re.compile(r"[^\s\u2e80-\uffff]+\s*|[\u2e80-\uffff]\s*|\s+")


def _pieces(text: str) -> list[str]:
    """What a line break may not split: a latin word (with its trailing spaces) or one CJK
    character, closing punctuation glued to the piece before it, an opening bracket to the one
    after it, a relation sign to both."""
    out: list[str] = []
    glue_next = False
    for piece in _PIECE.findall(text):
        head = piece.strip()[:1]
        if out and (glue_next or not head or head in _CLOSING or head in _RELATION):
            out[-1] += piece
        else:
            out.append(piece)
        glue_next = bool(head) and piece.strip()[-1] in _OPENING | _RELATION
    return out


def wrap_text(text: str, width_px: float, font_px: float) -> list[str]:
    """``text`` greedily broken into lines of at most ``width_px`` (``text_width`` at
    ``font_px``), at spaces or between CJK characters; a single word wider than the line keeps
    a line of its own rather than being cut."""
    lines: list[str] = []
    line = ""
    for piece in _pieces(text.strip()):
        if line and text_width((line + piece).rstrip(), font_px) > width_px:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


TITLE_PAD = 10  # px above a figure title
LINE_SPACING = 1.3  # plotly.js's line height, in em


def title_block(lines: Sequence[str], size: int, color: str = TEXT_COLOR) -> tuple[dict, int]:
    """A top-left figure title of ``lines`` (already wrapped, may hold markup) at ``size`` px,
    and the top margin (px) that holds it with a gap above the plot. plotly.js puts the first
    baseline of a multi-line title at ``pad.t`` (a one-line title is shifted down by its cap
    height, 0.7 em, but the lines of a multi-line one are not), so a multi-line title gets
    0.9 em more padding: its first line would otherwise be cut in half at the top."""
    lines = list(lines) or [""]
    pad = TITLE_PAD + (round(0.9 * size) if len(lines) > 1 else 0)
    height = TITLE_PAD + size * (0.9 + LINE_SPACING * (len(lines) - 1) + 0.3)
    title = {"text": "<br>".join(lines), "font": {"size": size, "color": color}, "x": 0.01,
             "xanchor": "left", "y": 1, "yanchor": "top", "yref": "container",
             "pad": {"t": pad}}
    return title, math.ceil(height) + 12


def _legend_rows(traces: Sequence[dict], width: float, font: int = FONT_SIZE - 1) -> int:
    """Rough count of the rows a horizontal legend of ``traces`` wraps to at ``width`` px."""
    seen: set[str] = set()
    rows, used = 1, 0.0
    for tr in traces:
        name, key = tr.get("name"), tr.get("legendgroup") or tr.get("name")
        if tr.get("showlegend") is False or not name or key in seen:
            continue
        seen.add(key)
        entry = 50 + text_width(name, font)
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return rows


def base_layout(title: str, height: int, traces: Sequence[dict], *, hovermode: str = "closest",
                subtitles: bool = False, legend_width: float = LEGEND_WIDTH,
                style: Style = STYLE) -> dict:
    """The shared look: template, fonts, the title on top and the legend right under it. The
    legend pushes the plot down as it wraps, so it never covers data; the top margin also
    leaves room for subplot titles. Font sizes, grid and modebar follow ``style``."""
    rows = _legend_rows(traces, legend_width, style.legend)
    top = style.title + 34 + (style.legend + 11) * rows + (style.panel_title + 18 if subtitles
                                                           else 8)
    legend = {"orientation": "h", "x": 0, "xanchor": "left",
              "font": {"size": style.legend, "color": TEXT_COLOR}, "tracegroupgap": 0}
    if subtitles:  # below the title, clear of the subplot titles (for this height)
        legend.update(yref="container", y=1 - (style.title + 24) / height, yanchor="top")
    else:  # right on top of the plot area: stays put if a page changes the height
        legend.update(y=1.02, yanchor="bottom")
    layout = {
        "template": TEMPLATE,
        "height": height,
        "font": {"family": FONT_FAMILY, "size": style.tick, "color": TEXT_COLOR},
        "title": {"text": title, "font": {"size": style.title, "color": TEXT_COLOR}, "x": 0.01,
                  "xanchor": "left", "y": 1, "yanchor": "top", "yref": "container",
                  "pad": {"t": 10}},
        "legend": legend,
        "margin": {"l": 70 + 3 * (style.tick - FONT_SIZE), "r": 30, "t": top,
                   "b": 60 + 2 * (style.tick - FONT_SIZE)},
        "hovermode": hovermode,
        "hoverlabel": {"font": {"family": FONT_FAMILY, "size": style.legend}},
        "modebar": dict(MODEBAR),
    }
    if style.grid_color:
        grid = {"gridcolor": style.grid_color, "linecolor": "#444444"}
        layout.update(xaxis=dict(grid), yaxis=dict(grid))
    return layout


def _merge_axes(layout: dict, **axes: dict) -> None:
    """Set ``layout[name]`` to each axis dict, keeping what ``base_layout`` put there."""
    for name, axis in axes.items():
        layout[name] = {**layout.get(name, {}), **axis}


def _single_figure(panel: Panel, *, title: str, height: int, hovermode: str = "closest",
                   style: Style = STYLE):
    """A one-panel figure; right-hand-axis traces go to ``yaxis2`` overlaid on ``y``."""
    data = [{**tr, "yaxis": "y2"} if right else tr for tr, right in panel.traces]
    layout = base_layout(title, height, data, hovermode=hovermode, style=style)
    _merge_axes(layout, xaxis=panel.xaxis, yaxis=panel.yaxis)
    if panel.yaxis2 is not None:
        layout["yaxis2"] = {**panel.yaxis2, "overlaying": "y", "side": "right"}
        layout["margin"]["r"] = 80 + 3 * (style.tick - FONT_SIZE)
    return go.Figure(data=data, layout=layout)


# --------------------------------------------------------------------------- 1D panel


def _density_parts(snap: Snapshot, *, d_name: str, d_rng: Range, top: float, bounds: Bounds,
                   lang: str, legend: bool = True, axis_titles: bool = True,
                   style: Style = STYLE, detail: Detail = FULL) -> Panel:
    """p_r and p_g filled on the left axis, D and D* on the right axis, fake rug at the bottom
    (every k-th grid point and sample: at most ``detail.curve`` and ``detail.rug``)."""
    k = _stride(len(snap.axes[0]), detail.curve)
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
          "fill": None if right else "tozeroy",
          "fillcolor": None if right else rgba(color, style.fill_alpha),
          "line": {"color": color, "dash": dash, "width": style.width(2.5 if right else 1.8)}},
         right)
        for y, name, color, dash, right in curves if y is not None
    ]
    rug = _subsample(snap.fake, detail.rug)[:, 0]
    traces.append((
        {"type": "scatter", "x": rug, "y": np.full(len(rug), -0.035 * top), "mode": "markers",
         "name": _shown_name(t("fig.legend.fakes", lang), len(rug), len(snap.fake), MAX_RUG,
                             lang), "legendgroup": "fakes", "showlegend": legend,
         "hovertemplate": "x = %{x:.2f}",
         "marker": {"symbol": "line-ns-open", "size": style.size(9), "color": COLORS["fake"],
                    "line": {"width": style.width(1.2)}, "opacity": 0.7}}, False))
    span = d_rng[1] - d_rng[0]  # same share below zero as the density axis, a little headroom
    return Panel(
        traces,
        xaxis={"range": list(bounds[0]), "title": {"text": t("fig.axis.x", lang)}},
        yaxis={"range": [-0.07 * top, top], "zeroline": False,
               "title": {"text": t("fig.axis.density", lang) if axis_titles else None}},
        yaxis2={"range": [d_rng[0] - 0.07 * span, d_rng[1] + 0.03 * span], "showgrid": False,
                "zeroline": False, "tickmode": "auto", "nticks": 6,
                "tickfont": {"color": text_color(COLORS["d"])},
                "title": {"text": d_name if axis_titles else None,
                          "font": {"color": text_color(COLORS["d"])}}},
    )


GHOST_OPACITY = 0.35  # the frame before a lone move (Step D / Step G), behind the new one


def _ghost_traces(prev: Snapshot, d_name: str, lang: str,
                  style: Style = STYLE) -> list[tuple[dict, bool]]:
    """The frame before a lone move, faint: 1D p_g and D as dotted lines (D on the right axis),
    2D the generated samples."""
    common = {"type": "scatter", "legendgroup": "before", "opacity": GHOST_OPACITY,
              "hoverinfo": "skip"}
    if prev.dim == 2:
        pts = _subsample(prev.fake, MAX_SCATTER)
        return [({**common, "x": pts[:, 0], "y": pts[:, 1], "mode": "markers",
                  "name": t("moves.ghost.fakes", lang),
                  "marker": {"color": COLORS["fake"], "size": style.size(6)}}, False)]
    k = _stride(len(prev.axes[0]), MAX_CURVE_POINTS)
    x = np.asarray(prev.axes[0])[::k]
    return [({**common, "x": x, "y": np.asarray(y)[::k], "mode": "lines", "name": name,
              "line": {"color": color, "dash": "dot", "width": style.width(2.2)}}, right)
            for y, name, color, right in (
                (prev.p_g, t("moves.ghost.p_g", lang), COLORS["fake"], False),
                (prev.d_out, t("moves.ghost.d", lang, d=d_name), COLORS["d"], True))]


def density_panel(
    snap: Snapshot,
    *,
    d_label: str,
    d_range: Range | None,
    bounds: Bounds,
    density_max: float | None = None,
    lang: str = "en",
    style: Style = STYLE,
    previous: Snapshot | None = None,
    detail: Detail = FULL,
) -> go.Figure:
    """1D frame: p_r, p_g (left axis), D(x) and D*(x) (right axis), a rug of fakes; with
    ``previous``, that frame's p_g and D faintly behind (``_ghost_traces``); ``detail``: how
    many points it draws."""
    ghost_d = previous.d_out if previous is not None else None
    panel = _density_parts(snap, d_name=d_label, d_rng=d_axis_range(d_range, snap.d_out,
                           snap.d_star, ghost_d), top=_density_top(snap, density_max),
                           bounds=bounds, lang=lang, style=style, detail=detail)
    if previous is not None:
        panel.traces[:0] = _ghost_traces(previous, d_label, lang, style)
    return _single_figure(panel, title=t("fig.density.title", lang, step=snap.step),
                          height=HEIGHTS["density"], hovermode="x unified", style=style)


# --------------------------------------------------------------------------- 2D panel


def _shown_name(name: str, shown: int, n: int, cap: int, lang: str) -> str:
    """A samples trace's name; a live figure that draws fewer of the ``n`` samples than an
    export would (at most ``cap``: ``_subsample``) says how many ("generated samples (150 of
    300 drawn)")."""
    if shown >= len(range(0, n, _stride(n, cap))):
        return name
    return t("fig.legend.shown", lang, name=name, shown=shown, n=n)


def _arrow_trace(fake: np.ndarray, push: np.ndarray, span: float, name: str, legend: bool,
                 style: Style = STYLE, cap: int = MAX_ARROWS):
    """All push arrows (the first ``cap``) in ONE trace: segments separated by NaN, an
    arrowhead at each tip. Lengths are relative within the frame; the top 5 % are capped at
    ARROW_FRACTION·span."""
    fake, push = fake[:cap], push[:cap]
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
        "line": {"color": COLORS["push"], "width": style.width(1.1)}, "opacity": 0.75,
        "marker": {"symbol": "arrow", "angleref": "previous", "color": COLORS["push"],
                   "size": np.tile([0, style.size(8), 0], len(fake))},
    }


def _scatter_trace(points: np.ndarray, name: str, color: str, size: float, legend: bool,
                   style: Style = STYLE, outline: float = FULL.outline) -> dict:
    marker = {"color": color, "size": style.size(size), "opacity": 0.85}
    if outline:
        marker["line"] = {"color": "white", "width": outline}
    return {
        "type": "scatter", "x": points[:, 0], "y": points[:, 1], "mode": "markers", "name": name,
        "legendgroup": name, "showlegend": legend, "hovertemplate": "(%{x:.2f}, %{y:.2f})",
        "marker": marker,
    }


def _frame_trace(bounds: Bounds, name: str) -> dict:
    """The target's frame (where D is drawn) as a dashed rectangle, when the view is larger."""
    (x0, x1), (y0, y1) = bounds[0], bounds[1]
    return {"type": "scatter", "x": [x0, x1, x1, x0, x0], "y": [y0, y0, y1, y1, y0],
            "mode": "lines", "name": name, "showlegend": False, "hoverinfo": "name",
            "line": {"color": COLORS["ref"], "dash": "dash", "width": 1.2}}


def _samples_parts(snap: Snapshot, *, d_name: str, d_rng: Range, bounds: Bounds, lang: str,
                   legend: bool = True, colorbar: bool = True, view: Bounds | None = None,
                   style: Style = STYLE, detail: Detail = FULL) -> Panel:
    """D heatmap (over ``bounds``), real and fake samples, push arrows (as many as ``detail``
    allows); equal aspect, axis ranges = ``view`` (default: ``bounds``; a larger view also
    draws the bounds' frame)."""
    view = [tuple(r) for r in (view or bounds)]
    kx = _stride(len(snap.axes[0]), MAX_GRID)
    ky = _stride(len(snap.axes[1]), MAX_GRID)
    heat = {
        "type": "heatmap", "x": np.asarray(snap.axes[0])[::kx],
        "y": np.asarray(snap.axes[1])[::ky], "z": np.asarray(snap.d_out)[::ky, ::kx],
        "zmin": d_rng[0], "zmax": d_rng[1], "colorscale": D_COLORSCALE, "zsmooth": detail.smooth,
        "showscale": colorbar, "name": d_name,
        "hovertemplate": "(%{x:.2f}, %{y:.2f})<br>%{z:.3f}<extra>" + d_name + "</extra>",
        "colorbar": {"title": {"text": d_name, "side": "right"}, "orientation": "h", "x": 0.5,
                     "xanchor": "center", "yref": "container", "y": 0.02, "yanchor": "bottom",
                     "len": 0.45, "thickness": 12},
    }
    fake = _subsample(snap.fake, detail.fakes)
    push = _subsample(snap.fake_push, detail.fakes)
    real = _subsample(snap.real, detail.reals)
    names = [_shown_name(t(key, lang), len(pts), len(every), MAX_SCATTER, lang)
             for key, pts, every in (("fig.legend.reals", real, snap.real),
                                     ("fig.legend.fakes", fake, snap.fake))]
    traces = [
        heat,
        _scatter_trace(real, names[0], COLORS["real"], 7, legend, style, detail.outline),
        _scatter_trace(fake, names[1], COLORS["fake"], 7, legend, style, detail.outline),
        _arrow_trace(fake, push, float(bounds[0][1] - bounds[0][0]), t("fig.legend.push", lang),
                     legend, style, detail.arrows),
    ]
    if view != [tuple(r) for r in bounds]:
        traces.insert(1, _frame_trace(bounds, t("fig.samples.frame", lang)))
    axis = {"constrain": "domain", "showgrid": False, "zeroline": False}
    return Panel(
        [(tr, False) for tr in traces],
        xaxis={**axis, "range": list(view[0]), "title": {"text": t("fig.axis.x", lang)}},
        yaxis={**axis, "range": list(view[1]), "title": {"text": t("fig.axis.y", lang)},
               "scaleanchor": "x", "scaleratio": 1},
    )


def outside_note(n: int, lang: str, style: Style = STYLE) -> dict:
    """Annotation in the plot's top-right corner: "n generated samples outside the view"."""
    return {"text": t("fig.samples.outside", lang, n=n), "xref": "paper", "yref": "paper",
            "x": 1, "y": 1, "xanchor": "right", "yanchor": "top", "showarrow": False,
            "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": text_color(COLORS["fake"]),
            "font": {"size": style.legend, "color": text_color(COLORS["fake"])}}


def samples_panel(
    snap: Snapshot,
    *,
    d_label: str,
    d_range: Range | None,
    bounds: Bounds,
    lang: str = "en",
    style: Style = STYLE,
    previous: Snapshot | None = None,
    detail: Detail = FULL,
) -> go.Figure:
    """2D frame: D(x) heatmap with colourbar, real and fake samples, arrows of −∇ₓL_G. The view
    grows (``sample_view``) so that the generated samples stay in it; those still outside
    the largest view are counted in a note. ``previous``: that frame's samples, faint.
    ``detail``: how much it draws (``LIVE`` in the live view, else ``FULL``)."""
    view, outside = sample_view(bounds, snap.fake)
    panel = _samples_parts(snap, d_name=d_label, d_rng=d_axis_range(d_range, snap.d_out),
                           bounds=bounds, lang=lang, view=view, style=style, detail=detail)
    if previous is not None:  # above the heatmap, below the new samples
        panel.traces[1:1] = _ghost_traces(previous, d_label, lang, style)
    fig = _single_figure(panel, title=t("fig.samples.title", lang, step=snap.step),
                         height=HEIGHTS["samples"], style=style)
    if outside:
        fig.add_annotation(outside_note(outside, lang, style))
    return fig


def frame_panel(snap: Snapshot, **kw) -> go.Figure:
    """``density_panel`` for 1D snapshots, ``samples_panel`` for 2D ones (``previous=`` an
    earlier frame of the same run draws it faintly behind: the ghost of a lone move;
    ``detail=`` how much it draws)."""
    if snap.dim == 1:
        return density_panel(snap, **kw)
    kw.pop("density_max", None)
    return samples_panel(snap, **kw)


# --------------------------------------------------------------------------- history curves


def _series_traces(hist: Mapping[str, np.ndarray], series: Sequence[Series], *,
                   positive: bool = False, legend: bool = True, group: str | None = None,
                   axes: tuple[str, str] = ("x", "y"), style: Style = STYLE) -> list[dict]:
    """One curve per ``Series`` against ``hist["step"]`` (NaN and, if asked, ≤ 0 dropped)."""
    steps = hist.get("step", np.zeros(0))
    traces = []
    for s in series:
        x, y = _thin(steps, hist.get(s.column, np.full(len(steps), np.nan)), positive=positive)
        traces.append({
            "type": "scatter", "x": x, "y": y, "name": s.name, "mode": s.mode,
            "legendgroup": group or s.name, "showlegend": legend, "xaxis": axes[0],
            "yaxis": axes[1], "hovertemplate": "%{y:.4g}",
            "line": {"color": s.color, "dash": s.dash, "width": style.width(2)},
            "marker": {"color": s.color, "size": style.size(5)},
        })
    return traces


def _hline(hist, y: float, name: str, *, legend: bool = True, axes=("x", "y"),
           style: Style = STYLE) -> dict:
    """A dashed grey reference line across the recorded steps (a trace, so it has a legend)."""
    steps = np.asarray(hist.get("step", []), dtype=float)
    steps = steps[np.isfinite(steps)]
    x = [float(steps.min()), float(steps.max())] if steps.size else [0.0, 1.0]
    return {"type": "scatter", "x": x, "y": [y, y], "mode": "lines", "name": name,
            "showlegend": legend, "xaxis": axes[0], "yaxis": axes[1],
            "hovertemplate": f"{y:.4f}", "line": {"color": COLORS["ref"], "dash": "dash",
                                                  "width": style.width(1.5)}}


def _log_values(hist, columns: Sequence[str]) -> list[np.ndarray]:
    return [np.asarray(hist.get(c, ()), dtype=float) for c in columns]


def _series_figure(hist, series, *, title: str, y_title: str, lang: str, log: bool = False,
                   style: Style = STYLE):
    """A single-axis curve figure over training steps."""
    y_axis = log_axis(*_log_values(hist, [s.column for s in series])) if log else {}
    panel = Panel(
        [(tr, False) for tr in _series_traces(hist, series, positive=log, style=style)],
        xaxis={"title": {"text": t("fig.axis.step", lang)}},
        # automargin: the left margin grows to hold the tick labels and the axis title (log
        # labels such as 10⁻³ and a title of two words would otherwise be cut at the left).
        yaxis={"title": {"text": y_title}, "automargin": True, **y_axis},
    )
    return _single_figure(panel, title=title, height=HEIGHTS["curves"], hovermode="x unified",
                          style=style)


def loss_curves(hist_arrays: Mapping[str, np.ndarray], lang: str = "en",
                style: Style = STYLE) -> go.Figure:
    """D and G loss against the step."""
    series = [
        Series("d_loss", t("fig.loss.d", lang), COLORS["d"]),
        Series("g_loss", t("fig.loss.g", lang), COLORS["fake"]),
    ]
    return _series_figure(hist_arrays, series, title=t("fig.loss.title", lang),
                          y_title=t("fig.axis.loss", lang), lang=lang, style=style)


def grad_norm_curves(hist_arrays: Mapping[str, np.ndarray], lang: str = "en",
                     style: Style = STYLE) -> go.Figure:
    """‖∇θ_G L_G‖, ‖∇θ_D L_D‖ and mean ‖∇ₓL_G‖ at the fakes, on a log axis."""
    series = [
        Series("g_grad_norm", t("fig.grad.g", lang), COLORS["fake"]),
        Series("d_grad_norm", t("fig.grad.d", lang), COLORS["d"]),
        Series("x_grad_norm", t("fig.grad.x", lang), COLORS["x_grad"], "dot"),
    ]
    return _series_figure(hist_arrays, series, title=t("fig.grad.title", lang),
                          y_title=t("fig.axis.grad_norm", lang), lang=lang, log=True,
                          style=style)


def _side_by_side(titles: Sequence[str], gap: float = 0.1, style: Style = STYLE) -> dict:
    """Layout entries for two panels side by side, each with its title above it."""
    half = (1 - gap) / 2
    domains = ([0, half], [1 - half, 1])
    return {
        "xaxis": {"domain": domains[0], "anchor": "y"},
        "xaxis2": {"domain": domains[1], "anchor": "y2"},
        "annotations": [
            {"text": text, "x": sum(dom) / 2, "xref": "paper", "y": 1, "yref": "paper",
             "xanchor": "center", "yanchor": "bottom", "showarrow": False,
             "font": {"size": style.panel_title, "color": TEXT_COLOR}}
            for text, dom in zip(titles, domains, strict=True)
        ],
    }


def _inf_markers(hist, columns: Sequence[str], names: Sequence[str], top: float,
                 style: Style = STYLE) -> list[dict]:
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
                           "marker": {"symbol": "triangle-up", "size": style.size(9),
                                      "color": COLORS["ref"]}})
    return traces


def divergence_curves(hist_arrays: Mapping[str, np.ndarray], lang: str = "en",
                      info: Mapping | None = None, style: Style = STYLE) -> go.Figure:
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
    ], positive=True, style=style)
    finite = [v for c in ("js", "kl_rg", "kl_gr", "w1")
              for v in np.asarray(hist.get(c, []), dtype=float) if np.isfinite(v) and v > 0]
    data += _inf_markers(hist, ("kl_rg", "kl_gr"),
                         (t("fig.div.kl_rg", lang), t("fig.div.kl_gr", lang)),
                         max(finite, default=1.0) * 2, style)
    data.append(_hline(hist, LN2, t("fig.div.ln2", lang), style=style))
    data += _series_traces(from_js, [
        Series("v_opt", t("fig.div.v_opt", lang), COLORS["v_opt"], mode="markers"),
        Series("v_js", t("fig.div.v_js", lang), COLORS["js"]),
    ], axes=right, style=style)
    data.append(_hline(hist, -2.0 * LN2, t("fig.div.v_min", lang), axes=right, style=style))
    layout = base_layout(t("fig.div.title", lang), HEIGHTS["divergence"], data,
                         hovermode="x unified", subtitles=True, style=style)
    sides = _side_by_side([t("fig.div.sub_a", lang), t("fig.div.sub_b", lang)], style=style)
    _merge_axes(layout, xaxis=sides.pop("xaxis"), xaxis2=sides.pop("xaxis2"))
    layout.update(sides)
    step_title = {"text": t("fig.axis.step", lang)}
    layout["xaxis"]["title"] = layout["xaxis2"]["title"] = step_title
    _merge_axes(layout, yaxis={"anchor": "x", "title": {"text": t("fig.div.axis_a", lang)},
                               "automargin": True,
                               **log_axis(finite + [LN2])},
                yaxis2={**layout.get("yaxis", {}), "anchor": "x2",
                        "title": {"text": t("fig.div.axis_b", lang)}})
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


def _panel_title(name: str, snap: Snapshot, d_label: str, rng: Range, lang: str,
                 style: Style = STYLE) -> str:
    """Two lines: variant and step; then what the right axis (1D) or the shading (2D) shows."""
    head = t("fig.cmp.panel", lang, name=name, step=snap.step)
    if snap.dim == 1:
        sub = t("fig.cmp.d_axis", lang, label=d_label)
    else:
        sub = t("fig.cmp.range", lang, label=d_label, lo=f"{rng[0]:g}", hi=f"{rng[1]:g}")
    return f"<b>{head}</b><br><span style='font-size:{style.tick}px'>{sub}</span>"


def _grid_panel(snap: Snapshot, *, first: bool, left_title: bool, top: float, lang: str,
                style: Style = STYLE, **kw) -> Panel:
    """One variant's frame for the grid: no colourbar and no right-axis title (both are in the
    panel title); the density axis title on the first column only; legend from the first."""
    if snap.dim == 2:
        return _samples_parts(snap, lang=lang, legend=first, colorbar=False, style=style, **kw)
    kw.pop("view", None)
    panel = _density_parts(snap, top=top, lang=lang, legend=first, axis_titles=False,
                           style=style, **kw)
    if left_title:
        panel.yaxis["title"] = {"text": t("fig.axis.density", lang)}
    return panel


def variant_curves(histories, names: Sequence[str], lang: str,
                   style: Style = STYLE) -> list[list[dict]]:
    """Bottom row, per cell: JS (with ln 2) | W1 | ‖∇θ_G‖, one colour per variant."""
    cells: list[list[dict]] = [[], [], []]
    for i, name in enumerate(names):
        hist = histories.get(name)
        if hist is None:
            continue
        for j, (column, log) in enumerate((("js", False), ("w1", False), ("g_grad_norm", True))):
            cells[j] += _series_traces(hist, [Series(column, name, variant_color(i))],
                                       positive=log, legend=j == 0, group=f"variant-{name}",
                                       style=style)
    drawn = [histories[n] for n in names if n in histories]
    if drawn:
        cells[0].append(_hline(drawn[0], LN2, t("fig.div.ln2", lang), legend=False,
                               style=style))
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
    style: Style = STYLE,
) -> go.Figure:
    """One report figure: a panel per variant on identical axes (≤ 4 per row; a 2D view grown
    to hold every variant's samples), then JS, W1 and ‖∇θ_G‖ (log) of every variant
    overlaid, then the caption. Laid out for 1600 px wide."""
    dim = frames[0][1].dim if frames else 1
    ncols = max(1, min(len(frames), 4))
    names = [name for name, _ in frames]
    labels = {n: d_labels.get(n, "D(x)") for n in names}
    ranges = {n: d_axis_range(d_ranges.get(n), s.d_out, s.d_star if dim == 1 else None)
              for n, s in frames}
    view = None
    if dim == 2 and frames:
        view, _ = sample_view(bounds, np.concatenate([np.asarray(s.fake, dtype=float)
                                                      for _, s in frames]))
    caption_lines = [line for line in caption.splitlines() if line.strip()]
    caption_lines.append(t(f"fig.cmp.note_{dim}d", lang))
    line_px = style.tick + 10
    caption_px = line_px * len(caption_lines) + 20
    height = PANEL_ROW_PX * (math.ceil(max(len(frames), 1) / ncols) + 1) + caption_px
    skeleton, cells = _grid_skeleton(len(frames), dim, height)
    layout = copy.deepcopy(skeleton)
    top = (float(density_max) if density_max is not None
           else density_top([s for _, s in frames]) if dim == 1 else 1.0)
    data: list[dict] = []
    for i, (name, snap) in enumerate(frames):
        panel = _grid_panel(snap, first=i == 0, left_title=i % ncols == 0, top=top, lang=lang,
                            d_name=labels[name], d_rng=ranges[name], bounds=bounds,
                            view=view, style=style)
        data += _place(layout, panel, cells[i])
    curve_titles = ("fig.cmp.js", "fig.cmp.w1", "fig.cmp.grad_g")
    for j, traces in enumerate(variant_curves(histories, names, lang, style)):
        x_id, y_id, _ = cells[len(frames) + j]
        data += [{**tr, "xaxis": x_id, "yaxis": y_id} for tr in traces]
        layout[_axis_key(x_id)]["title"] = {"text": t("fig.axis.step", lang)}
        layout["annotations"][len(frames) + j].update(
            text=t(curve_titles[j], lang), font={"size": style.panel_title, "color": TEXT_COLOR})
    grads = [np.asarray(h.get("g_grad_norm", ()), dtype=float) for h in histories.values()]
    layout[_axis_key(cells[-1][1])].update(log_axis(*grads))
    for i, (name, snap) in enumerate(frames):
        layout["annotations"][i].update(
            text=_panel_title(name, snap, labels[name], ranges[name], lang, style),
            font={"color": variant_text_color(i), "size": style.panel_title})
    base = base_layout(t("fig.cmp.title", lang), height, data, subtitles=True,
                       legend_width=COMPARISON_WIDTH - 100, style=style)
    grid = base.pop("xaxis", None)  # a style's grid colour goes to every cell's axes
    base.pop("yaxis", None)
    layout.update(base)
    for key in [k for k in layout if grid and k.startswith(("xaxis", "yaxis"))]:
        layout[key].update(grid)
    layout["margin"].update(t=layout["margin"]["t"] + 14, b=caption_px + 70, r=60)
    layout["annotations"].append({
        "text": "<br>".join(caption_lines), "xref": "paper", "yref": "paper", "x": 0, "y": 0,
        "xanchor": "left", "yanchor": "top", "yshift": -62, "align": "left",
        "showarrow": False, "font": {"size": style.tick, "color": TEXT_COLOR},
    })
    return go.Figure(data=data, layout=layout)
