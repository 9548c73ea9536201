"""The Dirac-GAN (Mescheder, Geiger & Nowozin, ICML 2018): why GAN training circles, what helps.

The whole game has two numbers. Real data is a point mass at 0 (p_r = δ_0), the generator a point
mass at θ (p_g = δ_θ), the discriminator the line D(x) = ψ·x. The paper's sign convention is kept:
D's output is high on *fakes* (σ(ψx) = P(fake)); ψ → −ψ gives the usual one. The unique
equilibrium is (θ, ψ) = (0, 0): the generator sits on the data and D is flat.

Every loss is written with D's output on the fake, u_f = ψ·(θ + ε₁), and on the real point,
u_r = ψ·ε₂ (ε = 0 unless instance noise is on):

    D maximises  V_D(θ, ψ) = E a(u_f) + E b(u_r) − P(ψ)       (P: the regularizer / built-in GP)
    G minimises  L_G(θ, ψ) = E g(u_f)

For the paper's family L(θ, ψ) = f(ψθ) + f(0) (minimax GAN: f(t) = −log(1 + e^{−t})) this is
a = f, b(t) = f(−t), g = f. The gradient vector field of simultaneous gradient descent is

    v(θ, ψ) = (−∂L_G/∂θ, ∂V_D/∂ψ) = (−E[ψ g'(u_f)],  E[(θ+ε₁) a'(u_f)] + E[ε₂ b'(u_r)] − P'(ψ))

and its Jacobian at (0, 0), for any σ of the instance noise, is (derived term by term from v)

    J = [[0, −g'(0)], [a'(0), σ²·(a''(0) + b''(0)) − P''(0)]],
    eigenvalues  λ = d/2 ± √(d²/4 − g'(0)·a'(0)),   d = J₂₂.

So the unregularized game has λ = ±i·f'(0) (it circles), R1 with P = γ/2·ψ² gives
λ = −γ/2 ± √(γ²/4 − f'(0)²), and instance noise gives σ²f''(0) ± √(σ⁴f''(0)² − f'(0)²).

Verdicts (``VERDICTS``). The continuous flow dx/dt = v: *converges* if every real part is
< −TOL, *diverges* if one is > TOL, otherwise *circles* when no eigenvalue is 0 and *stalls*
when one is (a line of rest points; the linearisation cannot decide). The discrete updates are
judged by the spectral radius ρ of their linearised step map M (simultaneous: I + ηJ after k − 1
D-only steps; alternating: k D steps, then one G step): ρ < 1 − TOL converges, ρ > 1 + TOL
diverges, ρ = 1 circles (stalls if the eigenvalue on the unit circle is 1). Where the field jumps
at ψ = 0 (WGAN-GP's one-centred penalty) (0, 0) is no rest point at all: *no_rest*.

Pure NumPy; the figure builder at the bottom imports Plotly (and ``figures``) only when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from typing import NamedTuple

import numpy as np

TOL = 1e-9
VERDICTS = ("converges", "circles", "diverges", "stalls", "no_rest")
SCHEMES = ("sim", "alt")
BLOWUP = 1e6  # a trajectory stops once |θ| or |ψ| passes this
GH_NODES = 48  # Gauss–Hermite nodes for E over ε ~ N(0, σ²) (exact for polynomials of degree ≤ 95)
_Z, _W = np.polynomial.hermite_e.hermegauss(GH_NODES)
_W = _W / np.sqrt(2.0 * np.pi)  # Σ w = 1: E h(ε) ≈ Σ w_i h(σ z_i)

Fn = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- scalar functions


def _sig(t):
    """σ(t) = 1/(1 + e^{−t}), written with tanh (no overflow)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(t, dtype=float)))


def _f(t):
    """GAN f(t) = −log(1 + e^{−t}) = log σ(t)."""
    return -np.logaddexp(0.0, -np.asarray(t, dtype=float))


def _df(t):
    """f'(t) = σ(−t); f'(0) = ½."""
    return _sig(-np.asarray(t, dtype=float))


def _d2f(t):
    """f''(t) = −σ(t)·σ(−t); f''(0) = −¼."""
    return -_sig(t) * _sig(-np.asarray(t, dtype=float))


def _relu(t):
    return np.maximum(np.asarray(t, dtype=float), 0.0)


