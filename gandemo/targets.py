"""Registry of the real distributions p_r a GAN learns: exact samplers and exact (log-)densities.

Every target is either a mixture of isotropic Gaussians or a 1D SciPy distribution, so its
log-density and the probability of any grid cell both have closed forms. ``density_on_grid``
returns cell probabilities divided by the cell area (the density averaged over each cell). That
stays faithful when a mode is narrower than a cell (``ring8``: σ = 0.02 on a 0.063 grid, where
point values would alias), and it is exactly what a histogram of samples estimates.

2D arrays on the grid have shape (ny, nx): the row index is y, as Plotly heatmaps expect.
"""

from __future__ import annotations

import re
import threading
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import special, stats
from scipy.spatial.distance import cdist
from scipy.stats.distributions import rv_frozen

DEFAULT_GRID = {1: 400, 2: 96}  # grid points per axis when grid() is called without n


@dataclass(frozen=True, kw_only=True, eq=False)
class Target(ABC):
    """A real distribution p_r on R^dim with a fixed plotting window ``bounds`` (one (lo, hi) per
    axis, wide enough for the target and for a generator that starts near 0).

    ``modes``/``mode_std`` are the centres (K, dim) and common σ of a mixture of well-separated
    modes, for the mode metrics; None otherwise. ``exact_density`` says ``log_density`` is the
    exact density of ``sample`` (true for every entry here). ``defaults``: the settings a run on
    this target starts from where they differ from RunConfig's (read-only mapping).
    """

    name: str
    dim: int
    description: str
    bounds: tuple[tuple[float, float], ...]
    modes: np.ndarray | None = None
    mode_std: float | None = None
    exact_density: bool = True
    kde_bandwidth: float = 0.1
    # Settings this target starts with instead of RunConfig's defaults (``config.target_defaults``):
    # chosen by measurement so that a run with them converges within its default steps.
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n i.i.d. draws as an (n, dim) float32 array; deterministic given ``rng``'s state."""

    @abstractmethod
    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log p_r(x) for points x of shape (m, dim), as (m,) float64."""

    @abstractmethod
    def _cell_mass(self, edges: tuple[np.ndarray, ...]) -> np.ndarray:
        """P_r(cell) for the cells between consecutive ``edges`` (one array per axis)."""

    @abstractmethod
    def log_mass_outside(self, edges: tuple[np.ndarray, ...]) -> float:
        """log P_r(x outside the box [edges[d][0], edges[d][-1]] on some axis d), in log space
        (−∞ only when p_r truly has no mass there)."""

    def grid(self, n: int | None = None) -> tuple[np.ndarray, ...]:
        """Uniform axes over ``bounds``, n points each (default 400 in 1D, 96 per axis in 2D)."""
        n = n or DEFAULT_GRID[self.dim]
        return tuple(np.linspace(lo, hi, n) for lo, hi in self.bounds)

    def density_on_grid(self, axes: tuple[np.ndarray, ...]) -> np.ndarray:
        """p_r averaged over the cell around each grid point, P_r(cell)/area, renormalised so that
        Σ p·area = 1 over the grid (mass outside the grid is dropped). 1D: (nx,); 2D: (ny, nx).
        Cells are centred on the points: edges halfway between them, ±h/2 beyond the ends."""
        steps = [a[1] - a[0] for a in axes]
        edges = tuple(np.append(a - h / 2, a[-1] + h / 2) for a, h in zip(axes, steps, strict=True))
        mass = self._cell_mass(edges)
        return mass / (mass.sum() * np.prod(steps))


@dataclass(frozen=True, kw_only=True, eq=False)
class GaussianMixture(Target):
    """p(x) = Σ_k w_k·N(x; μ_k, σ²·I): ``means`` (K, dim), common ``std`` σ, ``weights`` w."""

    means: np.ndarray
    std: float
    weights: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Pick a component k ~ w, then x = μ_k + σ·z with z ~ N(0, I)."""
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        x = self.means[k] + self.std * rng.standard_normal((n, self.dim))
        return x.astype(np.float32)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log Σ_k w_k·(2πσ²)^(−dim/2)·exp(−‖x − μ_k‖²/(2σ²)), by logsumexp."""
        x = np.asarray(x, dtype=float).reshape(-1, self.dim)
        d2 = cdist(x, self.means, "sqeuclidean")
        log_norm = self.dim * np.log(self.std * np.sqrt(2 * np.pi))
        return special.logsumexp(np.log(self.weights) - d2 / (2 * self.std**2), axis=1) - log_norm

    def _cell_mass(self, edges: tuple[np.ndarray, ...]) -> np.ndarray:
        """Isotropic components factorise over axes: P(cell) = Σ_k w_k·Π_d P_kd(interval),
        P_kd([a, b]) = Φ((b − μ_kd)/σ) − Φ((a − μ_kd)/σ). In 2D a (ny, K)·(K, nx) product."""
        per_axis = [_normal_interval_mass(e, mu, self.std)
                    for e, mu in zip(edges, self.means.T, strict=True)]
        if self.dim == 1:
            return self.weights @ per_axis[0]
        return (per_axis[1].T * self.weights) @ per_axis[0]

    def log_mass_outside(self, edges: tuple[np.ndarray, ...]) -> float:
        """Per component, log ε_d = log[Φ((lo − μ)/σ) + Φ((μ − hi)/σ)] on each axis and
        P(outside) = 1 − Π_d(1 − ε_d) (the union bound Σ ε_d when every ε_d < e⁻³⁰, exact to
        that relative error); then log Σ_k w_k·P_k."""
        log_eps = np.stack([log_outside_interval(e[0], e[-1], mu, self.std)
                            for e, mu in zip(edges, self.means.T, strict=True)])  # (dim, K)
        return float(special.logsumexp(np.log(self.weights) + log_union(log_eps)))


@dataclass(frozen=True, kw_only=True, eq=False)
class ScipyTarget(Target):
    """A 1D target given by a frozen ``scipy.stats`` distribution ``dist``."""

    dist: rv_frozen

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.dist.rvs(size=(n, 1), random_state=rng).astype(np.float32)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        return self.dist.logpdf(np.asarray(x, dtype=float).reshape(-1))

    def _cell_mass(self, edges: tuple[np.ndarray, ...]) -> np.ndarray:
        """P([a, b]) = F(b) − F(a)."""
        return np.diff(self.dist.cdf(edges[0]))

    def log_mass_outside(self, edges: tuple[np.ndarray, ...]) -> float:
        """log[F(lo) + 1 − F(hi)] from logcdf/logsf (−∞ for a uniform inside the window)."""
        with np.errstate(divide="ignore"):
            return float(np.logaddexp(self.dist.logcdf(edges[0][0]), self.dist.logsf(edges[0][-1])))


def _normal_interval_mass(edges: np.ndarray, mu: np.ndarray, std: float) -> np.ndarray:
    """(K, len(edges) − 1) array of N(μ_k, σ²)-probabilities of [edges_i, edges_i+1]. Right of
    the mean the upper tails Φ(−a) − Φ(−b) are subtracted, so tiny tail masses keep precision."""
    z = (edges[None, :] - mu[:, None]) / std
    cdf, sf = special.ndtr(z), special.ndtr(-z)
    return np.where(z[:, :-1] > 0, sf[:, :-1] - sf[:, 1:], cdf[:, 1:] - cdf[:, :-1])


def log_outside_interval(lo: float, hi: float, mu, std: float) -> np.ndarray:
    """log P(μ + σZ ∉ [lo, hi]) = log[Φ((lo − μ)/σ) + Φ((μ − hi)/σ)], in log space."""
    return np.logaddexp(special.log_ndtr((lo - mu) / std), special.log_ndtr((mu - hi) / std))


def log_union(log_eps: np.ndarray) -> np.ndarray:
    """log P(some axis d is out) = log[1 − Π_d(1 − ε_d)] for independent axes, from log ε_d
    along axis 0; the union bound Σ ε_d where every ε_d < e⁻³⁰ (exact to that relative error),
    so tiny probabilities keep their value instead of rounding to 0."""
    log_eps = np.asarray(log_eps, dtype=float)
    with np.errstate(divide="ignore"):
        exact = np.log(-np.expm1(np.log1p(-np.exp(np.minimum(log_eps, 0))).sum(0)))
    return np.where(log_eps.max(0) > -30, exact, special.logsumexp(log_eps, axis=0))


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def _mixture(name: str, description: str, bounds, means, std: float, weights=None,
             separated: bool = True, h: float = 0.1,
             defaults: Mapping[str, Any] | None = None) -> GaussianMixture:
    """Registry helper. ``separated=False`` hides the modes from the mode metrics (used for the
    moons and the swiss roll, whose many overlapping components only shape a curve);
    ``defaults``: the target's own starting settings (``Target.defaults``)."""
    means = _readonly(np.reshape(means, (len(means), -1)))
    k = len(means)
    return GaussianMixture(
        name=name, dim=means.shape[1], description=description, bounds=bounds,
        modes=means if separated else None, mode_std=std if separated else None,
        means=means, std=std, weights=_readonly(np.full(k, 1 / k) if weights is None else weights),
        kde_bandwidth=h, defaults=MappingProxyType(dict(defaults or {})),
    )


