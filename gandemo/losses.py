"""GAN objectives: a registry from loss name to the D and G objectives, plus the penalties.

Conventions (see ``/work/shared/reference/losses.md``): ``l = D(x)`` is the raw logit / critic
output (no sigmoid inside D), shape ``(..., B)``: a batch of B logits, or one row of B per
variant when several variants train side by side; ``σ`` is the logistic sigmoid;
``softplus(t) = log(1 + eᵗ)``, so ``−log σ(l) = softplus(−l)`` and ``−log(1 − σ(l)) = softplus(l)``.
``log`` is natural. Every expectation is a batch mean over the last axis (``mean(-1)``), so an
objective of (K, B) logits is K objectives, one per row; every objective is *minimised*.
All BCE terms are written with softplus, never ``log(sigmoid(·))``.

``real_label`` α is the target of real samples (1.0, or e.g. 0.9 for one-sided label smoothing).
With α < 1 a BCE real term becomes ``α·softplus(−l) + (1−α)·softplus(l)`` (BCE with target α).
The BCE family, ``ragan``, ``lsgan`` and the f-GANs use α; ``wgan``, ``wgan-gp`` and ``hinge``
ignore it. Penalties are not part of ``d_loss``: the trainer adds ``λ·gradient_penalty(...)``,
``(γ/2)·r1_penalty(...)`` and clips weights itself (``Loss.default_gp`` / ``default_clip``).

Adding a loss is one entry in ``LOSSES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import xlogy
from torch import Tensor

# Floor for densities in the closed-form optimal discriminators (avoids 0/0 and log 0).
_TINY = 1e-12
_LOG2 = math.log(2.0)


# --------------------------------------------------------------------------------------------
# Elementwise helpers that accept numpy arrays (or floats) and torch tensors alike.


def _exp(x):
    return torch.exp(x) if isinstance(x, Tensor) else np.exp(x)


def _expm1(x):
    return torch.expm1(x) if isinstance(x, Tensor) else np.expm1(x)


def _log(x):
    return torch.log(x) if isinstance(x, Tensor) else np.log(x)


def _softplus(x):
    """log(1 + eˣ), computed stably."""
    return F.softplus(x) if isinstance(x, Tensor) else np.logaddexp(0.0, x)


# --------------------------------------------------------------------------------------------
# f-divergences (Nowozin, Cseke & Tomioka 2016, Tables 1–2).


@dataclass(frozen=True)
class FDivergence:
    """One row of the f-GAN table: D_f(P‖Q) = ∫ q f(p/q) dx ≥ sup_T E_P[T] − E_Q[f*(T)].

    The bound is tight at T*(x) = f'(p(x)/q(x)); f'(1) is the value of T where real and fake
    are indistinguishable. ``f`` and ``f_prime`` take numpy arrays; ``conjugate``, ``activation``
    and ``conjugate_activation`` take numpy arrays and torch tensors.
    """

    name: str
    label: str
    f: Callable[[np.ndarray], np.ndarray]  # generator f(u), convex; f(1) = 0 (GAN row: −log 4)
    f_prime: Callable[[np.ndarray], np.ndarray]  # f'(u)
    conjugate: Callable  # Fenchel conjugate f*(t) on its domain
    activation: Callable  # output activation g_f(v): ℝ -> dom f*
    conjugate_domain: str
    f_prime_at_1: float
    # f*(g_f(v)) in closed form: finite where the composition would hit 0/0 or log 0.
    conjugate_activation: Callable
    # lim_{u→∞} f(u)/u: the weight of p where q = 0 in D_f (∞ for KL and χ²).
    slope_at_inf: float


F_DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(
        name="kl",
        label="KL",
        f=lambda u: xlogy(u, u),
        f_prime=lambda u: np.log(u) + 1.0,
        conjugate=lambda t: _exp(t - 1.0),
        activation=lambda v: v,
        conjugate_domain="t ∈ ℝ",
        f_prime_at_1=1.0,
        conjugate_activation=lambda v: _exp(v - 1.0),
        slope_at_inf=math.inf,
    ),
    "rkl": FDivergence(
        name="rkl",
        label="Reverse KL",
        f=lambda u: -np.log(u),
        f_prime=lambda u: -1.0 / u,
        conjugate=lambda t: -1.0 - _log(-t),
        activation=lambda v: -_exp(-v),
        conjugate_domain="t < 0",
        f_prime_at_1=-1.0,
        conjugate_activation=lambda v: v - 1.0,
        slope_at_inf=0.0,
    ),
    "pearson": FDivergence(
        name="pearson",
        label="Pearson χ²",
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        conjugate=lambda t: t * t / 4.0 + t,
        activation=lambda v: v,
        conjugate_domain="t ∈ ℝ",
        f_prime_at_1=0.0,
        conjugate_activation=lambda v: v * v / 4.0 + v,
        slope_at_inf=math.inf,
    ),
    "hellinger": FDivergence(
        name="hellinger",
        label="Squared Hellinger",
        f=lambda u: (np.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - 1.0 / np.sqrt(u),
        conjugate=lambda t: t / (1.0 - t),
        activation=lambda v: -_expm1(-v),
        conjugate_domain="t < 1",
        f_prime_at_1=0.0,
        conjugate_activation=_expm1,
        slope_at_inf=1.0,
    ),
    # With this f, D_f = 2·JSD (Table 1 of the paper writes JS with a ½; its f omits it).
    "js": FDivergence(
        name="js",
        label="Jensen–Shannon",
        f=lambda u: xlogy(u, u) - xlogy(u + 1.0, (u + 1.0) / 2.0),
        f_prime=lambda u: np.log(2.0 * u / (1.0 + u)),
        conjugate=lambda t: -_log(2.0 - _exp(t)),
        activation=lambda v: _LOG2 - _softplus(-v),
        conjugate_domain="t < log 2",
        f_prime_at_1=0.0,
        conjugate_activation=lambda v: _softplus(v) - _LOG2,
        slope_at_inf=_LOG2,
    ),
    # D_f = 2·JSD − log 4; as an f-GAN its D objective is exactly the minimax BCE.
    "gan": FDivergence(
        name="gan",
        label="GAN",
        f=lambda u: xlogy(u, u) - xlogy(u + 1.0, u + 1.0),
        f_prime=lambda u: np.log(u / (u + 1.0)),
        conjugate=lambda t: -_log(-_expm1(t)),
        activation=lambda v: -_softplus(-v),
        conjugate_domain="t < 0",
        f_prime_at_1=-_LOG2,
        conjugate_activation=_softplus,
        slope_at_inf=0.0,
    ),
}


def f_divergence(p: np.ndarray, q: np.ndarray, dx: float, fdiv: FDivergence) -> float:
    """D_f(P‖Q) = ∫ q f(p/q) dx as a Riemann sum over grid cells of size ``dx``.

    Cells with q = 0 contribute p·lim_{u→∞} f(u)/u (∞ for KL and χ² when p > 0, nothing when
    p = 0 too); cells with p = 0 contribute q·f(0) (∞ for reverse KL).
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    pos = q > 0
    u = p[pos] / q[pos]
    with np.errstate(divide="ignore"):
        inside = np.sum(q[pos] * fdiv.f(u))
    p_out = np.sum(p[~pos])
    outside = p_out * fdiv.slope_at_inf if p_out > 0 else 0.0
    return float((inside + outside) * dx)


