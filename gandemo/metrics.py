"""Divergences, distances and mode statistics between p_r and p_g (NumPy/SciPy only, fast).

Densities are arrays on a uniform grid (any shape) and ``area`` is the grid's cell area
(``cell_area(axes)``), so ∫f dx ≈ Σ f·area. The divergence functions normalise their inputs
first; a density with no mass on the grid normalises to NaN, and NaN propagates into the result.
Logarithms are natural: divergences are in nats.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import product

import numpy as np
from scipy import ndimage, special
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from .targets import get_target, log_outside_interval, log_union

LN2 = float(np.log(2))
MIN_BANDWIDTH_CELLS = 1.0  # binned_density never smooths with less than one grid cell


def cell_area(axes) -> float:
    """Π_d (x_d[1] − x_d[0]): the volume of one cell of a uniform grid."""
    return float(np.prod([a[1] - a[0] for a in axes]))


def normalise(p, area: float) -> np.ndarray:
    """p / (Σ p·area), so the result integrates to 1; all-NaN when p has no (finite) mass."""
    p = np.asarray(p, dtype=float)
    total = p.sum() * area
    return p / total if np.isfinite(total) and total > 0 else np.full(p.shape, np.nan)


def kl_divergence(p, q, area: float, floor: float = 1e-12) -> float:
    """KL(p‖q) = ∫ p·log(p/q). Cells with p = 0 contribute 0; q is floored at ``floor`` (after
    normalising) so that p > 0 where q = 0 gives a large finite value instead of ∞."""
    p, q = normalise(p, area), np.maximum(normalise(q, area), floor)
    return float(special.rel_entr(p, q).sum() * area)


def js_divergence(p, q, area: float) -> float:
    """JS(p, q) = ½·KL(p‖m) + ½·KL(q‖m), m = (p + q)/2. Symmetric, in [0, ln 2] (clipped there
    against rounding); exactly ln 2 when the supports are disjoint."""
    p, q = normalise(p, area), normalise(q, area)
    m = (p + q) / 2
    js = (special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()) * area / 2
    return float(np.clip(js, 0.0, LN2))


def total_variation(p, q, area: float) -> float:
    """TV(p, q) = ½·∫|p − q|, in [0, 1]."""
    return float(np.abs(normalise(p, area) - normalise(q, area)).sum() * area / 2)


def optimal_discriminator(p_r, p_g) -> np.ndarray:
    """D*(x) = p_r/(p_r + p_g) for the GAN value function (Goodfellow 2014, Prop. 1); ½ where
    both densities vanish. Pass both densities with the same normalisation."""
    p_r, p_g = np.asarray(p_r, dtype=float), np.asarray(p_g, dtype=float)
    s = p_r + p_g
    return np.divide(p_r, s, out=np.full(s.shape, 0.5), where=s > 0)


def value_at_optimum(p_r, p_g, area: float) -> float:
    """V(G, D*) = E_pr log D* + E_pg log(1 − D*) = 2·JS(p_r, p_g) − 2·ln 2, with D* as in
    ``optimal_discriminator``. Uses log D* = log(p_r/s), log(1 − D*) = log(p_g/s), s = p_r + p_g,
    so that 1 − D* ≈ 0 does not round to log 0."""
    p_r, p_g = normalise(p_r, area), normalise(p_g, area)
    s = p_r + p_g
    return float((special.rel_entr(p_r, s).sum() + special.rel_entr(p_g, s).sum()) * area)


def _w1_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """W1 = ∫₀¹ |F_a⁻¹(u) − F_b⁻¹(u)| du between the empirical laws of each row of ``a`` (…, n)
    and ``b`` (…, m), both sorted along the last axis. The quantile functions are steps, constant
    on the intervals between the merged breakpoints u ∈ {i/n} ∪ {j/m}; on (u_{k−1}, u_k] F_a⁻¹
    is a[i] with i the first index with (i+1)/n ≥ u_k. So the integral is an exact finite sum;
    for n = m it is mean |a_i − b_i|."""
    n, m = a.shape[-1], b.shape[-1]
    if n == m:
        return np.abs(a - b).mean(-1, dtype=float)
    ua, ub = np.arange(1, n + 1) / n, np.arange(1, m + 1) / m
    u = np.union1d(ua, ub)
    du = np.diff(u, prepend=0.0)
    ia, ib = np.searchsorted(ua, u), np.searchsorted(ub, u)
    return (np.abs(a[..., ia] - b[..., ib]) * du).sum(-1)


def w1_1d(a, b) -> float:
    """Exact W1 between two 1D sample sets of any sizes (equals
    ``scipy.stats.wasserstein_distance``), from their sorted quantile functions."""
    return float(_w1_sorted(np.sort(np.ravel(a)), np.sort(np.ravel(b))))


def w1_sliced(a, b, n_proj: int = 64, seed: int = 0) -> float:
    """Sliced W1 of 2D sample sets: E_θ W1(⟨a, θ⟩, ⟨b, θ⟩) over unit directions θ, averaged over
    n_proj directions at angles (k + U)·π/n_proj, k = 0..n_proj−1, with one offset U ~ U(0, 1)
    drawn from ``seed`` (stratified: lower variance than i.i.d. angles; θ and −θ give the same
    W1, so half a turn suffices). Projections are 1-Lipschitz, hence sliced W1 ≤ W1; a pure
    shift s gives ‖s‖·E|cos| = (2/π)·‖s‖."""
    angle = (np.arange(n_proj) + np.random.default_rng(seed).random()) * np.pi / n_proj
    # float32, the samples' own precision (G and the targets emit float32), halves the sort time
    directions = np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
    pa = np.sort(directions @ np.asarray(a, dtype=np.float32).reshape(-1, 2).T, axis=1)
    pb = np.sort(directions @ np.asarray(b, dtype=np.float32).reshape(-1, 2).T, axis=1)
    return float(_w1_sorted(pa, pb).mean())


def w1_exact(a, b, max_n: int = 500, seed: int = 0) -> float:
    """Exact W1 between equal-size subsamples (k = min(len a, len b, max_n), drawn without
    replacement with ``seed``; all points when a set has ≤ k). Between two uniform k-point
    measures an optimal plan is a permutation (Birkhoff), found by ``linear_sum_assignment``
    on the Euclidean cost matrix: W1 = min_π (1/k)·Σ_i ‖a_i − b_π(i)‖. O(k³): for tests/exports."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    rng = np.random.default_rng(seed)
    k = min(len(a), len(b), max_n)
    a = a[rng.choice(len(a), k, replace=False)] if len(a) > k else a
    b = b[rng.choice(len(b), k, replace=False)] if len(b) > k else b
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def scott_bandwidth(samples) -> np.ndarray:
    """Scott's rule per axis: h_d = σ̂_d·n^(−1/(dim+4)) for samples of shape (n, dim)."""
    x = np.asarray(samples, dtype=float)
    x = x.reshape(len(x), -1)
    return x.std(axis=0) * len(x) ** (-1 / (x.shape[1] + 4))