def _step(t):
    return (np.asarray(t, dtype=float) > 0).astype(float)


def _zero(t):
    return np.zeros_like(np.asarray(t, dtype=float))


def _one(t):
    return np.ones_like(np.asarray(t, dtype=float))


def _ident(t):
    return np.asarray(t, dtype=float)


def _mirror(f: Fn, df: Fn, d2f: Fn) -> tuple[Fn, Fn, Fn]:
    """(t ↦ f(−t), its first and second derivative): the real term b(t) = f(−t)."""
    return (lambda t: f(-np.asarray(t)), lambda t: -df(-np.asarray(t)),
            lambda t: d2f(-np.asarray(t)))


# --------------------------------------------------------------------------- registries


@dataclass(frozen=True)
class Param:
    """A strength with its symbol, default and slider range (the page and the CLI use it)."""

    symbol: str
    default: float
    lo: float
    hi: float
    step: float

    def check(self, value: float, setting: str) -> float:
        value = float(value)
        if not np.isfinite(value) or not self.lo <= value <= self.hi:
            raise ValueError(f"{setting} ({self.symbol}) must be between {self.lo:g} and "
                             f"{self.hi:g}, got {value:g}")
        return value


@dataclass(frozen=True)
class Loss:
    """One objective: D's fake term a, real term b, G's loss g (each with derivatives), plus an
    optional parameter (``clip``: |ψ| ≤ c after every D step; ``gp1``: the one-centred penalty
    λ(|ψ| − 1)² inside D's objective)."""

    name: str
    a: tuple[Fn, Fn, Fn]
    b: tuple[Fn, Fn, Fn]
    g: tuple[Fn, Fn, Fn]
    doc: str
    param: Param | None = None
    clip: bool = False
    gp1: bool = False


def _minimax() -> Loss:
    """Minimax GAN: V_D = L_G = f(ψθ) + f(0), f(t) = −log(1+e^{−t}); f'(0) = ½ → λ = ±i/2."""
    f = (_f, _df, _d2f)
    return Loss("minimax", f, _mirror(*f), f, _minimax.__doc__)


def _nonsaturating() -> Loss:
    """Non-saturating GAN: D as minimax; G minimises −f(−ψθ) = −log P(real | fake);
    v₁ = −ψ f'(−ψθ). Same Jacobian at (0, 0): λ = ±i/2."""
    f = (_f, _df, _d2f)
    g = (lambda t: -_f(-np.asarray(t)), lambda t: _df(-np.asarray(t)),
         lambda t: -_d2f(-np.asarray(t)))
    return Loss("nonsaturating", f, _mirror(*f), g, _nonsaturating.__doc__)


def _wasserstein() -> Loss:
    """WGAN objective, no Lipschitz constraint: f(t) = t, V_D = L_G = ψθ; v = (−ψ, θ),
    λ = ±i."""
    lin = (_ident, _one, _zero)
    return Loss("wasserstein", lin, _mirror(*lin), lin, _wasserstein.__doc__)


def _wgan() -> Loss:
    """WGAN with weight clipping (as the Train page's ``wgan``): the Wasserstein objective and
    ψ ← clip(ψ, −c, c) after every D step. Inside the box λ = ±i; at the box it cannot settle."""
    lin = (_ident, _one, _zero)
    return Loss("wgan", lin, _mirror(*lin), lin, _wgan.__doc__,
                param=Param("c", 0.3, 0.05, 2.0, 0.05), clip=True)


def _wgan_gp() -> Loss:
    """WGAN-GP: the Wasserstein objective with λ·(|∇ₓD| − 1)² = λ(|ψ| − 1)² in D's loss.
    Its push −P'(ψ) = −2λ(|ψ| − 1)·sign ψ jumps from +2λ to −2λ across ψ = 0: no rest point."""
    lin = (_ident, _one, _zero)
    return Loss("wgan-gp", lin, _mirror(*lin), lin, _wgan_gp.__doc__,
                param=Param("λ", 1.0, 0.05, 5.0, 0.05), gp1=True)