# --------------------------------------------------------------------------------------------
# Loss registry.


@dataclass(frozen=True)
class Loss:
    """A GAN objective pair. ``d_loss(l_r, l_f, real_label)`` and ``g_loss(l_f, l_r)`` take raw
    logits / critic outputs of shape (B,) and return scalars to minimise; ``g_loss`` reads
    ``l_r`` only when ``g_uses_real`` (callers may pass None otherwise). ``output`` maps logits
    to the value plotted as "D(x)", and ``optimal(p_r, p_g, real_label)`` gives the optimal D in
    that same display space (None where there is no closed form)."""

    name: str
    title: str  # a short English name for a class ("non-saturating"); locales translate it
    summary: str
    d_loss: Callable[[Tensor, Tensor, float], Tensor]
    g_loss: Callable[[Tensor, Tensor | None], Tensor]
    output: Callable[[Tensor], Tensor]
    output_label: str
    output_range: tuple[float, float] | None
    optimal: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None
    default_clip: float = 0.0
    default_gp: float = 0.0
    g_uses_real: bool = False


def _bce_real(l_r: Tensor, real_label: float) -> Tensor:
    """E[α·softplus(−l_r) + (1−α)·softplus(l_r)]: BCE with logits against target α."""
    loss = real_label * F.softplus(-l_r)
    if real_label != 1.0:
        loss = loss + (1.0 - real_label) * F.softplus(l_r)
    return loss.mean(-1)