def _ring8() -> np.ndarray:
    """Centres 2·(cos 2πk/8, sin 2πk/8), k = 0..7 (np.arange: no duplicated endpoint)."""
    angle = 2 * np.pi * np.arange(8) / 8
    return 2 * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def _grid25() -> np.ndarray:
    """Centres (i, j) for i, j ∈ {−4, −2, 0, 2, 4}."""
    v = np.arange(-4.0, 5.0, 2.0)
    return np.stack(np.meshgrid(v, v), axis=-1).reshape(-1, 2)


def _moons(per_arc: int = 50, scale: float = 1.5) -> np.ndarray:
    """sklearn's two moons as curves, evenly spaced: the upper arc (cos t, sin t) and the lower
    arc (1 − cos t, ½ − sin t), t ∈ [0, π]; centred on (½, ¼) and scaled by ``scale``."""
    t = np.linspace(0, np.pi, per_arc)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    return scale * (np.concatenate([upper, lower]) - [0.5, 0.25])


def _swiss_roll(k: int = 150, scale: float = 1 / 5) -> np.ndarray:
    """sklearn's swiss-roll curve θ·(cos θ, sin θ), θ ∈ [1.5π, 4.5π], times ``scale``, with k
    centres equally spaced in arc length, then shifted so its bounding box is centred on 0."""
    theta = np.linspace(1.5 * np.pi, 4.5 * np.pi, 4001)
    curve = scale * theta[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    arc = np.append(0, np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1)))
    theta_k = np.interp(np.linspace(0, arc[-1], k), arc, theta)
    centres = scale * theta_k[:, None] * np.stack([np.cos(theta_k), np.sin(theta_k)], axis=1)
    return centres - (curve.max(0) + curve.min(0)) / 2