def _hinge() -> Loss:
    """Hinge: V_D = −relu(1 − ψθ) − relu(1 + 0) (a(t) = −relu(1 − t), b(t) = −relu(1 + t));
    G minimises ψθ. a'(0) = g'(0) = 1, no curvature at 0 → λ = ±i."""
    a = (lambda t: -_relu(1.0 - np.asarray(t)), lambda t: _step(1.0 - np.asarray(t)), _zero)
    b = (lambda t: -_relu(1.0 + np.asarray(t)), lambda t: -_step(1.0 + np.asarray(t)), _zero)
    return Loss("hinge", a, b, (_ident, _one, _zero), _hinge.__doc__)


def _lsgan() -> Loss:
    """LSGAN, the 0-1-1 coding of the Train page (in this sign convention: D wants u_r = −1,
    u_f = 0; G wants u_f = −1): a(t) = −½t², b(t) = −½(t + 1)², g(t) = ½(t + 1)².
    a'(0) = 0: a flat D already meets its fake target, so J = [[0, −1], [0, d]] — it stalls."""
    a = (lambda t: -0.5 * np.asarray(t) ** 2, lambda t: -np.asarray(t, dtype=float),
         lambda t: -_one(t))
    b = (lambda t: -0.5 * (np.asarray(t) + 1.0) ** 2, lambda t: -(np.asarray(t) + 1.0),
         lambda t: -_one(t))
    g = (lambda t: 0.5 * (np.asarray(t) + 1.0) ** 2, lambda t: np.asarray(t) + 1.0, _one)
    return Loss("lsgan", a, b, g, _lsgan.__doc__)


LOSSES: dict[str, Loss] = {
    loss.name: loss for loss in (_minimax(), _nonsaturating(), _wasserstein(), _wgan(),
                                 _wgan_gp(), _hinge(), _lsgan())
}


@dataclass(frozen=True)
class Reg:
    """A regularizer of D: a penalty P(ψ) = ``coef``·s·ψ² (s its strength) or instance noise."""

    name: str
    param: Param | None
    doc: str
    coef: float = 0.0  # P(ψ) = coef·s·ψ²
    noise: bool = False


REGULARIZERS: dict[str, Reg] = {
    reg.name: reg for reg in (
        Reg("none", None, "No regularizer."),
        Reg("r1", Param("γ", 1.0, 0.0, 5.0, 0.05),
            "R1 (Mescheder 2018): γ/2·E_{x∼p_r}‖∇ₓD(x)‖² = γ/2·ψ²; P'' = γ → "
            "λ = −γ/2 ± √(γ²/4 − f'(0)²).", coef=0.5),
        Reg("gp", Param("λ", 0.5, 0.0, 5.0, 0.05),
            "Zero-centred gradient penalty on points x̂ between real and fake (Roth et al. 2017; "
            "Thanh-Tung et al. 2019): λ·E‖∇ₓD(x̂)‖² = λψ²; P'' = 2λ. Here ∇ₓD = ψ everywhere, "
            "so it equals R1 with γ = 2λ; on real data the two look at different points.",
            coef=1.0),
        Reg("noise", Param("σ", 1.0, 0.0, 3.0, 0.05),
            "Instance noise: ε ~ N(0, σ²) added to the real and the fake point before D sees "
            "them; the expectation adds σ²(a''(0) + b''(0)) to J₂₂ (2σ²f''(0) = −σ²/2 for "
            "the GAN).", noise=True),
    )
}


# --------------------------------------------------------------------------- one setting


@dataclass(frozen=True)
class Setup:
    """Everything the dynamics depend on; ``None`` strengths take the registry defaults."""

    loss: str = "minimax"
    reg: str = "none"
    strength: float | None = None  # γ (r1), λ (gp) or σ (noise)
    loss_param: float | None = None  # c (wgan) or λ (wgan-gp)
    eta: float = 0.1
    k: int = 1
    spec: Loss = dc_field(init=False, repr=False, compare=False)
    regularizer: Reg = dc_field(init=False, repr=False, compare=False)

    ETA = Param("η", 0.1, 0.001, 1.0, 0.01)
    K_MAX = 10

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.reg not in REGULARIZERS:
            raise ValueError(f"reg must be one of {', '.join(REGULARIZERS)}, got {self.reg!r}")
        spec, reg = LOSSES[self.loss], REGULARIZERS[self.reg]
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "regularizer", reg)
        if reg.param is None:
            object.__setattr__(self, "strength", 0.0)
        else:
            value = reg.param.default if self.strength is None else self.strength
            object.__setattr__(self, "strength", reg.param.check(value, f"{reg.name} strength"))
        if spec.param is None:
            object.__setattr__(self, "loss_param", 0.0)
        else:
            value = spec.param.default if self.loss_param is None else self.loss_param
            object.__setattr__(self, "loss_param",
                               spec.param.check(value, f"{spec.name} parameter"))
        object.__setattr__(self, "eta", self.ETA.check(self.eta, "eta"))
        if isinstance(self.k, bool) or int(self.k) != self.k or not 1 <= self.k <= self.K_MAX:
            raise ValueError(f"k (D steps per G step) must be an integer from 1 to "
                             f"{self.K_MAX}, got {self.k!r}")
        object.__setattr__(self, "k", int(self.k))

    def with_(self, **changes) -> Setup:
        return replace(self, **changes)

    @property
    def sigma(self) -> float:
        return self.strength if self.regularizer.noise else 0.0