def _bce_d(l_r: Tensor, l_f: Tensor, real_label: float = 1.0) -> Tensor:
    """L_D = E softplus(−l_r) + E softplus(l_f) = −E log σ(l_r) − E log(1 − σ(l_f)).

    With α = real_label < 1 the real term is E[α·softplus(−l_r) + (1−α)·softplus(l_r)].
    """
    return _bce_real(l_r, real_label) + F.softplus(l_f).mean(-1)


def _minimax_g(l_f: Tensor, l_r: Tensor | None) -> Tensor:
    """L_G = −E softplus(l_f) = E log(1 − σ(l_f)) (saturating). ∂L_G/∂l_i = −σ(l_i)/B.

    ``l_r`` is unused."""
    return -F.softplus(l_f).mean(-1)


def _nonsaturating_g(l_f: Tensor, l_r: Tensor | None) -> Tensor:
    """L_G = E softplus(−l_f) = −E log σ(l_f). ∂L_G/∂l_i = −(1 − σ(l_i))/B. ``l_r`` is unused."""
    return F.softplus(-l_f).mean(-1)


def _wasserstein_d(l_r: Tensor, l_f: Tensor, real_label: float = 1.0) -> Tensor:
    """L_D = E l_f − E l_r (critic). ``real_label`` is ignored; Lipschitz control (clipping or
    gradient penalty) is added by the trainer."""
    return l_f.mean(-1) - l_r.mean(-1)


def _critic_g(l_f: Tensor, l_r: Tensor | None) -> Tensor:
    """L_G = −E l_f (WGAN, WGAN-GP, hinge). ∂L_G/∂l_i = −1/B. ``l_r`` is unused."""
    return -l_f.mean(-1)


def _hinge_d(l_r: Tensor, l_f: Tensor, real_label: float = 1.0) -> Tensor:
    """L_D = E relu(1 − l_r) + E relu(1 + l_f). ``real_label`` is ignored."""
    return F.relu(1.0 - l_r).mean(-1) + F.relu(1.0 + l_f).mean(-1)


def _lsgan_d(l_r: Tensor, l_f: Tensor, real_label: float = 1.0) -> Tensor:
    """L_D = ½E(l_r − b)² + ½E(l_f − a)² with (a, b) = (0, α), α = real_label (1 by default)."""
    return 0.5 * ((l_r - real_label) ** 2).mean(-1) + 0.5 * (l_f**2).mean(-1)


def _lsgan_g(l_f: Tensor, l_r: Tensor | None) -> Tensor:
    """L_G = ½E(l_f − c)² with c = 1. ``l_r`` is unused."""
    return 0.5 * ((l_f - 1.0) ** 2).mean(-1)


def _ragan_d(l_r: Tensor, l_f: Tensor, real_label: float = 1.0) -> Tensor:
    """RaSGAN: L_D = E_r softplus(−(l_r − E l_f)) + E_f softplus(l_f − E l_r).

    Batch means are differentiated (nothing detached). No ½ factor (the author's code averages
    the two terms). With α = real_label < 1 the real term is BCE against target α."""
    mean_r, mean_f = l_r.mean(-1, keepdim=True), l_f.mean(-1, keepdim=True)
    return _bce_real(l_r - mean_f, real_label) + F.softplus(l_f - mean_r).mean(-1)


def _ragan_g(l_f: Tensor, l_r: Tensor | None) -> Tensor:
    """RaSGAN mirror: L_G = E_f softplus(−(l_f − E l_r)) + E_r softplus(l_r − E l_f) (no ½)."""
    mean_r, mean_f = l_r.mean(-1, keepdim=True), l_f.mean(-1, keepdim=True)
    return F.softplus(-(l_f - mean_r)).mean(-1) + F.softplus(l_r - mean_f).mean(-1)


def _fgan_d(fdiv: FDivergence, l_r: Tensor, l_f: Tensor, real_label: float = 1.0) -> Tensor:
    """f-GAN: L_D = −(E_r T(v_r) − E_f f*(T(v_f))), T = g_f(v), v the raw output.

    f*(g_f(v)) is evaluated in its fused closed form. With α = real_label < 1 the real batch is
    treated as a fraction α labelled real and 1 − α labelled fake (the BCE smoothing, which the
    GAN row reproduces exactly): real term −α·E_r T(v_r) + (1−α)·E_r f*(T(v_r)), optimum
    T* = f'(α p_r / ((1−α) p_r + p_g)).
    """
    loss = -real_label * fdiv.activation(l_r).mean(-1) + fdiv.conjugate_activation(l_f).mean(-1)
    if real_label != 1.0:
        loss = loss + (1.0 - real_label) * fdiv.conjugate_activation(l_r).mean(-1)
    return loss