def smooth_density(p, axes, bandwidth) -> np.ndarray:
    """Convolve a grid density with a Gaussian kernel of std ``bandwidth`` (scalar or one per
    axis, in data units; at least MIN_BANDWIDTH_CELLS cells). Mass pushed past the grid edges is
    lost, not reflected. Apply it to p_r with the bandwidth used for p_g to compare like with
    like: a perfect generator then has JS ≈ 0 even when p_r's modes are narrower than the kernel."""
    steps = np.array([a[1] - a[0] for a in axes])
    sigma = np.maximum(np.broadcast_to(np.asarray(bandwidth, dtype=float), steps.shape) / steps,
                       MIN_BANDWIDTH_CELLS)
    return ndimage.gaussian_filter(np.asarray(p, dtype=float), sigma[::-1], mode="constant")


def binned_density(samples, axes, bandwidth=None) -> np.ndarray:
    """Binned KDE of ``samples`` (n, dim) on the grid ``axes``: 1D (nx,), 2D (ny, nx), row = y.

    Linear binning: a sample at fractional grid coordinate t = i + f (per axis) gives weight
    Π_d (1 − f_d or f_d) to the 2^dim surrounding grid points (keeps the mean exact; one
    bincount, no loop over samples). The histogram is then smoothed by ``smooth_density`` with
    ``bandwidth`` (default: Scott's rule on the kept samples) and normalised so Σ p·area = 1.
    Samples beyond the outer cells (more than half a cell past the first/last grid point) and
    non-finite samples are dropped; if none is left the result is all NaN. O(n + grid) time.
    """
    dim = len(axes)
    sizes = np.array([len(a) for a in axes])
    steps = np.array([a[1] - a[0] for a in axes])
    x = np.asarray(samples, dtype=float).reshape(-1, dim)
    t = (x - [a[0] for a in axes]) / steps
    keep = np.all((t >= -0.5) & (t <= sizes - 0.5), axis=1)
    x, t = x[keep], np.clip(t[keep], 0, sizes - 1)
    shape = tuple(sizes[::-1])  # (nx,) or (ny, nx)
    if not len(t):
        return np.full(shape, np.nan)
    i = np.minimum(t.astype(int), sizes - 2)  # left node (t ≥ 0); i + 1 stays on the grid
    f = t - i
    strides = np.cumprod(np.append(1, sizes[:-1]))  # flat index Σ_d i_d·stride_d, x fastest
    base = i @ strides
    side = (1 - f, f)
    corners = list(product((0, 1), repeat=dim))
    nodes = np.concatenate([base + np.dot(c, strides) for c in corners])
    weights = np.concatenate([np.prod([side[c_d][:, d] for d, c_d in enumerate(c)], axis=0)
                              for c in corners])
    hist = np.bincount(nodes, weights, minlength=int(np.prod(sizes))).reshape(shape)
    bw = scott_bandwidth(x) if bandwidth is None else bandwidth
    return normalise(smooth_density(hist, axes, bw), cell_area(axes))


