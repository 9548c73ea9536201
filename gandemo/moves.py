"""What one lone move did (the Train page's Step D / Step G), read off the frames before and after.

The frames share the evaluation noise z, so generated sample i before and after the move is the
same draw: its displacement Δx_i = x_i(after) − x_i(before) is what G's update did to it.

* D step (G frozen): p_g and the JS estimate stay as they were; D moves. ``d_gap`` = mean over
  the grid cells where D* is defined of |D(x) − D*(x)|, before → after (losses without a closed
  form D* report ``d_change`` = mean |D_after − D_before| instead).
* G step (D frozen): p_g moves. The JS estimate (as the curves show it), exact W1 between the
  displayed real and generated samples, before → after, and ``shift`` = mean of
  Δx_i · ∇D(x_i)/‖∇D(x_i)‖ at the samples' old places inside D's grid: + means uphill, towards
  what D scores as real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import metrics as M
from .i18n import t
from .snapshot import Snapshot

SAME_JS = 1e-9  # |ΔJS| below this reads "unchanged"


@dataclass(frozen=True)
class MoveSummary:
    """The numbers of one lone move; ``sentence`` words them."""

    player: str  # "d" or "g"
    step: int  # iterations done when the move was made (a lone move is not one)
    js: tuple[float, float]  # JS estimate (nats), before, after
    w1: tuple[float, float]  # W1 of the displayed samples, before, after
    d_gap: tuple[float, float] | None  # mean |D − D*|, before, after; None: no closed-form D*
    d_change: float  # mean |D_after − D_before| over the grid
    shift: float  # mean displacement of the samples along D's slope (+ = uphill)
    moved: float  # mean ‖Δx_i‖ of the samples


def js_estimate(snap: Snapshot) -> float:
    """The frame's JS estimate (nats): ``metrics.divergences`` as in the JS curve, or, for a
    frame without one, JS of its grid densities."""
    if math.isfinite(snap.js):
        return snap.js
    return M.js_divergence(snap.p_r, snap.p_g, M.cell_area(snap.axes))


def w1_samples(snap: Snapshot) -> float:
    """Exact W1 between the frame's real and generated samples (1D quantiles, 2D optimal
    transport on the displayed points)."""
    if not np.all(np.isfinite(snap.fake)):
        return math.nan
    if snap.dim == 1:
        return M.w1_1d(snap.real, snap.fake)
    return M.w1_ot(snap.real, snap.fake, max_n=len(snap.fake))[0]


def d_gap(snap: Snapshot) -> float | None:
    """mean |D − D*| over the cells where both are defined; None without a closed-form D*."""
    if snap.d_star is None:
        return None
    ok = np.isfinite(snap.d_star) & np.isfinite(snap.d_out)
    return float(np.abs(snap.d_out - snap.d_star)[ok].mean()) if ok.any() else math.nan


def uphill(snap: Snapshot, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit ∇D at each point, inside): D's slope from central differences on the grid, taken
    at the nearest grid node; ``inside`` marks points within the grid with a non-zero slope."""
    points = np.asarray(points, dtype=float).reshape(len(points), snap.dim)
    axes = [np.asarray(a, dtype=float) for a in snap.axes]
    d = np.asarray(snap.d_out, dtype=float)
    grads = np.gradient(d, *axes[::-1]) if snap.dim == 2 else [np.gradient(d, axes[0])]
    grads = grads[::-1]  # per axis x, y (arrays are indexed (y, x))
    inside = np.ones(len(points), dtype=bool)
    index = []
    for k, a in enumerate(axes):
        p = points[:, k]
        inside &= np.isfinite(p) & (p >= a[0]) & (p <= a[-1])
        cell = np.rint((np.nan_to_num(p) - a[0]) / (a[1] - a[0])).astype(int)
        index.append(np.clip(cell, 0, len(a) - 1))
    at = tuple(index[::-1])  # (y, x) or (x,)
    g = np.stack([gk[at] for gk in grads], axis=1)
    norm = np.linalg.norm(g, axis=1)
    inside &= np.isfinite(norm) & (norm > 0)
    return g / np.where(inside, norm, 1.0)[:, None], inside


def summarize(player: str, before: Snapshot, after: Snapshot) -> MoveSummary:
    """The numbers of one lone move from the frames before and after it (same run)."""
    delta = np.asarray(after.fake, dtype=float) - np.asarray(before.fake, dtype=float)
    direction, inside = uphill(before, before.fake)
    along = (delta * direction).sum(axis=1)[inside]
    gaps = d_gap(before), d_gap(after)
    with np.errstate(invalid="ignore"):
        change = float(np.nanmean(np.abs(np.asarray(after.d_out) - np.asarray(before.d_out))))
    return MoveSummary(
        player=player, step=after.step,
        js=(js_estimate(before), js_estimate(after)),
        w1=(w1_samples(before), w1_samples(after)),
        d_gap=None if gaps[0] is None or gaps[1] is None else gaps,
        d_change=change,
        shift=float(along.mean()) if along.size else math.nan,
        moved=float(np.linalg.norm(delta, axis=1).mean()) if len(delta) else math.nan,
    )


def _f(v: float) -> str:
    return f"{v:.3f}"


def _pair(a: float, b: float) -> tuple[str, str]:
    """Both numbers with 3 decimals, or up to 5 where 3 would print a change as no change."""
    for digits in (3, 4, 5):
        fa, fb = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if fa != fb:
            break
    return fa, fb


def sentence(s: MoveSummary, lang: str = "en") -> str:
    """One sentence on what the move did, with its numbers (3 decimals)."""
    js0, js1 = s.js
    if abs(js1 - js0) < SAME_JS:
        js = t("moves.js.same", lang, js=_f(js0))
    else:
        js0, js1 = _pair(js0, js1)
        js = t("moves.js.change", lang, js0=js0, js1=js1)
    if s.player == "g":
        w0, w1 = _pair(*s.w1)
        return t("moves.g", lang, js=js, w0=w0, w1=w1,
                 shift=f"{s.shift:+.3f}", moved=_f(s.moved))
    if s.d_gap is None:
        return t("moves.d.no_star", lang, js=js, change=_f(s.d_change))
    gap0, gap1 = s.d_gap
    key = "moves.d.toward" if gap1 <= gap0 else "moves.d.away"
    return t(key, lang, js=js, dist=_f(abs(gap0 - gap1)), **dict(zip(("gap0", "gap1"),
                                                                     _pair(gap0, gap1))))