_BOUNDS_1D = ((-5.0, 5.0),)

# Per-target starting settings (docs/target-defaults.md has the rule and the measurements).
# ring8: with RunConfig's defaults (k = 1, η_D = η_G = 2·10⁻⁴) G hops between modes and ends
# with 0 of 8 on seed 0; a D that learns 3× faster (two time-scale rule) keeps up with it.
RING8_DEFAULTS = {"lr_d": 6e-4}
# grid25: 25 modes need a wider G and D, larger batches, faster steps and more of them.
GRID25_DEFAULTS = {"batch": 512, "g_width": 128, "d_width": 128, "lr_g": 5e-4, "lr_d": 5e-4,
                   "steps": 4000}


class _Registry(dict):
    """The named targets. Iteration, ``in`` and ``len`` see only them; a lookup by the name of a
    custom target (``custom-<digest>``, see ``custom_target``) also finds it while it is
    loaded, so code that indexes ``TARGETS[cfg.target]`` works for every config."""

    def __missing__(self, key):
        found = find_custom(key)
        if found is None:
            raise KeyError(key)
        return found


TARGETS: dict[str, Target] = _Registry({
    t.name: t
    for t in (
        _mixture("gaussian", "N(2, 0.5²)", _BOUNDS_1D, [2.0], 0.5),
        _mixture("bimodal", "½·N(−2, 0.5²) + ½·N(2, 0.5²)", _BOUNDS_1D, [-2.0, 2.0], 0.5),
        _mixture("trimodal", "0.2·N(−3, 0.4²) + 0.5·N(0, 0.4²) + 0.3·N(3, 0.4²)", _BOUNDS_1D,
                 [-3.0, 0.0, 3.0], 0.4, weights=[0.2, 0.5, 0.3]),
        ScipyTarget(name="uniform", dim=1, description="U(−1, 3): density ¼ on [−1, 3]",
                    bounds=_BOUNDS_1D, dist=stats.uniform(loc=-1, scale=4)),
        ScipyTarget(name="skewed", dim=1, bounds=_BOUNDS_1D, dist=stats.skewnorm(5, -1, 1.5),
                    description="skew-normal (2/ω)·φ((x−ξ)/ω)·Φ(α(x−ξ)/ω), α = 5, ξ = −1, ω = 1.5"),
        # Student-t tails are polynomial: P(|x| > 8) = 2·t₃.sf(8/0.7) ≈ 1.4e-3 lies outside the
        # window, so the grid density is renormalised over 99.86% of the mass.
        ScipyTarget(name="heavy-tailed", dim=1, bounds=((-8.0, 8.0),), dist=stats.t(3, 0, 0.7),
                    description="Student-t, ν = 3, loc 0, scale 0.7 (tails ∝ |x|⁻⁴)"),
        _mixture("ring8", "⅛·Σₖ N(2·(cos 2πk/8, sin 2πk/8), 0.02²·I), k = 0..7",
                 ((-3.0, 3.0), (-3.0, 3.0)), _ring8(), 0.02, h=0.05, defaults=RING8_DEFAULTS),
        _mixture("grid25", "1/25·Σ N((i, j), 0.05²·I), i, j ∈ {−4, −2, 0, 2, 4}",
                 ((-6.0, 6.0), (-6.0, 6.0)), _grid25(), 0.05, defaults=GRID25_DEFAULTS),
        # Moons and swiss roll are exact mixtures of many equal-weight N(c, 0.1²·I) whose centres
        # c lie evenly along the curve (spacing ≈ σ, so the ridge is smooth): sampler and
        # log_density agree exactly. No mode metrics: the components overlap.
        _mixture("moons", "two moons: mean of 100 N(c, 0.1²·I), c evenly on two half-circle arcs "
                 "of radius 1.5",
                 ((-3.0, 3.0), (-3.0, 3.0)), _moons(), 0.1, separated=False),
        _mixture("swissroll", "swiss roll: mean of 150 N(c, 0.1²·I), c evenly on (θ/5)·(cos θ, "
                 "sin θ), θ ∈ [1.5π, 4.5π]", ((-3.0, 3.0), (-3.0, 3.0)), _swiss_roll(), 0.1,
                 separated=False),
    )
})