def mode_stats(samples, centres, std, thresh: float = 3.0) -> dict:
    """Mode coverage (VEEGAN/PacGAN protocol). Each sample goes to the centre μ_k with the
    smallest normalised distance ‖x − μ_k‖/σ; it is high quality (HQ) when that distance is
    < ``thresh``. Returns modes_covered (modes with ≥ 1 HQ sample), n_modes and hq_share (HQ
    fraction). For real data hq_share = P(χ²_dim < thresh²): 0.9973 in 1D, 0.9889 in 2D."""
    centres = np.asarray(centres, dtype=float)
    centres = centres.reshape(len(centres), -1)
    x = np.asarray(samples, dtype=float).reshape(-1, centres.shape[1])
    d2 = cdist(x, centres, "sqeuclidean")
    nearest = d2.argmin(axis=1)
    hq = d2[np.arange(len(x)), nearest] < (thresh * std) ** 2
    return {
        "modes_covered": int(np.unique(nearest[hq]).size),
        "n_modes": len(centres),
        "hq_share": float(hq.mean()) if len(x) else float("nan"),
    }


def gaussian_kl(mu1: float, s1: float, mu2: float, s2: float) -> float:
    """KL(N(μ1, s1²) ‖ N(μ2, s2²)) = log(s2/s1) + (s1² + (μ1 − μ2)²)/(2·s2²) − ½."""
    return float(np.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5)


# --------------------------------------------------------------------------- one estimator

DIVERGENCE_GRID = {1: 400, 2: 64}  # default grid points per axis (the trainer's grid)
W1_SUBSAMPLE = 500  # points per side for exact OT in 2D (≈ 0.05 s with POT; n = 1000: ≈ 0.5 s)