def _expect(h: Callable[[np.ndarray], np.ndarray], sigma: float) -> np.ndarray:
    """E over ε ~ N(0, σ²) of h(ε) (h broadcasts; ε enters on a new last axis), or h(0)."""
    if sigma == 0.0:
        return h(np.zeros(1))[..., 0]
    return (h(sigma * _Z) * _W).sum(axis=-1)


def _penalty(s: Setup, psi: np.ndarray, order: int) -> np.ndarray:
    """The regularizer plus WGAN-GP's built-in term: P (order 0) or P' (order 1)."""
    psi = np.asarray(psi, dtype=float)
    coef = s.regularizer.coef * s.strength
    out = coef * psi**2 if order == 0 else 2.0 * coef * psi
    if s.spec.gp1:
        lam = s.loss_param
        out = out + (lam * (np.abs(psi) - 1.0) ** 2 if order == 0
                     else 2.0 * lam * (np.abs(psi) - 1.0) * np.sign(psi))
    return out


def objectives(s: Setup, theta, psi) -> tuple[np.ndarray, np.ndarray]:
    """(V_D, L_G) at (θ, ψ): V_D = E a(ψ(θ+ε₁)) + E b(ψε₂) − P(ψ), L_G = E g(ψ(θ+ε₁))."""
    th, ps = np.broadcast_arrays(np.asarray(theta, float), np.asarray(psi, float))
    t3, p3 = th[..., None], ps[..., None]
    a, b, g = s.spec.a[0], s.spec.b[0], s.spec.g[0]
    v_d = (_expect(lambda e: a(p3 * (t3 + e)), s.sigma)
           + _expect(lambda e: b(p3 * e), s.sigma) - _penalty(s, ps, 0))
    l_g = _expect(lambda e: g(p3 * (t3 + e)), s.sigma)
    return v_d, l_g


def field_theta(s: Setup, theta, psi) -> np.ndarray:
    """G's velocity v₁ = −∂L_G/∂θ = −E[ψ·g'(ψ(θ+ε₁))]."""
    th, ps = np.broadcast_arrays(np.asarray(theta, float), np.asarray(psi, float))
    t3, p3 = th[..., None], ps[..., None]
    return -_expect(lambda e: p3 * s.spec.g[1](p3 * (t3 + e)), s.sigma)


def field_psi(s: Setup, theta, psi) -> np.ndarray:
    """D's velocity v₂ = ∂V_D/∂ψ = E[(θ+ε₁)·a'(ψ(θ+ε₁))] + E[ε₂·b'(ψε₂)] − P'(ψ)."""
    th, ps = np.broadcast_arrays(np.asarray(theta, float), np.asarray(psi, float))
    t3, p3 = th[..., None], ps[..., None]
    da, db = s.spec.a[1], s.spec.b[1]
    return (_expect(lambda e: (t3 + e) * da(p3 * (t3 + e)), s.sigma)
            + _expect(lambda e: e * db(p3 * e), s.sigma) - _penalty(s, ps, 1))


def field(s: Setup, theta, psi) -> tuple[np.ndarray, np.ndarray]:
    """The vector field v(θ, ψ) = (−∂L_G/∂θ, ∂V_D/∂ψ) of simultaneous gradient descent."""
    return field_theta(s, theta, psi), field_psi(s, theta, psi)