def get_target(name: str) -> Target:
    """The registry entry ``name`` (or a loaded custom target); a ConfigError naming the allowed
    targets otherwise (bad input, unlike a KeyError from a bug)."""
    from .config import ConfigError

    try:
        return TARGETS[name]
    except KeyError:
        if is_custom(name):
            raise ConfigError("target", f"custom target {name!r} is not loaded here; its config "
                              "carries the points in 'data'") from None
        raise ConfigError("target", f"unknown {name!r}; allowed: {', '.join(TARGETS)}") from None


# --------------------------------------------------------------------------- your own points
#
# p_r = (1/n)·Σ_i N(x_i, h²·I) over the user's points x_i (an exact Gaussian mixture, so every
# metric works as for the built-in targets), named ``custom-<digest of the points>``. A
# RunConfig holding the points keeps its target alive; lookups by name find it meanwhile.

CUSTOM = "custom"
BANDWIDTH_RANGE = (0.02, 5.0)  # h is clipped to this range (data units)
_CUSTOM_NAME = re.compile(r"custom-[0-9a-f]{10}")
_LOADED: weakref.WeakValueDictionary[str, Target] = weakref.WeakValueDictionary()
_RECENT: OrderedDict[str, Target] = OrderedDict()  # the last few, kept even without a config
_RECENT_SIZE = 8
_LOCK = threading.Lock()