def _log_cell_kernel(centres: np.ndarray, edges: np.ndarray, h: float):
    """log K[i, j] = log P(c_j + h·Z ∈ [e_i, e_i+1]), Z ~ N(0, 1): the Gaussian kernel
    integrated over each cell, and log P(c_j + h·Z outside [e_0, e_n]) (the leak, which goes to
    the outside cell). Φ differences are taken in log space on the tail side
    (log Φ(b) + log(1 − Φ(a)/Φ(b))), so far-off cells keep exact tiny masses instead of 0."""
    zl = (edges[:-1, None] - centres[None, :]) / h
    zh = (edges[1:, None] - centres[None, :]) / h
    right = zl > 0  # the whole cell lies right of the source: use upper tails Φ(−z)
    big = np.where(right, special.log_ndtr(-zl), special.log_ndtr(zh))
    small = np.where(right, special.log_ndtr(-zh), special.log_ndtr(zl))
    with np.errstate(divide="ignore"):
        log_k = big + np.log1p(-np.exp(small - big))
    return log_k, log_outside_interval(edges[0], edges[-1], centres, h)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """log Σ exp(a) along ``axis``, exact in the tails (each slice scaled by its own max; −∞
    where every term is −∞). scipy's logsumexp computes the same, ~4× slower on these sizes."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - top).sum(axis=axis)) + np.squeeze(top, axis)


# Below this a product-space sum may hold underflowed terms that matter: recomputed in log space.
_SUM_FLOOR = 1e-280


def _log_matmul(log_k: np.ndarray, exp_k: np.ndarray, log_m: np.ndarray) -> np.ndarray:
    """log Σ_j exp(log_k[i, j] + log_m[r, j]) for every row r of log_m (R, n) → (R, n_out).

    Fast path: exp(log_m − its row max) @ exp(log_k)ᵀ in float64 (``exp_k`` = exp(log_k)). A
    term lost to underflow there is below e^−745 of the scale, so an entry whose sum is at least
    ``_SUM_FLOOR`` is exact to rounding; the entries below it (cells far from every mass, where
    the tails matter) are recomputed term by term in log space. Same numbers as a logsumexp over
    j, at a matrix product's cost."""
    top = np.max(log_m, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.exp(log_m - top) @ exp_k.T
        out = np.log(total) + top
    rows, cols = np.nonzero(~(total >= _SUM_FLOOR))
    if len(rows):
        out[rows, cols] = _logsumexp(log_k[cols] + log_m[rows], axis=1)
    return out


def _log_smooth(log_mass: np.ndarray, kernels: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """log of (mass convolved with the per-axis cell kernels), separably and in log space:
    1D (nx,) with kernels [Kx]; 2D (ny, nx) with [Kx, Ky]; each kernel as (log K, K)."""
    if log_mass.ndim == 1:
        return _log_matmul(*kernels[0], log_mass[None, :])[0]
    kx, ky = kernels
    a = _log_matmul(*kx, log_mass)  # (ny, nx): along x
    return _log_matmul(*ky, a.T).T  # along y


def _log_kl(la: np.ndarray, lb: np.ndarray) -> float:
    """KL(a‖b) = Σ a·(log a − log b) over cells with a > 0, from log masses; ∞ exactly when
    a > 0 on a cell where b = 0 (log b = −∞)."""
    pos = np.isfinite(la)
    if np.any(pos & ~np.isfinite(lb)):
        return float("inf")
    return float(max((np.exp(la[pos]) * (la[pos] - lb[pos])).sum(), 0.0))


class DivergenceEstimator:
    """JS, KL both ways, TV and V(G, D*) between a target p_r and generated samples, on a fixed
    partition: the cells of ``axes`` (centred on the grid points) plus one OUTSIDE cell.

    * p_r: the target's exact cell masses; the outside cell gets its exact mass beyond the
      window (``Target.log_mass_outside``, in log space, so 1e-300 stays 1e-300).
    * p_g: linear binning of the samples onto the grid points; samples beyond the window (and
      non-finite ones) count in the outside cell — they are never dropped.
    * Both are smoothed by the SAME fixed Gaussian kernel of std h (``target.kde_bandwidth``
      unless given; never taken from the samples), integrated over the cells (what the kernel
      carries past the window joins the outside cell), so like is compared with like: the
      numbers are the divergences between p_r∗K_h and p_g∗K_h on this partition. A perfect
      generator reads ≈ 0 up to the sampling error (docs/theory.md), and h does not change
      when p_g collapses, so values compare across time and across variants.
    * Everything is computed from log masses: tails never fall on a floor. KL is ∞ (with
      ``kl_*_reason``) only when one side has mass on a cell where the other has none; after
      the common smoothing both have full support, so two far-apart distributions read a
      large finite KL ≈ d²/(2h²) (the smoothed truth), not ∞ and not a floor.
    """

    def __init__(self, target, axes=None, bandwidth: float | None = None):
        self.target = get_target(target) if isinstance(target, str) else target
        h = self.target.kde_bandwidth if bandwidth is None else bandwidth
        if not (isinstance(h, (int, float)) and np.isfinite(h) and h > 0):
            raise ValueError(f"bandwidth must be a finite number > 0 (data units), got {h!r}")
        self.h = float(h)
        self.axes = (tuple(axes) if axes is not None
                     else self.target.grid(DIVERGENCE_GRID[self.target.dim]))
        steps = [a[1] - a[0] for a in self.axes]
        self.edges = tuple(np.append(a - s / 2, a[-1] + s / 2)
                           for a, s in zip(self.axes, steps, strict=True))
        self.area = cell_area(self.axes)
        kern = [_log_cell_kernel(a, e, self.h) for a, e in zip(self.axes, self.edges)]
        self.kernels = [(k, np.exp(k)) for k, _ in kern]
        leak = [lk for _, lk in kern]  # per axis, per source cell
        # log P(a kernel step from cell (i, j) leaves the window): union over the axes
        self.log_leak = (leak[0] if len(leak) == 1
                         else log_union(np.stack(np.broadcast_arrays(leak[0][None, :],
                                                                     leak[1][:, None]))))
        mass = np.asarray(self.target._cell_mass(self.edges), dtype=float)
        log_out = float(self.target.log_mass_outside(self.edges))
        inside = -np.expm1(log_out) if log_out > -1 else 1.0  # P(window), exact near 1
        with np.errstate(divide="ignore"):
            self.log_r = self._smooth(np.log(mass * (inside / mass.sum())), log_out)

    def _smooth(self, log_mass: np.ndarray, log_out: float) -> np.ndarray:
        """Flat log masses of (cells, outside) after the kernel step: what leaves the window
        joins the outside cell, so the total stays 1."""
        leaked = float(_logsumexp((log_mass + self.log_leak).ravel(), axis=0))
        return np.append(_log_smooth(log_mass, self.kernels).ravel(),
                         np.logaddexp(log_out, leaked))

    def histogram(self, samples) -> tuple[np.ndarray, float]:
        """Linear-binned counts on the grid points (shape of the grid) and the number of
        samples outside the window (beyond the outer cell edges, or non-finite)."""
        dim = len(self.axes)
        x = np.asarray(samples, dtype=float).reshape(-1, dim)
        sizes = np.array([len(a) for a in self.axes])
        lo = np.array([e[0] for e in self.edges])
        hi = np.array([e[-1] for e in self.edges])
        keep = np.all(np.isfinite(x) & (x >= lo) & (x <= hi), axis=1)
        t = np.clip((x[keep] - [a[0] for a in self.axes]) / [a[1] - a[0] for a in self.axes],
                    0, sizes - 1)
        i = np.minimum(t.astype(int), sizes - 2)
        f = t - i
        strides = np.cumprod(np.append(1, sizes[:-1]))
        corners = list(product((0, 1), repeat=dim))
        nodes = np.concatenate([(i + c) @ strides for c in corners])
        side = (1 - f, f)
        w = np.concatenate([np.prod([side[c_d][:, d] for d, c_d in enumerate(c)], axis=0)
                            for c in corners])
        hist = np.bincount(nodes, w, minlength=int(np.prod(sizes))).reshape(tuple(sizes[::-1]))
        return hist, float(len(x) - keep.sum())

    def log_g(self, samples) -> np.ndarray:
        """log masses of p_g∗K_h on the cells, then the outside cell (flat, sums to 1)."""
        hist, out = self.histogram(samples)
        n = hist.sum() + out
        if n == 0:
            raise ValueError("samples: need at least one generated point")
        with np.errstate(divide="ignore"):
            return self._smooth(np.log(hist / n), np.log(out / n))

    def density(self, log_mass: np.ndarray) -> np.ndarray:
        """The grid density (mass / cell area, grid shape) of a flat log-mass vector."""
        shape = tuple(len(a) for a in self.axes)[::-1]
        return np.exp(log_mass[:-1]).reshape(shape) / self.area

    def __call__(self, samples) -> dict:
        """The divergence part of ``divergences`` (no W1)."""
        la, lb = self.log_r, self.log_g(samples)
        with np.errstate(divide="ignore", invalid="ignore"):
            ls = np.logaddexp(la, lb)  # log(p_r + p_g)
            ta = np.where(np.isfinite(la), np.exp(la) * (la - ls), 0.0).sum()
            tb = np.where(np.isfinite(lb), np.exp(lb) * (lb - ls), 0.0).sum()
        v_opt = float(ta + tb)  # E_pr log D* + E_pg log(1 − D*), D* = p_r/(p_r + p_g)
        js = float(np.clip(v_opt / 2 + LN2, 0.0, LN2))
        out = {
            "js": js, "v_opt": 2 * js - 2 * LN2,
            "kl_rg": _log_kl(la, lb), "kl_gr": _log_kl(lb, la),
            "tv": float(np.abs(np.exp(la) - np.exp(lb)).sum() / 2),
            "bandwidth": self.h, "outside_mass": float(np.exp(lb[-1])),
            "outside_mass_r": float(np.exp(la[-1])),
        }
        for key, (p, q) in {"kl_rg": ("p_r", "p_g"), "kl_gr": ("p_g", "p_r")}.items():
            if np.isinf(out[key]):
                out[key + "_reason"] = (f"{p} has mass outside the plotting window, where {q} "
                                        "has none: KL is infinite")
        out["p_r"], out["p_g"] = self.density(la), self.density(lb)
        return out


def w1_ot(a, b, max_n: int = W1_SUBSAMPLE, seed: int = 0) -> tuple[float, int]:
    """Exact W1 = min over couplings γ of Σ γ_ij‖a_i − b_j‖ between the uniform empirical laws
    of subsamples of a and b (at most ``max_n`` points each, drawn without replacement with
    ``seed``), solved by network simplex (POT ``ot.emd2``). Returns (W1, points used per side)."""
    import ot

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    rng = np.random.default_rng(seed)
    a = a[rng.choice(len(a), max_n, replace=False)] if len(a) > max_n else a
    b = b[rng.choice(len(b), max_n, replace=False)] if len(b) > max_n else b
    cost = cdist(a, b)
    return float(ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), cost)), len(a)