def _project(s: Setup, psi: float) -> float:
    """Weight clipping (loss ``wgan``): ψ ← clip(ψ, −c, c); the identity otherwise."""
    return float(np.clip(psi, -s.loss_param, s.loss_param)) if s.spec.clip else psi


# --------------------------------------------------------------------------- trajectories


class Trajectory(NamedTuple):
    """Every visited (θ, ψ), D-only sub-steps included (rows), and where the G steps end."""

    points: np.ndarray  # (n, 2)
    g_index: np.ndarray  # row of the state after each G step (index 0 = the start)
    blew_up: bool

    @property
    def radius(self) -> np.ndarray:
        """Distance √(θ² + ψ²) to the equilibrium after each G step."""
        p = self.points[self.g_index]
        return np.hypot(p[:, 0], p[:, 1])


def trajectory(s: Setup, start: tuple[float, float], steps: int, scheme: str = "sim",
               ) -> Trajectory:
    """Gradient descent from ``start`` for ``steps`` G steps, each after k D steps.

    ``sim``: k − 1 D-only steps ψ += η·v₂, then one joint step (θ, ψ) += η·v(θ, ψ).
    ``alt``: k D steps ψ += η·v₂, then one G step θ += η·v₁ that sees the new ψ.
    Clipping (``wgan``) follows every D step. Stops early past |·| > BLOWUP."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if isinstance(steps, bool) or int(steps) != steps or not 0 <= steps <= 100_000:
        raise ValueError(f"steps must be an integer from 0 to 100000, got {steps!r}")
    theta, psi = (float(v) for v in start)
    if not (np.isfinite(theta) and np.isfinite(psi)):
        raise ValueError(f"start must be two finite numbers, got {start!r}")
    psi = _project(s, psi)
    pts, g_index, eta = [(theta, psi)], [0], s.eta
    d_only = s.k - 1 if scheme == "sim" else s.k
    blew_up = False
    with np.errstate(all="ignore"):
        for _ in range(int(steps)):
            for _ in range(d_only):
                psi = _project(s, psi + eta * float(field_psi(s, theta, psi)))
                pts.append((theta, psi))
            if scheme == "sim":
                v1, v2 = float(field_theta(s, theta, psi)), float(field_psi(s, theta, psi))
                theta, psi = theta + eta * v1, _project(s, psi + eta * v2)
            else:
                theta = theta + eta * float(field_theta(s, theta, psi))
            pts.append((theta, psi))
            g_index.append(len(pts) - 1)
            if not (abs(theta) < BLOWUP and abs(psi) < BLOWUP):
                blew_up = True
                break
    return Trajectory(np.array(pts), np.array(g_index), blew_up)


# --------------------------------------------------------------------------- linear analysis


def smooth_at_equilibrium(s: Setup) -> bool:
    """Whether v is continuous at (0, 0): P'(ψ) has no jump across ψ = 0 (WGAN-GP's does)."""
    h = 1e-12
    return bool(abs(_penalty(s, h, 1) - _penalty(s, -h, 1)) < 1e-6)


def jacobian(s: Setup) -> np.ndarray:
    """J = ∂v/∂(θ, ψ) at (0, 0) in closed form (NaN where the field jumps there):
    [[0, −g'(0)], [a'(0), σ²(a''(0) + b''(0)) − P''(0)]]."""
    if not smooth_at_equilibrium(s):
        return np.full((2, 2), np.nan)
    a, b, g = s.spec.a, s.spec.b, s.spec.g
    zero = np.zeros(1)
    d2p = 2.0 * s.regularizer.coef * s.strength
    j22 = s.sigma**2 * float(a[2](zero)[0] + b[2](zero)[0]) - d2p
    return np.array([[0.0, -float(g[1](zero)[0])], [float(a[1](zero)[0]), j22]])


def step_map(s: Setup, scheme: str) -> np.ndarray:
    """The linearised update map M at (0, 0): with A_D = [[1, 0], [ηJ₂₁, 1 + ηJ₂₂]] (a D step)
    and A_G = [[1 + ηJ₁₁, ηJ₁₂], [0, 1]] (a G step), sim: (I + ηJ)·A_D^{k−1}; alt: A_G·A_D^k."""
    j, eta = jacobian(s), s.eta
    a_d = np.array([[1.0, 0.0], [eta * j[1, 0], 1.0 + eta * j[1, 1]]])
    if scheme == "sim":
        return (np.eye(2) + eta * j) @ np.linalg.matrix_power(a_d, s.k - 1)
    if scheme == "alt":
        a_g = np.array([[1.0 + eta * j[0, 0], eta * j[0, 1]], [0.0, 1.0]])
        return a_g @ np.linalg.matrix_power(a_d, s.k)
    raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def flow_verdict(eig: np.ndarray) -> str:
    """Continuous flow: converges if max Re λ < −TOL, diverges if > TOL, else circles (stalls
    when an eigenvalue is 0)."""
    if not np.all(np.isfinite(eig)):
        return "no_rest"
    top = float(np.max(eig.real))
    if top < -TOL:
        return "converges"
    if top > TOL:
        return "diverges"
    return "stalls" if np.any(np.abs(eig) <= TOL) else "circles"


def map_verdict(eig: np.ndarray) -> str:
    """Discrete steps: converges if ρ < 1 − TOL, diverges if ρ > 1 + TOL, else circles (stalls
    when the eigenvalue on the unit circle is 1)."""
    if not np.all(np.isfinite(eig)):
        return "no_rest"
    rho = float(np.max(np.abs(eig)))
    if rho < 1.0 - TOL:
        return "converges"
    if rho > 1.0 + TOL:
        return "diverges"
    return "stalls" if np.any(np.abs(eig - 1.0) <= 1e-7) else "circles"


class Analysis(NamedTuple):
    """The linearisation at (0, 0): J, its eigenvalues and verdict, and per scheme the step
    map's eigenvalues, spectral radius and verdict."""

    jacobian: np.ndarray
    eig: np.ndarray
    verdict: str
    maps: dict[str, tuple[np.ndarray, float, str]]


