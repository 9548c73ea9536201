"""The Theory page's numbers and figures: divergences between two 1D densities, no training.

Everything here is pure (NumPy/SciPy/Plotly, never Streamlit) and instant: a pair of densities on
one fixed fine grid (``GRID``: 8001 points on [−20, 20], dx = 0.005), and every divergence computed
by the same ``gandemo.metrics`` / ``gandemo.losses`` functions the trainer uses:

* ``divergence_table(p, q)``: KL(p‖q), KL(q‖p), JS (nats and bits), W1, TV.
* ``integrands(p, q)``: the pointwise integrands of those five numbers, for plotting.
* ``shift_sweep(dist, shifts)``: JS and W1 as two copies of one density slide apart
  (JS climbs to ln 2 and stays; W1 = the shift, growing linearly).
* ``f_view(name, p, q)``: one row of the f-GAN table: f, f*, D_f(p‖q) and the variational bound.
* ``optimal_view(p_r, p_g)``: D*(x), V(G, D*) and 2·JS − 2·ln 2.
* ``cross_entropy_view`` / ``bce_view``: H(p, q) = H(p) + KL(p‖q), for densities and for BCE.
* ``misconceptions(p, q)``: live numbers for the classic wrong statements about JS and KL.

Densities are cell averages (P(cell)/dx from the CDF, as ``targets.density_on_grid`` does), so a
uniform's edges and a narrow peak keep their exact mass. Logarithms are natural (nats) unless a
name says bits. Figure builders at the bottom take ``lang`` and read every word from the locale.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import special

from . import figures as F
from . import metrics as M
from .figures import STYLE, Style
from .i18n import t
from .losses import F_DIVERGENCES, f_divergence

LN2 = math.log(2.0)
GRID = np.linspace(-20.0, 20.0, 8001)
DX = float(GRID[1] - GRID[0])
# Support rule: ``density`` keeps every cell inside a family's support > 0 (an underflowed tail
# cell holds the smallest normal float), so a cell is exactly 0 only outside the support. KL(p‖q)
# is ∞ as soon as p has ANY mass on such a cell (e.g. N(0, 0.5²) beyond a uniform's ±4). Away
# from that, q is floored at THEORY_FLOOR, which only touches underflowed tails.
THEORY_FLOOR = 1e-300
TINY = np.finfo(float).tiny

# --------------------------------------------------------------------------------------------
# 1D families


@dataclass(frozen=True)
class Param:
    """A slider: name, default, range and step (the page builds its widgets from these)."""

    name: str
    default: float
    lo: float
    hi: float
    step: float


FAMILIES: dict[str, tuple[Param, ...]] = {
    "gaussian": (Param("mu", 0.0, -3.0, 3.0, 0.1), Param("sigma", 1.0, 0.2, 1.5, 0.05)),
    "mixture": (Param("mu1", -1.5, -3.0, 3.0, 0.1), Param("mu2", 1.5, -3.0, 3.0, 0.1),
                Param("sigma", 0.5, 0.2, 1.5, 0.05), Param("w", 0.5, 0.05, 0.95, 0.05)),
    "uniform": (Param("a", -1.0, -4.0, 4.0, 0.1), Param("b", 1.0, -4.0, 4.0, 0.1)),
    "laplace": (Param("mu", 0.0, -3.0, 3.0, 0.1), Param("b", 0.7, 0.2, 1.5, 0.05)),
}
MIN_UNIFORM_WIDTH = 0.1


@dataclass(frozen=True)
class Dist:
    """One member of a 1D family: ``family`` in FAMILIES, ``params`` name -> value, plus a
    horizontal ``shift`` (the density of X + shift)."""

    family: str
    params: tuple[tuple[str, float], ...]
    shift: float = 0.0

    @classmethod
    def make(cls, family: str, **params: float) -> Dist:
        """Validated constructor; missing parameters take their defaults. A uniform needs
        b − a ≥ 0.1 (the endpoints are swapped if given in the wrong order)."""
        if family not in FAMILIES:
            raise KeyError(f"unknown family {family!r}; allowed: {', '.join(FAMILIES)}")
        spec = {p.name: p for p in FAMILIES[family]}
        unknown = set(params) - set(spec)
        if unknown:
            raise KeyError(f"{family}: unknown parameter(s) {sorted(unknown)}")
        values = {n: float(params.get(n, p.default)) for n, p in spec.items()}
        if family == "uniform":
            a, b = sorted((values["a"], values["b"]))
            values.update(a=a, b=max(b, a + MIN_UNIFORM_WIDTH))
        for n in ("sigma", "b"):
            if family != "uniform" and n in values and values[n] <= 0:
                raise ValueError(f"{family}: {n} must be > 0")
        if family == "mixture" and not 0 <= values["w"] <= 1:
            raise ValueError("mixture: w must be in [0, 1]")
        return cls(family, tuple(values.items()))

    @property
    def p(self) -> dict[str, float]:
        return dict(self.params)

    def shifted(self, by: float) -> Dist:
        return Dist(self.family, self.params, self.shift + by)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """F(x) of the (shifted) distribution, in closed form."""
        return self._tails(x)[0]

    def _tails(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(F(x), 1 − F(x), side) with both tails computed directly (no 1 − F cancellation);
        side is True where x lies right of the centre (use the upper tail there)."""
        x = np.asarray(x, dtype=float) - self.shift
        p = self.p
        if self.family in ("gaussian", "mixture"):
            comps = ([(1.0, p["mu"])] if self.family == "gaussian"
                     else [(p["w"], p["mu1"]), (1 - p["w"], p["mu2"])])
            lower = sum(w * special.ndtr((x - m) / p["sigma"]) for w, m in comps)
            upper = sum(w * special.ndtr((m - x) / p["sigma"]) for w, m in comps)
        elif self.family == "uniform":
            lower = np.clip((x - p["a"]) / (p["b"] - p["a"]), 0.0, 1.0)
            upper = 1.0 - lower
        else:  # laplace
            z = (x - p["mu"]) / p["b"]
            lower = np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.abs(z)))
            upper = np.where(z > 0, 0.5 * np.exp(-np.maximum(z, 0)), 1 - 0.5 * np.exp(-np.abs(z)))
        return lower, upper, upper < lower

    def cell_mass(self, edges: np.ndarray) -> np.ndarray:
        """P(edges_i < X ≤ edges_i+1): differences of F left of the centre and of 1 − F right
        of it, so tail cells keep their (tiny) mass instead of rounding to 0. For a mixture each
        component takes its own side."""
        if self.family == "mixture":
            p = self.p
            return sum(w * Dist.make("gaussian", mu=m, sigma=p["sigma"]).shifted(self.shift)
                       .cell_mass(edges)
                       for w, m in ((p["w"], p["mu1"]), (1 - p["w"], p["mu2"])) if w > 0)
        lower, upper, right = self._tails(edges)
        mass = np.where(right[:-1], upper[:-1] - upper[1:], lower[1:] - lower[:-1])
        if self.family == "uniform":
            return np.maximum(mass, 0.0)  # exactly 0 outside [a, b]: off the support
        return np.maximum(mass, TINY)  # full support: an underflowed tail is tiny, not 0

    def mean(self) -> float:
        p = self.p
        m = {"gaussian": lambda: p["mu"], "laplace": lambda: p["mu"],
             "mixture": lambda: p["w"] * p["mu1"] + (1 - p["w"]) * p["mu2"],
             "uniform": lambda: (p["a"] + p["b"]) / 2}[self.family]()
        return m + self.shift

    def entropy(self) -> float | None:
        """Differential entropy h = −∫ p log p in closed form (None for the mixture)."""
        p = self.p
        if self.family == "gaussian":
            return 0.5 * math.log(2 * math.pi * math.e * p["sigma"] ** 2)
        if self.family == "uniform":
            return math.log(p["b"] - p["a"])
        if self.family == "laplace":
            return 1 + math.log(2 * p["b"])
        return None