# The estimators of the targets seen lately (each holds the target's grid densities); bounded,
# so that a server where students upload many data sets does not keep every one.
_ESTIMATORS: OrderedDict = OrderedDict()
_ESTIMATORS_KEPT = 32


def divergences(target, samples, *, real=None, axes=None, bandwidth: float | None = None,
                w1_n: int = W1_SUBSAMPLE, seed: int = 0, densities: bool = False,
                w1: bool = True) -> dict:
    """JS, KL(p_r‖p_g) (``kl_rg``), KL(p_g‖p_r) (``kl_gr``), TV, V(G, D*) = 2·JS − 2·ln 2, W1.

    ``target``: a name or a ``Target``; ``samples``: (n, dim) generated points. Densities as in
    ``DivergenceEstimator`` (both smoothed by the target's fixed ``kde_bandwidth`` h, reported
    as ``bandwidth``; mass outside the window kept, ``outside_mass``; ∞ as float('inf') with a
    ``kl_rg_reason``/``kl_gr_reason``). W1 against ``real`` (default: as many target samples,
    drawn with ``seed``): in 1D exact from all points (sorted quantiles); in 2D exact optimal
    transport on ``w1_n`` points per side (``w1_n`` in the result, ``w1_method`` says which).
    ``densities=True`` also returns the smoothed grid densities ``p_r`` and ``p_g``;
    ``w1=False`` skips W1 (see ``w1_distance``: the costly part in 2D)."""
    tgt = get_target(target) if isinstance(target, str) else target
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[1] != tgt.dim or not len(x):
        raise ValueError(f"samples must be an (n, {tgt.dim}) array with n ≥ 1, got {x.shape}")
    if not isinstance(w1_n, (int, np.integer)) or w1_n < 2:
        raise ValueError(f"w1_n must be an integer ≥ 2, got {w1_n!r}")
    key = (id(tgt), None if axes is None else tuple((a[0], a[-1], len(a)) for a in axes),
           bandwidth)
    est = _ESTIMATORS.get(key)
    if est is None or est.target is not tgt:
        est = _ESTIMATORS[key] = DivergenceEstimator(tgt, axes, bandwidth)
    _ESTIMATORS.move_to_end(key)
    while len(_ESTIMATORS) > _ESTIMATORS_KEPT:
        _ESTIMATORS.popitem(last=False)
    out = est(x)
    if not densities:
        del out["p_r"], out["p_g"]
    if w1:
        out.update(w1_distance(tgt, x, real=real, w1_n=w1_n, seed=seed))
    return out


def w1_distance(target, samples, *, real=None, w1_n: int = W1_SUBSAMPLE, seed: int = 0) -> dict:
    """W1 between ``samples`` and ``real`` (default: as many target samples, drawn with
    ``seed``): in 1D exact from all points (sorted quantiles), in 2D exact optimal transport on
    ``w1_n`` points per side. Returns ``w1``, ``w1_n`` and ``w1_method`` (which one, in words)."""
    tgt = get_target(target) if isinstance(target, str) else target
    x = np.asarray(samples, dtype=float)
    real = tgt.sample(np.random.default_rng(seed), len(x)) if real is None else real
    finite = x[np.all(np.isfinite(x), axis=1)]
    if not len(finite):
        return {"w1": float("inf"), "w1_n": 0, "w1_method": "none: no finite sample"}
    if tgt.dim == 1:
        return {"w1": w1_1d(finite, real), "w1_n": len(finite),
                "w1_method": f"exact (1D quantiles), n = {len(finite)}"}
    value, k = w1_ot(finite, real, w1_n, seed)
    return {"w1": value, "w1_n": k, "w1_method": f"exact OT on n = {k}"}