def analyse(s: Setup) -> Analysis:
    """Eigenvalues and verdicts of the flow and of both discrete schemes (see the module doc)."""
    j = jacobian(s)
    if not np.all(np.isfinite(j)):
        nan = np.full(2, np.nan + 0j)
        return Analysis(j, nan, "no_rest", {k: (nan, float("nan"), "no_rest") for k in SCHEMES})
    eig = _sorted(np.linalg.eigvals(j))
    maps = {}
    for scheme in SCHEMES:
        m_eig = _sorted(np.linalg.eigvals(step_map(s, scheme)))
        maps[scheme] = (m_eig, float(np.max(np.abs(m_eig))), map_verdict(m_eig))
    return Analysis(j, eig, flow_verdict(eig), maps)


def _sorted(eig: np.ndarray) -> np.ndarray:
    """Eigenvalues with +Im first, then by real part (a stable order for display and tests)."""
    eig = np.asarray(eig, dtype=complex)
    return eig[np.lexsort((-eig.real, -eig.imag))]


def fmt_complex(z: complex, digits: int = 3) -> str:
    """``a ± bi`` text for one eigenvalue (``—`` when undefined)."""
    if not np.isfinite(z):
        return "—"
    re, im = float(np.real(z)), float(np.imag(z))
    re, im = (0.0 if abs(v) < 0.5 * 10**-digits else v for v in (re, im))
    if im == 0.0:
        text = f"{re:.{digits}f}"
    elif re == 0.0:
        text = f"{im:.{digits}f}i"
    else:
        text = f"{re:.{digits}f} {'+' if im > 0 else '-'} {abs(im):.{digits}f}i"
    return text.replace("-", "−")


# --------------------------------------------------------------------------- figure

VIEW = 2.5  # the phase plane shows [−VIEW, VIEW]²
ARROWS = 17  # arrows per axis
SCHEME_COLORS = {"sim": "#E69F00", "alt": "#56B4E9"}  # figures.VARIANT_COLORS[0:2]