def is_custom(name) -> bool:
    """True for ``custom`` (points given separately) and ``custom-<10 hex digits>``."""
    return isinstance(name, str) and (name == CUSTOM or bool(_CUSTOM_NAME.fullmatch(name)))


def points_bandwidth(points: np.ndarray) -> float:
    """h = min(Scott's rule σ̂·n^(−1/(d+4)), s), clipped to ``BANDWIDTH_RANGE``: σ̂ the mean over
    the axes of the sample standard deviation (ddof = 1), s the median distance from a point to
    its nearest neighbour. Scott alone smooths a drawn shape (a ring, a face) into a blob; with
    h ≤ s the components overlap just enough to make a smooth ridge along a curve of points
    (as the moons and the swiss roll are built). A single point gets the lower bound."""
    from scipy.spatial import cKDTree

    n, d = points.shape
    if n == 1:
        return BANDWIDTH_RANGE[0]
    scott = float(points.std(axis=0, ddof=1).mean()) * n ** (-1 / (d + 4))
    spacing = float(np.median(cKDTree(points).query(points, k=2)[0][:, 1]))
    return float(np.clip(min(scott, spacing), *BANDWIDTH_RANGE))


def custom_window(points: np.ndarray, h: float) -> tuple[tuple[float, float], ...]:
    """The plotting window: per axis the span of the points and 0 (where the generator starts),
    widened by max(4h, 10% of that span, 0.5) each side; in 2D a square around the same
    centre (the wider axis decides), so shapes are not stretched."""
    lo = np.minimum(points.min(axis=0), 0.0)
    hi = np.maximum(points.max(axis=0), 0.0)
    margin = np.maximum.reduce([np.full_like(lo, 4 * h), 0.1 * (hi - lo), np.full_like(lo, 0.5)])
    lo, hi = lo - margin, hi + margin
    half = (hi - lo).max() / 2
    mid = (hi + lo) / 2
    return tuple((float(c - half), float(c + half)) for c in mid)


def custom_target(points) -> GaussianMixture:
    """The target of a point set (checked by ``userdata.check_points``): equal-weight
    N(x_i, h²·I), h by ``points_bandwidth``, window by ``custom_window``, the divergences
    smoothed with the same h; the same object for the same points while it is loaded."""
    from .userdata import check_points, digest

    pts = check_points(points)
    name = f"{CUSTOM}-{digest(pts)}"
    with _LOCK:
        found = _LOADED.get(name)
        if found is None:
            n, dim = pts.shape
            h = points_bandwidth(pts)
            found = GaussianMixture(
                name=name, dim=dim, bounds=custom_window(pts, h), means=pts, std=h,
                weights=_readonly(np.full(n, 1 / n)), kde_bandwidth=h,
                description=f"your {n} points ({dim}D): (1/{n})·Σ N(xᵢ, h²·I), h = {h:.3g} "
                            "(min of Scott's rule and the median neighbour spacing)")
            _LOADED[name] = found
        _RECENT[name] = found
        _RECENT.move_to_end(name)
        while len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return found


def find_custom(name) -> GaussianMixture | None:
    """The loaded custom target called ``name``, or None."""
    if not is_custom(name) or name == CUSTOM:
        return None
    with _LOCK:
        return _LOADED.get(name)