def _fgan_g(fdiv: FDivergence, l_f: Tensor, l_r: Tensor | None) -> Tensor:
    """f-GAN generator, the paper's practical non-saturating trick: L_G = −E_f g_f(v_f).

    The saturating alternative would minimise −E_f f*(g_f(v_f)). ``l_r`` is unused."""
    return -fdiv.activation(l_f).mean(-1)


def _identity(t: Tensor) -> Tensor:
    return t


def _ratio_optimal(p_r: np.ndarray, p_g: np.ndarray, real_label: float = 1.0) -> np.ndarray:
    """α·p_r/(p_r + p_g), α/2 where both vanish (BCE via σ; LSGAN with (a, b) = (0, α))."""
    p_r = np.asarray(p_r, dtype=float)
    s = p_r + np.asarray(p_g, dtype=float)
    ratio = np.divide(p_r, s, out=np.full_like(s, 0.5), where=s > 0)
    return real_label * ratio


def _hinge_optimal(p_r: np.ndarray, p_g: np.ndarray, real_label: float = 1.0) -> np.ndarray:
    """sign(p_r − p_g) (any value in [−1, 1] is optimal where they are equal; 0 is shown)."""
    return np.sign(np.asarray(p_r, dtype=float) - np.asarray(p_g, dtype=float))


def _fgan_optimal(
    fdiv: FDivergence, p_r: np.ndarray, p_g: np.ndarray, real_label: float = 1.0
) -> np.ndarray:
    """T* = f'(p_r/p_g) (with smoothing α: f'(α p_r/((1−α) p_r + p_g))), densities floored."""
    p_r = np.asarray(p_r, dtype=float)
    num = np.maximum(real_label * p_r, _TINY)
    den = np.maximum((1.0 - real_label) * p_r + np.asarray(p_g, dtype=float), _TINY)
    return fdiv.f_prime(num / den)


_SIGMOID_LABEL = "D(x) = σ(logit)"

_FGAN_TITLES = {"kl": "KL", "rkl": "reverse KL", "pearson": "Pearson χ²", "hellinger": "Hellinger",
                "js": "JS"}
_FGAN_FORMULAS = {
    "kl": "T = v, f*(t) = exp(t − 1)",
    "rkl": "T = −exp(−v), f*(t) = −1 − log(−t)",
    "pearson": "T = v, f*(t) = t²/4 + t",
    "hellinger": "T = 1 − exp(−v), f*(t) = t/(1 − t)",
    "js": "T = log 2 − softplus(−v), f*(t) = −log(2 − eᵗ); minimises 2·JSD",
}