def _arrows(s: Setup, view: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid points, arrow tips (length ∝ √speed, the fastest 5 % capped) and speeds."""
    g = np.linspace(-0.94 * view, 0.94 * view, ARROWS)  # tips stay inside the view
    th, ps = np.meshgrid(g, g)
    v1, v2 = field(s, th.ravel(), ps.ravel())
    speed = np.hypot(v1, v2)
    ref = float(np.percentile(speed, 95)) or 1.0
    cell = g[1] - g[0]
    length = 0.85 * cell * np.sqrt(np.minimum(speed / ref, 1.0))
    unit = np.stack([v1, v2], axis=1) / np.maximum(speed, 1e-300)[:, None]
    base = np.stack([th.ravel(), ps.ravel()], axis=1)
    return base, base + unit * length[:, None], speed


def figure(s: Setup, start: tuple[float, float], steps: int, lang: str = "en"):
    """Left: the vector field over (θ, ψ) with the simultaneous and alternating trajectories.
    Right: the eigenvalues of J (top, the flow: left half-plane converges) and of both step maps
    (bottom, unit circle: inside converges)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from . import figures as F
    from .i18n import t

    an = analyse(s)
    fig = make_subplots(
        rows=2, cols=2, column_widths=[0.64, 0.36], horizontal_spacing=0.1,
        vertical_spacing=0.2, specs=[[{"rowspan": 2}, {}], [None, {}]],
        subplot_titles=(t("dyn.fig.phase", lang), t("dyn.fig.eig_flow", lang),
                        t("dyn.fig.eig_map", lang, eta=f"{s.eta:g}", k=s.k)))
    base, tips, _ = _arrows(s, VIEW)
    seg = np.stack([base, tips, np.full_like(base, np.nan)], axis=1).reshape(-1, 2)
    grey = F.COLORS["ref"]
    fig.add_trace(go.Scatter(
        x=seg[:, 0], y=seg[:, 1], mode="lines+markers", name=t("dyn.fig.field", lang),
        hoverinfo="skip", line={"color": F.rgba(grey, 0.75), "width": 1.3},
        marker={"symbol": "arrow", "angleref": "previous", "color": grey,
                "size": np.tile([0, 7, 0], len(base))}), row=1, col=1)
    for scheme in SCHEMES:
        tr = trajectory(s, start, steps, scheme)
        pts = tr.points[:: max(1, len(tr.points) // 3000)]
        fig.add_trace(go.Scatter(
            x=pts[:, 0], y=pts[:, 1], mode="lines", name=t(f"dyn.scheme.{scheme}", lang),
            line={"color": SCHEME_COLORS[scheme], "width": 2.6 if scheme == "sim" else 2.2},
            hovertemplate="θ = %{x:.3f}<br>ψ = %{y:.3f}"), row=1, col=1)
        end = tr.points[-1]
        fig.add_trace(go.Scatter(
            x=[end[0]], y=[end[1]], mode="markers", showlegend=False, hoverinfo="skip",
            marker={"color": SCHEME_COLORS[scheme], "size": 10, "symbol": "square"}),
            row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[start[0]], y=[start[1]], mode="markers", name=t("dyn.fig.start", lang),
        marker={"color": "#222222", "size": 13, "symbol": "circle-open", "line": {"width": 3}}),
        row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[0], y=[0], mode="markers", name=t("dyn.fig.equilibrium", lang),
        marker={"color": F.COLORS["real"], "size": 15, "symbol": "star"}), row=1, col=1)
    if s.spec.clip:
        c = s.loss_param
        for y in (-c, c):
            fig.add_shape(type="line", x0=-VIEW, x1=VIEW, y0=y, y1=y, row=1, col=1,
                          line={"color": F.COLORS["d"], "dash": "dash", "width": 1.5})
    fig.update_xaxes(range=[-VIEW, VIEW], title_text=t("dyn.axis.theta", lang), row=1, col=1,
                     constrain="domain")
    fig.update_yaxes(range=[-VIEW, VIEW], title_text=t("dyn.axis.psi", lang), row=1, col=1,
                     scaleanchor="x", scaleratio=1)
    _eig_panel(fig, an, 1, lang)
    _eig_panel(fig, an, 2, lang)
    layout = F.base_layout(t("dyn.fig.title", lang, loss=t(f"dyn.loss.{s.loss}", lang),
                             reg=t(f"dyn.reg.{s.reg}", lang)), 640,
                           [tr.to_plotly_json() for tr in fig.data], subtitles=True)
    fig.update_layout(**layout)
    fig.update_annotations(font_size=F.FONT_SIZE + 1)
    return fig


def _eig_panel(fig, an: Analysis, row: int, lang: str) -> None:
    """Row 1: eig(J), the imaginary axis dashed (left of it converges). Row 2: eig(M) of both
    schemes and the unit circle (inside converges)."""
    import plotly.graph_objects as go

    from . import figures as F
    from .i18n import t

    if row == 1:
        pts = [("flow", an.eig, "#222222", "x")]
        finite = an.eig[np.isfinite(an.eig)]
        r = max(1.0, 1.2 * float(np.max(np.abs(finite), initial=0.0)))
        fig.add_shape(type="line", x0=0, x1=0, y0=-r, y1=r, row=1, col=2,
                      line={"color": F.COLORS["ref"], "dash": "dash", "width": 1.2})
        fig.add_shape(type="rect", x0=-r, x1=0, y0=-r, y1=r, row=1, col=2, layer="below",
                      line={"width": 0}, fillcolor=F.rgba(F.COLORS["d"], 0.08))
        rng = [-r, r]
    else:
        pts = [(k, an.maps[k][0], SCHEME_COLORS[k], "circle" if k == "sim" else "diamond")
               for k in SCHEMES]
        ang = np.linspace(0.0, 2 * np.pi, 181)
        fig.add_trace(go.Scatter(x=np.cos(ang), y=np.sin(ang), mode="lines", showlegend=False,
                                 hoverinfo="skip", fill="toself",
                                 fillcolor=F.rgba(F.COLORS["d"], 0.08),
                                 line={"color": F.COLORS["ref"], "dash": "dash", "width": 1.2}),
                      row=2, col=2)
        finite = np.concatenate([an.maps[k][0] for k in SCHEMES])
        finite = finite[np.isfinite(finite)]
        r = max(1.25, 1.1 * float(np.max(np.abs(finite), initial=0.0)))
        rng = [-r, r]
    for key, eig, color, symbol in pts:
        eig = eig[np.isfinite(eig)]
        fig.add_trace(go.Scatter(
            x=eig.real, y=eig.imag, mode="markers", showlegend=False,
            name=t("dyn.fig.eig_flow", lang) if key == "flow" else t(f"dyn.scheme.{key}", lang),
            hovertemplate="%{x:.4f} + %{y:.4f}i",
            marker={"color": color, "size": {"x": 13, "circle": 14}.get(symbol, 9),
                    "symbol": symbol, "line": {"width": 1, "color": "white"}}), row=row, col=2)
    fig.update_xaxes(range=rng, title_text=t("dyn.axis.re", lang), row=row, col=2,
                     zeroline=True)
    fig.update_yaxes(range=rng, title_text=t("dyn.axis.im", lang), row=row, col=2,
                     zeroline=True, scaleanchor="x3" if row == 2 else "x2", scaleratio=1)


# --------------------------------------------------------------------------- text (CLI)


def summary(s: Setup, start: tuple[float, float] = (1.0, 1.0), steps: int = 300) -> list[str]:
    """Plain-text lines for ``python -m gandemo dynamics``: J, eigenvalues, the three verdicts
    and where both paths end."""
    an = analyse(s)
    reg = s.regularizer
    head = f"Dirac-GAN: loss {s.loss}"
    if s.spec.param:
        head += f" ({s.spec.param.symbol} = {s.loss_param:g})"
    head += f", regularizer {s.reg}"
    if reg.param:
        head += f" ({reg.param.symbol} = {s.strength:g})"
    lines = [head]
    if an.verdict == "no_rest":
        lines.append("Jacobian at (0, 0): undefined (the field jumps across psi = 0)")
    else:
        j = an.jacobian
        lines.append(f"Jacobian at (0, 0): [[{j[0, 0]:.4g}, {j[0, 1]:.4g}], "
                     f"[{j[1, 0]:.4g}, {j[1, 1]:.4g}]]")
    lines.append("eigenvalues: " + ", ".join(fmt_complex(z, 4) for z in an.eig))
    lines.append(f"continuous flow: {an.verdict}")
    names = {"sim": "simultaneous", "alt": "alternating"}
    for scheme in SCHEMES:
        _, rho, verdict = an.maps[scheme]
        path = trajectory(s, start, steps, scheme)
        lines.append(f"{names[scheme]} steps (eta = {s.eta:g}, k = {s.k}): {verdict}, "
                     f"spectral radius {rho:.4f}; from ({start[0]:g}, {start[1]:g}) after "
                     f"{len(path.g_index) - 1} G steps the distance to (0, 0) is "
                     f"{path.radius[-1]:.4g}" + (" (blew up)" if path.blew_up else ""))
    return lines