def density(dist: Dist, grid: np.ndarray = GRID) -> np.ndarray:
    """Cell-averaged density P(cell)/dx on ``grid`` (cells centred on the points), normalised so
    Σ p·dx = 1 (mass beyond the grid, if any, is dropped)."""
    h = grid[1] - grid[0]
    edges = np.append(grid - h / 2, grid[-1] + h / 2)
    return M.normalise(dist.cell_mass(edges) / h, h)


def dx_of(grid: np.ndarray) -> float:
    return float(grid[1] - grid[0])


# --------------------------------------------------------------------------------------------
# The five numbers


def cdf_on_grid(p: np.ndarray, dx: float) -> np.ndarray:
    """F at the right edge of each cell: cumulative Σ p·dx of the normalised density."""
    return np.cumsum(M.normalise(p, dx)) * dx


def w1_from_cdfs(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """W1(p, q) = ∫ |F_p − F_q| dx (exact for the two cell-mass distributions; equals
    ``scipy.stats.wasserstein_distance(grid, grid, p, q)``)."""
    return float(np.abs(cdf_on_grid(p, dx) - cdf_on_grid(q, dx)).sum() * dx)


@dataclass(frozen=True)
class Divergences:
    kl_pq: float  # KL(p‖q), nats (∞ when p has mass where q = 0)
    kl_qp: float  # KL(q‖p), nats
    js: float  # JS(p, q), nats, in [0, ln 2]
    js_bits: float  # JS in bits, in [0, 1]
    w1: float  # Wasserstein-1, in units of x
    tv: float  # total variation ½∫|p − q|, in [0, 1]

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def off_support_mass(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """∫ p over the cells where q is exactly 0 (outside q's support): KL(p‖q) = ∞ iff > 0."""
    pn, qn = M.normalise(p, dx), M.normalise(q, dx)
    return float(pn[qn == 0].sum() * dx)


def kl(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """KL(p‖q) by ``metrics.kl_divergence`` with floor THEORY_FLOOR; ∞ when p puts any mass
    where q = 0 (outside q's support, e.g. a Gaussian's tails beyond a uniform's interval)."""
    if off_support_mass(p, q, dx) > 0:
        return math.inf
    return M.kl_divergence(p, q, dx, floor=THEORY_FLOOR)


def kl_inf_reason(p: np.ndarray, q: np.ndarray, dx: float, p_name: str = "p",
                  q_name: str = "q") -> str | None:
    """Why KL(p‖q) is ∞ (None when it is finite): the mass p puts outside q's support."""
    m = off_support_mass(p, q, dx)
    return (f"{p_name} puts {m:.3g} of its mass where {q_name} = 0: log({p_name}/0) = ∞"
            if m > 0 else None)


def divergence_table(p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> Divergences:
    """KL both ways, JS (nats and bits), W1 and TV between two densities on ``grid``."""
    dx = dx_of(grid)
    js = M.js_divergence(p, q, dx)
    return Divergences(
        kl_pq=kl(p, q, dx),
        kl_qp=kl(q, p, dx),
        js=js,
        js_bits=js / LN2,
        w1=w1_from_cdfs(p, q, dx),
        tv=M.total_variation(p, q, dx),
    )


def integrands(p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> dict[str, np.ndarray]:
    """Pointwise integrands (Σ integrand·dx gives each number of ``divergence_table``):
    kl_pq = p log(p/q), kl_qp = q log(q/p), js = ½[p log(p/m) + q log(q/m)], m = (p+q)/2,
    w1 = |F_p − F_q|, tv = ½|p − q|. The KL integrands floor the second density as
    ``kl`` does."""
    dx = dx_of(grid)
    p, q = M.normalise(p, dx), M.normalise(q, dx)
    m = (p + q) / 2
    return {
        "kl_pq": special.rel_entr(p, np.maximum(q, THEORY_FLOOR)),
        "kl_qp": special.rel_entr(q, np.maximum(p, THEORY_FLOOR)),
        "js": (special.rel_entr(p, m) + special.rel_entr(q, m)) / 2,
        "w1": np.abs(cdf_on_grid(p, dx) - cdf_on_grid(q, dx)),
        "tv": np.abs(p - q) / 2,
    }


# --------------------------------------------------------------------------------------------
# Sliding q away from p


def _roll(p: np.ndarray, k: int) -> np.ndarray:
    """p moved by k cells (right for k > 0), zeros shifted in, mass shifted out dropped."""
    out = np.zeros_like(p)
    if k >= 0:
        out[k:] = p[: len(p) - k]
    else:
        out[:k] = p[-k:]
    return out


def shift_sweep(dist: Dist, shifts: np.ndarray, grid: np.ndarray = GRID) -> dict[str, np.ndarray]:
    """Two copies of ``dist`` moved apart by s (p by −s/2, q by +s/2) for each s in ``shifts``:
    JS (nats, and bits), W1 (= s for a pure shift) and TV. JS saturates at ln 2 once the
    supports stop overlapping; W1 keeps growing linearly. Each s is rounded to a multiple of
    2·dx so both copies move by whole cells (the cell-averaged density then shifts exactly)."""
    dx = dx_of(grid)
    base = density(dist, grid)
    halves = np.rint(np.asarray(shifts, dtype=float) / (2 * dx)).astype(int)
    js, w1, tv = (np.empty(len(halves)) for _ in range(3))
    for i, k in enumerate(halves):
        p, q = _roll(base, -k), _roll(base, k)
        js[i] = M.js_divergence(p, q, dx)
        w1[i] = w1_from_cdfs(p, q, dx)
        tv[i] = M.total_variation(p, q, dx)
    return {"shift": 2 * dx * halves, "js": js, "js_bits": js / LN2, "w1": w1, "tv": tv}


def sweep_slopes(dist: Dist, s: float, h: float = 0.05, grid: np.ndarray = GRID) -> dict:
    """Central finite differences d/ds of JS and W1 at separation ``s`` (step ``h``)."""
    r = shift_sweep(dist, np.array([s - h, s + h]), grid)
    return {"js": float((r["js"][1] - r["js"][0]) / (2 * h)),
            "w1": float((r["w1"][1] - r["w1"][0]) / (2 * h))}


# --------------------------------------------------------------------------------------------
# f-divergences (losses.F_DIVERGENCES)

F_NAMES = ("kl", "rkl", "pearson", "hellinger", "js", "gan")
# (lo, hi) of t for plotting f*(t): inside dom f*, away from its pole.
CONJUGATE_RANGE = {
    "kl": (-3.0, 2.5), "rkl": (-4.0, -0.1), "pearson": (-4.0, 3.0), "hellinger": (-4.0, 0.85),
    "js": (-4.0, LN2 - 0.02), "gan": (-4.0, -0.02),
}
U_PLOT = np.linspace(0.01, 5.0, 400)
# f and f* of each row, as the page typesets them (the same in every language).
F_LATEX = {
    "kl": r"f(u)=u\log u,\qquad f^*(t)=e^{\,t-1},\quad t\in\mathbb{R}",
    "rkl": r"f(u)=-\log u,\qquad f^*(t)=-1-\log(-t),\quad t<0",
    "pearson": r"f(u)=(u-1)^2,\qquad f^*(t)=\tfrac{t^2}{4}+t,\quad t\in\mathbb{R}",
    "hellinger": r"f(u)=(\sqrt{u}-1)^2,\qquad f^*(t)=\frac{t}{1-t},\quad t<1",
    "js": r"f(u)=u\log u-(u+1)\log\tfrac{u+1}{2},\qquad f^*(t)=-\log\!\big(2-e^{t}\big),"
          r"\quad t<\log 2",
    "gan": r"f(u)=u\log u-(u+1)\log(u+1),\qquad f^*(t)=-\log\!\big(1-e^{t}\big),\quad t<0",
}


def f_closed_form(name: str, p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> float:
    """The same D_f(p‖q) through a divergence we already know: KL(p‖q), KL(q‖p), ∫(p−q)²/q,
    ∫(√p − √q)², 2·JS, 2·JS − ln 4 (the last two: the f-GAN table's JS and GAN rows)."""
    dx = dx_of(grid)
    pn, qn = M.normalise(p, dx), M.normalise(q, dx)
    if name == "kl":
        return kl(p, q, dx)
    if name == "rkl":
        return kl(q, p, dx)
    if name == "pearson":
        if off_support_mass(p, q, dx) > 0:
            return math.inf
        qf = np.maximum(qn, THEORY_FLOOR)
        with np.errstate(over="ignore"):
            v = float(((pn - qf) ** 2 / qf).sum() * dx)
        return v if v < 1e100 else math.inf  # the integral diverges (q's tails too thin)
    if name == "hellinger":
        return float(((np.sqrt(pn) - np.sqrt(qn)) ** 2).sum() * dx)
    js = M.js_divergence(p, q, dx)
    return 2 * js if name == "js" else 2 * js - 2 * LN2


@dataclass
class FView:
    name: str
    label: str
    d_f: float  # D_f(p‖q) = ∫ q f(p/q) dx (losses.f_divergence)
    closed_form: float  # the same number via f_closed_form
    bound: float  # E_p T* − E_q f*(T*), T* = f'(p/q): equals D_f (tight variational bound)
    f_prime_at_1: float
    u: np.ndarray = field(repr=False)
    f_u: np.ndarray = field(repr=False)
    t: np.ndarray = field(repr=False)
    conj_t: np.ndarray = field(repr=False)


def variational_bound(name: str, p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> float:
    """E_p[T*] − E_q[f*(T*)] with T*(x) = f'(p(x)/q(x)), the conjugate f* taken from the f-GAN
    table (so this checks the table: it must equal D_f). Densities are floored at THEORY_FLOOR as
    in ``f_div`` (call it only where ``f_div`` is finite). Cells where f*(T*) overflows in
    floating point (u = p/q beyond 1e±30, T* at the edge of dom f*) use the Fenchel identity
    f*(f'(u)) = u·f'(u) − f(u) instead."""
    fd = F_DIVERGENCES[name]
    dx = dx_of(grid)
    pn = np.maximum(M.normalise(p, dx), THEORY_FLOOR)
    qn = np.maximum(M.normalise(q, dx), THEORY_FLOOR)
    u = pn / qn
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        T = fd.f_prime(u)
        conj = np.asarray(fd.conjugate(T), dtype=float)
        bad = ~np.isfinite(conj) | (u > 1e30) | (u < 1e-30)
        conj[bad] = u[bad] * T[bad] - fd.f(u[bad])
        val = float((pn * T).sum() * dx - (qn * conj).sum() * dx)
    return math.inf if math.isnan(val) else val  # ∞ − ∞: the supremum is unbounded


def f_div(name: str, p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> float:
    """D_f(p‖q) by ``losses.f_divergence``, with the zero rule of ``kl``: ∞ when one density
    puts any mass where the other is exactly 0 (off its support) and f
    makes that infinite (f(0) = ∞ or f(u)/u → ∞); otherwise both densities are floored at
    THEORY_FLOOR first, so a tail that underflowed to 0 does not turn log 0 into ∞."""
    fd = F_DIVERGENCES[name]
    dx = dx_of(grid)
    pn, qn = M.normalise(p, dx), M.normalise(q, dx)
    with np.errstate(divide="ignore"):
        f0 = float(fd.f(np.array([0.0]))[0])
    if math.isinf(fd.slope_at_inf) and off_support_mass(p, q, dx) > 0:
        return math.inf
    if math.isinf(f0) and off_support_mass(q, p, dx) > 0:
        return math.inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(f_divergence(np.maximum(pn, THEORY_FLOOR), np.maximum(qn, THEORY_FLOOR),
                                  dx, fd))


def f_view(name: str, p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> FView:
    """One row of the f-GAN table for the pair: f on (0, 5], f* on its domain, D_f(p‖q)."""
    fd = F_DIVERGENCES[name]
    lo, hi = CONJUGATE_RANGE[name]
    tt = np.linspace(lo, hi, 400)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f_u = np.asarray(fd.f(U_PLOT), dtype=float)
        conj = np.asarray(fd.conjugate(tt), dtype=float)
    d_f = f_div(name, p, q, grid)
    bound = variational_bound(name, p, q, grid) if math.isfinite(d_f) else math.inf
    return FView(name=name, label=fd.label, d_f=d_f, closed_form=f_closed_form(name, p, q, grid),
                 bound=bound, f_prime_at_1=fd.f_prime_at_1, u=U_PLOT, f_u=f_u, t=tt, conj_t=conj)


# --------------------------------------------------------------------------------------------
# Optimal discriminator and the BCE ↔ KL identities


@dataclass
class OptimalView:
    d_star: np.ndarray = field(repr=False)  # D*(x) = p_r/(p_r + p_g)
    v_opt: float  # V(G, D*) = E_pr log D* + E_pg log(1 − D*)
    two_js_minus: float  # 2·JS − 2·ln 2 (the same number)
    js: float
    d_loss: float  # BCE of D* on real (label 1) and fake (label 0): −V = 2 ln 2 − 2 JS


def optimal_view(p_r: np.ndarray, p_g: np.ndarray, grid: np.ndarray = GRID) -> OptimalView:
    dx = dx_of(grid)
    pr, pg = M.normalise(p_r, dx), M.normalise(p_g, dx)
    v = M.value_at_optimum(pr, pg, dx)
    js = M.js_divergence(pr, pg, dx)
    return OptimalView(d_star=M.optimal_discriminator(pr, pg), v_opt=v,
                       two_js_minus=2 * js - 2 * LN2, js=js, d_loss=-v)


def entropy(p: np.ndarray, dx: float) -> float:
    """Differential entropy H(p) = −∫ p log p (nats; can be negative for a density)."""
    pn = M.normalise(p, dx)
    return float(-special.xlogy(pn, pn).sum() * dx)


def cross_entropy(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """H(p, q) = −∫ p log q (q floored at THEORY_FLOOR; ∞ where ``kl`` says ∞)."""
    if off_support_mass(p, q, dx) > 0:
        return math.inf
    pn, qn = M.normalise(p, dx), np.maximum(M.normalise(q, dx), THEORY_FLOOR)
    return float(-special.xlogy(pn, qn).sum() * dx)


def cross_entropy_view(p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> dict:
    """H(p, q), H(p), KL(p‖q) and the residual H(p, q) − H(p) − KL(p‖q) (≈ 0)."""
    dx = dx_of(grid)
    h_pq, h_p, d = cross_entropy(p, q, dx), entropy(p, dx), kl(p, q, dx)
    res = h_pq - h_p - d if math.isfinite(d) else 0.0
    return {"h_pq": h_pq, "h_p": h_p, "kl": d, "residual": res}


def bce(o: float, target: float) -> float:
    """BCE(o, t) = −[t log o + (1 − t) log(1 − o)], o = D's output in (0, 1)."""
    return float(-(special.xlogy(target, o) + special.xlogy(1 - target, 1 - o)))


def binary_entropy(target: float) -> float:
    """H(Bernoulli(t)) = −t log t − (1 − t) log(1 − t); 0 for a hard label t ∈ {0, 1}."""
    return float(-(special.xlogy(target, target) + special.xlogy(1 - target, 1 - target)))


def bernoulli_kl(target: float, o: float) -> float:
    """KL(Bernoulli(t) ‖ Bernoulli(o))."""
    return float(special.rel_entr(target, o) + special.rel_entr(1 - target, 1 - o))


def bce_view(o: float, target: float) -> dict:
    """BCE = H(t) + KL(Bern(t)‖Bern(o)): equal to the KL only when the label is hard."""
    return {"bce": bce(o, target), "h_t": binary_entropy(target),
            "kl": bernoulli_kl(target, o)}


def g_loss_curves(n: int = 400) -> dict[str, np.ndarray]:
    """The two generator losses against d = D(G(z)) ∈ (0, 1), and their slopes w.r.t. the
    logit l (d = σ(l)): saturating log(1 − d), slope −d; non-saturating −log d, slope −(1 − d)."""
    d = np.linspace(1e-3, 1 - 1e-3, n)
    return {"d": d, "saturating": np.log1p(-d), "nonsaturating": -np.log(d),
            "slope_saturating": -d, "slope_nonsaturating": -(1 - d)}


# --------------------------------------------------------------------------------------------
# Common misconceptions, with live numbers

DISJOINT_P = Dist.make("uniform", a=-2.0, b=-1.0)
DISJOINT_Q = Dist.make("uniform", a=1.0, b=2.0)


def misconceptions(p: np.ndarray, q: np.ndarray, grid: np.ndarray = GRID) -> dict[str, dict]:
    """Numbers for the five misconceptions (a–e), from the pair (p, q) and a disjoint pair.

    a: JS of disjoint supports is ln 2 (constant), not 0; its slope in the shift is 0, W1's is 1.
    b: JS lies in [0, ln 2] nats = [0, 1] bit: the base matters.
    c: KL ≥ 0 with equality only at p = q (Gibbs), and KL(p‖q) ≠ KL(q‖p).
    d: cross-entropy H(p, q) = H(p) + KL(p‖q): equal to KL only up to the constant H(p) ≠ 0.
    e: KL of disjoint supports is ∞ (shown as ∞, with the reason); the Train page compares
       p_r and p_g after one fixed Gaussian smoothing (std h), where it is large but finite.
    """
    dx = dx_of(grid)
    dp, dq = density(DISJOINT_P, grid), density(DISJOINT_Q, grid)
    h = 0.05
    qm, qp = density(DISJOINT_Q.shifted(-h), grid), density(DISJOINT_Q.shifted(h), grid)
    js_d = M.js_divergence(dp, dq, dx)
    slope_js = (M.js_divergence(dp, qp, dx) - M.js_divergence(dp, qm, dx)) / (2 * h)
    slope_w1 = (w1_from_cdfs(dp, qp, dx) - w1_from_cdfs(dp, qm, dx)) / (2 * h)
    table = divergence_table(p, q, grid)
    ce = cross_entropy_view(p, q, grid)
    return {
        "a": {"js": js_d, "ln2": LN2, "slope_js": float(slope_js), "slope_w1": float(slope_w1),
              "w1": w1_from_cdfs(dp, dq, dx)},
        "b": {"js": table.js, "js_bits": table.js_bits, "ln2": LN2, "js_disjoint_bits": js_d / LN2},
        "c": {"kl_pq": table.kl_pq, "kl_qp": table.kl_qp, "kl_pp": kl(p, p, dx),
              "gap": table.kl_pq - table.kl_qp},
        "d": ce,
        # disjoint supports: ∞ (the reason: p's mass off q's support); after smoothing both by a
        # Gaussian of std h, KL ≈ E|X − Y|²/(2h²)-sized but finite (not a floor)
        "e": {"kl_true": kl(dp, dq, dx), "off_mass": off_support_mass(dp, dq, dx),
              "js": js_d},
    }


# --------------------------------------------------------------------------------------------
# Formatting shared by the page and its tests


def fmt(x: float, digits: int = 4) -> str:
    """Fixed-point with ``digits`` decimals; ∞ / −∞ / — for infinities and NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    s = f"{x:.{digits}f}"
    return "0." + "0" * digits if s.lstrip("-") == "0." + "0" * digits else s


# --------------------------------------------------------------------------------------------
# Figures (Plotly), in the house style of ``figures``: the Okabe–Ito colours (p / p_r blue,
# q / p_g vermillion, D* green dashed, JS purple, W1 orange), ``figures.base_layout`` for fonts,
# title, legend and grid, and a ``figures.Style`` (``STYLE``, or ``PRESENT`` in presentation mode)
# that sizes every word, line and marker.

COLORS = {**F.COLORS, "w1": F.COLORS["x_grad"], "kl": F.OKABE_ITO["sky"], "tv": "#000000"}
PLOTLY_CONFIG = F.PLOTLY_CONFIG
HEIGHTS = {"explorer": 600, "sweep": 600, "f": 440, "optimal": 460, "gloss": 440}
MAX_POINTS = 600


def _finish(fig: go.Figure, title: str, height: int, *, style: Style, subplots: bool = False,
            right_axis: bool = False) -> go.Figure:
    """``figures.base_layout`` in ``style`` on a make_subplots figure: title on top, legend
    under it (above the subplot titles when ``subplots``), grid on every axis, subplot titles at
    ``style.panel_title``. The plot area keeps its ``HEIGHTS`` size in every style: what a
    larger style adds to the top and bottom margins is added to the figure's height."""
    traces = [tr.to_plotly_json() for tr in fig.data]

    def layout(h: int, s: Style) -> dict:
        return F.base_layout(title, h, traces, subtitles=subplots, style=s)

    if style != STYLE:
        ref, own = layout(height, STYLE)["margin"], layout(height, style)["margin"]
        height += own["t"] + own["b"] - ref["t"] - ref["b"]
    lay = layout(height, style)
    grid = {k: lay.pop(k) for k in ("xaxis", "yaxis") if k in lay}
    if right_axis:
        lay["margin"]["r"] = 80 + 3 * (style.tick - F.FONT_SIZE)
    fig.update_layout(**lay)
    if grid:
        fig.update_xaxes(grid["xaxis"])
        fig.update_yaxes(grid["yaxis"])
    fig.update_annotations(font={"size": style.panel_title, "color": F.TEXT_COLOR},
                           selector={"yref": "paper"})  # make_subplots' titles
    return fig


def _filled(x, y, name: str, color: str, style: Style, **kw) -> go.Scatter:
    """A density or an integrand: a line with the area under it filled."""
    return go.Scatter(x=x, y=y, name=name, mode="lines", fill="tozeroy",
                      fillcolor=F.rgba(color, style.fill_alpha),
                      line={"color": color, "width": style.width(2.5)}, **kw)


def window(*densities: np.ndarray, grid: np.ndarray = GRID, pad: float = 0.5,
           rel: float = 1e-3) -> tuple[float, float]:
    """The x-range where any density exceeds ``rel`` × its peak, padded, at least 4 wide."""
    mask = np.zeros(len(grid), dtype=bool)
    for d in densities:
        d = np.nan_to_num(np.asarray(d, dtype=float))
        mask |= d > rel * d.max(initial=0.0)
    if not mask.any():
        return -5.0, 5.0
    lo, hi = float(grid[mask][0]) - pad, float(grid[mask][-1]) + pad
    if hi - lo < 4:
        mid = (lo + hi) / 2
        lo, hi = mid - 2, mid + 2
    return max(lo, float(grid[0])), min(hi, float(grid[-1]))


def _crop(x_range: tuple[float, float], *arrays: np.ndarray, grid: np.ndarray = GRID):
    """Grid points inside ``x_range``, thinned to ≤ MAX_POINTS, and the arrays on them."""
    idx = np.flatnonzero((grid >= x_range[0]) & (grid <= x_range[1]))
    idx = idx[:: max(1, math.ceil(len(idx) / MAX_POINTS))]
    return (grid[idx], *[np.asarray(a)[idx] for a in arrays])


INTEGRAND_KEYS = ("js", "kl_pq", "kl_qp", "tv", "w1")


def explorer_figure(p: np.ndarray, q: np.ndarray, which: str, lang: str = "en",
                    grid: np.ndarray = GRID, style: Style = STYLE) -> go.Figure:
    """Top: p and q. Bottom: the integrand of the chosen number (its area is the number)."""
    table = divergence_table(p, q, grid)
    ints = integrands(p, q, grid)
    rng = window(p, q, grid=grid)
    x, pp, qq, ii = _crop(rng, p, q, ints[which], grid=grid)
    value = getattr(table, which)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        row_heights=[0.55, 0.45],
                        subplot_titles=(t("theory.fig.densities", lang),
                                        t("theory.fig.integrand", lang,
                                          name=t(f"theory.num.{which}", lang), value=fmt(value))))
    for y, name, color in ((pp, "p(x)", COLORS["real"]), (qq, "q(x)", COLORS["fake"])):
        fig.add_trace(_filled(x, y, name, color, style, hovertemplate="%{y:.3f}"), row=1, col=1)
    color = {"w1": COLORS["w1"], "tv": COLORS["tv"], "kl_pq": COLORS["kl"],
             "kl_qp": COLORS["kl"]}.get(which, COLORS["js"])
    fig.add_trace(_filled(x, ii, t(f"theory.integrand.{which}", lang), color, style,
                          hovertemplate="%{y:.4f}"), row=2, col=1)
    fig.update_xaxes(range=list(rng), row=1, col=1)
    fig.update_xaxes(range=list(rng), title_text="x", row=2, col=1)
    fig.update_yaxes(title_text=t("theory.fig.density", lang), rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    return _finish(fig, t("theory.fig.explorer_title", lang), HEIGHTS["explorer"], style=style,
                   subplots=True)


def sweep_figure(dist: Dist, sweep: dict, s: float, lang: str = "en",
                 grid: np.ndarray = GRID, style: Style = STYLE) -> go.Figure:
    """Top: the two copies at separation ``s``. Bottom: JS (left axis, with the ln 2 ceiling)
    and W1 (right axis) against the separation, with a marker at ``s``."""
    p, q = density(dist.shifted(-s / 2), grid), density(dist.shifted(s / 2), grid)
    smax = float(sweep["shift"][-1])
    far_p, far_q = density(dist.shifted(-smax / 2), grid), density(dist.shifted(smax / 2), grid)
    rng = window(far_p, far_q, grid=grid)
    x, pp, qq = _crop(rng, p, q, grid=grid)
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.16, row_heights=[0.4, 0.6],
                        specs=[[{}], [{"secondary_y": True}]],
                        subplot_titles=(t("theory.fig.sweep_pair", lang, s=f"{s:.2f}"),
                                        t("theory.fig.sweep_curves", lang)))
    for y, name, color in ((pp, "p", COLORS["real"]), (qq, "q", COLORS["fake"])):
        fig.add_trace(_filled(x, y, name, color, style, hovertemplate="%{y:.3f}",
                              showlegend=False), row=1, col=1)
    sh = sweep["shift"]
    fig.add_trace(go.Scatter(x=sh, y=sweep["js"], name=t("theory.fig.js_nats", lang),
                             mode="lines", line={"color": COLORS["js"], "width": style.width(3)},
                             hovertemplate="%{y:.4f}"), row=2, col=1, secondary_y=False)
    fig.add_trace(go.Scatter(x=[sh[0], sh[-1]], y=[LN2, LN2], name=t("theory.fig.ln2", lang),
                             mode="lines", line={"color": COLORS["ref"], "dash": "dash",
                                                 "width": style.width(2)}, hoverinfo="skip"),
                  row=2, col=1, secondary_y=False)
    fig.add_trace(go.Scatter(x=sh, y=sweep["w1"], name=t("theory.fig.w1", lang), mode="lines",
                             line={"color": COLORS["w1"], "width": style.width(3)},
                             hovertemplate="%{y:.3f}"), row=2, col=1, secondary_y=True)
    i = int(np.argmin(np.abs(sh - s)))
    fig.add_trace(go.Scatter(x=[sh[i]], y=[sweep["js"][i]], mode="markers",
                             marker={"color": COLORS["js"], "size": style.size(13)},
                             showlegend=False, hoverinfo="skip"), row=2, col=1, secondary_y=False)
    fig.add_trace(go.Scatter(x=[sh[i]], y=[sweep["w1"][i]], mode="markers",
                             marker={"color": COLORS["w1"], "size": style.size(13),
                                     "symbol": "diamond"},
                             showlegend=False, hoverinfo="skip"), row=2, col=1, secondary_y=True)
    fig.add_vline(x=s, line={"color": "#999999", "width": style.width(1), "dash": "dot"},
                  row=2, col=1)
    fig.update_xaxes(range=list(rng), row=1, col=1)
    fig.update_xaxes(title_text=t("theory.fig.separation", lang), range=[sh[0], sh[-1]],
                     row=2, col=1)
    fig.update_yaxes(showticklabels=False, rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text=t("theory.fig.js_axis", lang), range=[0, 0.8],
                     tickmode="array", tickvals=[0, 0.2, 0.4, LN2],
                     ticktext=["0", "0.2", "0.4", "ln 2"],
                     title_font_color=F.text_color(COLORS["js"]), row=2, col=1,
                     secondary_y=False)
    fig.update_yaxes(title_text=t("theory.fig.w1_axis", lang), range=[0, 1.08 * smax],
                     tickmode="linear", tick0=0, dtick=2 if smax > 6 else 1,
                     title_font_color=F.text_color(COLORS["w1"]), showgrid=False, row=2, col=1,
                     secondary_y=True)
    return _finish(fig, t("theory.fig.sweep_title", lang), HEIGHTS["sweep"], style=style,
                   subplots=True, right_axis=True)


def f_figure(view: FView, lang: str = "en", style: Style = STYLE) -> go.Figure:
    """f(u) (with f(1) = 0 marked, or −ln 4 for the GAN row) and its conjugate f*(t)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=(t("theory.fig.f_title", lang),
                                        t("theory.fig.conj_title", lang)))
    fu = np.where(np.isfinite(view.f_u), view.f_u, np.nan)
    ct = np.where(np.isfinite(view.conj_t), view.conj_t, np.nan)
    fig.add_trace(go.Scatter(x=view.u, y=fu, name="f(u)", mode="lines",
                             line={"color": COLORS["real"], "width": style.width(3)},
                             hovertemplate="u = %{x:.2f}<br>f = %{y:.3f}<extra></extra>"),
                  row=1, col=1)
    f1 = float(F_DIVERGENCES[view.name].f(np.array([1.0]))[0])
    fig.add_trace(go.Scatter(x=[1.0], y=[f1], mode="markers+text", name="u = 1",
                             text=[f"f(1) = {fmt(f1, 3)}"], textposition="top right",
                             marker={"color": COLORS["real"], "size": style.size(11)},
                             showlegend=False), row=1, col=1)
    fig.add_trace(go.Scatter(x=view.t, y=ct, name="f*(t)", mode="lines",
                             line={"color": COLORS["fake"], "width": style.width(3)},
                             hovertemplate="t = %{x:.2f}<br>f* = %{y:.3f}<extra></extra>"),
                  row=1, col=2)
    fig.update_xaxes(title_text=t("theory.fig.u_axis", lang), row=1, col=1)
    fig.update_xaxes(title_text=t("theory.fig.t_axis", lang), row=1, col=2)
    lo = np.nanpercentile(fu, 1), np.nanpercentile(fu, 99)
    fig.update_yaxes(range=[min(-0.5, lo[0] - 0.3), max(1.0, lo[1]) * 1.05], row=1, col=1)
    lo2 = np.nanpercentile(ct, 1), np.nanpercentile(ct, 95)
    fig.update_yaxes(range=[lo2[0] - 0.3, lo2[1] * 1.05 + 0.3], row=1, col=2)
    fig = _finish(fig, t("theory.fig.f_fig", lang, name=t(f"theory.f.{view.name}", lang)),
                  HEIGHTS["f"], style=style, subplots=True)
    return fig.update_layout(showlegend=False)


def optimal_figure(p_r: np.ndarray, p_g: np.ndarray, view: OptimalView, lang: str = "en",
                   grid: np.ndarray = GRID, style: Style = STYLE) -> go.Figure:
    """p_r and p_g on the left axis, D*(x) (dashed, 0…1) on the right, ½ marked."""
    rng = window(p_r, p_g, grid=grid)
    x, pr, pg, ds = _crop(rng, p_r, p_g, view.d_star, grid=grid)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for y, name, color in ((pr, t("theory.fig.p_r", lang), COLORS["real"]),
                           (pg, t("theory.fig.p_g", lang), COLORS["fake"])):
        fig.add_trace(_filled(x, y, name, color, style, hovertemplate="%{y:.3f}"),
                      secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=ds, name=t("theory.fig.d_star", lang), mode="lines",
                             line={"color": COLORS["d"], "width": style.width(3.5),
                                   "dash": "dash"},
                             hovertemplate="D* = %{y:.3f}"), secondary_y=True)
    fig.add_trace(go.Scatter(x=list(rng), y=[0.5, 0.5], name="D = ½", mode="lines",
                             line={"color": COLORS["ref"], "width": style.width(1.5),
                                   "dash": "dot"},
                             hoverinfo="skip"), secondary_y=True)
    fig.update_xaxes(title_text="x", range=list(rng))
    fig.update_yaxes(title_text=t("theory.fig.density", lang), rangemode="tozero",
                     secondary_y=False)
    fig.update_yaxes(title_text="D*(x)", range=[-0.02, 1.05], showgrid=False,
                     tickmode="array", tickvals=[0, 0.25, 0.5, 0.75, 1],
                     title_font_color=F.text_color(COLORS["d"]), secondary_y=True)
    return _finish(fig, t("theory.fig.optimal_title", lang), HEIGHTS["optimal"], style=style,
                   right_axis=True)


def g_loss_figure(o: float | None = None, lang: str = "en", style: Style = STYLE) -> go.Figure:
    """The saturating and the non-saturating generator loss against D(G(z)), with their
    slopes w.r.t. the logit; a marker at D's current output ``o``."""
    c = g_loss_curves()
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=(t("theory.fig.gloss_left", lang),
                                        t("theory.fig.gloss_right", lang)))
    sat, ns = COLORS["fake"], COLORS["real"]
    line = {"width": style.width(3)}
    fig.add_trace(go.Scatter(x=c["d"], y=c["saturating"], name=t("theory.fig.sat", lang),
                             mode="lines", line={**line, "color": sat}), row=1, col=1)
    fig.add_trace(go.Scatter(x=c["d"], y=c["nonsaturating"], name=t("theory.fig.nonsat", lang),
                             mode="lines", line={**line, "color": ns}), row=1, col=1)
    fig.add_trace(go.Scatter(x=c["d"], y=c["slope_saturating"], showlegend=False,
                             mode="lines", line={**line, "color": sat}), row=1, col=2)
    fig.add_trace(go.Scatter(x=c["d"], y=c["slope_nonsaturating"], showlegend=False,
                             mode="lines", line={**line, "color": ns}), row=1, col=2)
    if o is not None:
        fig.add_vline(x=o, line={"color": "#999999", "dash": "dot", "width": style.width(1.5)},
                      row=1, col="all")
    fig.add_vrect(x0=0, x1=0.1, fillcolor=F.rgba(COLORS["fake"], 0.1), line_width=0,
                  row=1, col="all")
    for axis in ("x", "x2"):
        fig.add_annotation(x=0.11, xref=axis, y=0.97, yref=f"{axis.replace('x', 'y')} domain",
                           text="← " + t("theory.fig.d_wins", lang), showarrow=False,
                           xanchor="left", yanchor="top",
                           font={"size": style.tick, "color": F.text_color(COLORS["fake"])})
    fig.update_xaxes(title_text=t("theory.fig.d_of_fake", lang), range=[0, 1])
    fig.update_yaxes(range=[-4.6, 4.6], tickvals=[-4, -2, 0, 2, 4], row=1, col=1)
    fig.update_yaxes(range=[-1.05, 0.05], row=1, col=2)
    return _finish(fig, t("theory.fig.gloss_title", lang), HEIGHTS["gloss"], style=style,
                   subplots=True)