def _fgan(key: str) -> Loss:
    """The f-GAN entry for ``F_DIVERGENCES[key]`` (D: −(E T_r − E f*(T_f)); G: −E T_f)."""
    fdiv = F_DIVERGENCES[key]
    return Loss(
        name=f"fgan-{key}",
        title=f"f-GAN {_FGAN_TITLES[key]}",
        summary=f"f-GAN, {fdiv.label}: {_FGAN_FORMULAS[key]}; G minimises −E T(x_f)",
        d_loss=partial(_fgan_d, fdiv),
        g_loss=partial(_fgan_g, fdiv),
        output=fdiv.activation,
        output_label="T(x) = g_f(v)",
        output_range=None,
        optimal=partial(_fgan_optimal, fdiv),
    )


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            name="minimax",
            title="minimax (saturating)",
            summary="BCE for D; G minimises E log(1−D(G(z))) — saturates when D wins",
            d_loss=_bce_d,
            g_loss=_minimax_g,
            output=torch.sigmoid,
            output_label=_SIGMOID_LABEL,
            output_range=(0.0, 1.0),
            optimal=_ratio_optimal,
        ),
        Loss(
            name="nonsaturating",
            title="non-saturating",
            summary="BCE for D; G minimises −E log D(G(z)) — strong gradient when D wins",
            d_loss=_bce_d,
            g_loss=_nonsaturating_g,
            output=torch.sigmoid,
            output_label=_SIGMOID_LABEL,
            output_range=(0.0, 1.0),
            optimal=_ratio_optimal,
        ),
        Loss(
            name="wgan",
            title="WGAN weight clipping",
            summary="critic E f(x_f) − E f(x_r), weights clipped to [−c, c]; G minimises −E f(x_f)",
            d_loss=_wasserstein_d,
            g_loss=_critic_g,
            output=_identity,
            output_label="critic f(x)",
            output_range=None,
            optimal=None,
            default_clip=0.01,
        ),
        Loss(
            name="wgan-gp",
            title="WGAN-GP",
            summary="critic E f(x_f) − E f(x_r) + λ E(‖∇f(x̂)‖ − 1)²; G minimises −E f(x_f)",
            d_loss=_wasserstein_d,
            g_loss=_critic_g,
            output=_identity,
            output_label="critic f(x)",
            output_range=None,
            optimal=None,
            # λ = 0.1 as in Gulrajani et al.'s toy code (paper: 10 for images). In 1D a critic
            # whose slope starts with the wrong sign must pass through slope 0 to flip, where the
            # two-sided penalty costs λ; with λ = 10 that barrier exceeds the W1 gain and the
            # critic stays inverted (measured here: G runs away from the data).
            default_gp=0.1,
        ),
        Loss(
            name="hinge",
            title="hinge",
            summary="D: E relu(1 − D(x_r)) + E relu(1 + D(x_f)); G minimises −E D(x_f)",
            d_loss=_hinge_d,
            g_loss=_critic_g,
            output=_identity,
            output_label="critic D(x)",
            output_range=None,
            optimal=_hinge_optimal,
        ),
        Loss(
            name="lsgan",
            title="least squares",
            summary="least squares: D ½E(D(x_r) − 1)² + ½E D(x_f)²; G ½E(D(x_f) − 1)²",
            d_loss=_lsgan_d,
            g_loss=_lsgan_g,
            output=_identity,
            output_label="D(x) (least squares)",
            output_range=None,
            optimal=_ratio_optimal,
        ),
        Loss(
            name="ragan",
            title="relativistic",
            summary="relativistic average BCE: is real more real than the average fake? G mirrors",
            d_loss=_ragan_d,
            g_loss=_ragan_g,
            output=torch.sigmoid,
            output_label="σ(C(x))",
            output_range=(0.0, 1.0),
            optimal=None,
            g_uses_real=True,
        ),
        *(_fgan(key) for key in _FGAN_FORMULAS),
    )
}


def get_loss(name: str) -> Loss:
    """The registered loss called ``name``; a ConfigError naming the allowed losses otherwise
    (bad input, unlike a KeyError from a bug)."""
    from .config import ConfigError  # lazy: config imports this module

    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError("loss", f"unknown {name!r}; allowed: {', '.join(LOSSES)}") from None


# --------------------------------------------------------------------------------------------
# Penalties on the input gradient of D (not multiplied by their weights).


def _input_grads(d: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Per-sample ∇ₓD(x) for points x of shape (..., B, dim), same shape, with the graph kept for
    double backprop.

    Row i is ∇_{x_i} Σ_j d(x)_j, which is ∂d(x_i)/∂x_i only if d(x)_j does not depend on x_i for
    j ≠ i. A critic that couples the batch (minibatch discrimination) must be passed with the other
    members held fixed (``hold_others=True``, as the engine does)."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    return grad


def gradient_penalty(
    d: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
    eps: Tensor | None = None,
) -> Tensor:
    """WGAN-GP penalty E_x̂ (‖∇_x̂ D(x̂)‖₂ − 1)², not multiplied by λ, for batches (..., B, dim).

    x̂ = ε·x_r + (1−ε)·x_f with ε ~ U[0, 1] per sample: ``eps`` (shape (..., B, 1)) or drawn from
    ``generator``; the norm is taken per sample. Inputs are detached, so the penalty only
    depends on D's parameters.
    """
    if eps is None:
        eps = torch.rand(real.shape[:-1] + (1,), generator=generator, dtype=real.dtype)
    x_hat = eps * real.detach() + (1.0 - eps) * fake.detach()
    norms = _input_grads(d, x_hat).norm(2, dim=-1)
    return ((norms - 1.0) ** 2).mean(-1)


def r1_penalty(d: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 penalty E_{x~p_r} ‖∇ₓD(x)‖₂², not multiplied by γ/2 (the caller does)."""
    return (_input_grads(d, real) ** 2).sum(-1).mean(-1)
