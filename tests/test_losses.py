"""Tests for gandemo.losses: values at hand-computed logits, gradients, stability, penalties and
the f-divergence table (reference: /work/shared/reference/losses.md, §2–§5)."""

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar

from gandemo.config import ConfigError
from gandemo.losses import (
    F_DIVERGENCES,
    LOSSES,
    f_divergence,
    get_loss,
    gradient_penalty,
    r1_penalty,
)

# Every registered loss. A new loss adds one row to AT_ZERO (hand-computed values at zero logits)
# and, if its formula is new, a branch to reference(); every other test here runs over NAMES.
NAMES = list(LOSSES)
LOG2 = math.log(2.0)
# Losses whose conjugate grows like e^|v|: ±100 overflows float32 by construction.
EXPONENTIAL = {"fgan-kl", "fgan-rkl", "fgan-hellinger"}


# --- independent scalar references (plain math, per the reference tables) ---------------------


def sp(t):
    return math.log(1.0 + math.exp(t))


def mean(xs):
    return sum(xs) / len(xs)


def bce_real(r, a):
    return a * sp(-r) + (1 - a) * sp(r)


# f-GAN rows as (g_f, f*), composed naively — the module uses fused forms, so this is independent.
FGAN_ROWS = {
    "fgan-kl": (lambda v: v, lambda t: math.exp(t - 1)),
    "fgan-rkl": (lambda v: -math.exp(-v), lambda t: -1 - math.log(-t)),
    "fgan-pearson": (lambda v: v, lambda t: t * t / 4 + t),
    "fgan-hellinger": (lambda v: 1 - math.exp(-v), lambda t: t / (1 - t)),
    "fgan-js": (lambda v: LOG2 - math.log(1 + math.exp(-v)), lambda t: -math.log(2 - math.exp(t))),
}


def reference(name, r, f, a):
    """(L_D, L_G) for logits lists r (real), f (fake) and real label a."""
    mr, mf = mean(r), mean(f)
    bce_d = mean([bce_real(x, a) for x in r]) + mean([sp(x) for x in f])
    wass_d = mf - mr
    if name == "minimax":
        return bce_d, -mean([sp(x) for x in f])
    if name == "nonsaturating":
        return bce_d, mean([sp(-x) for x in f])
    if name in ("wgan", "wgan-gp"):
        return wass_d, -mf
    if name == "hinge":
        return mean([max(0, 1 - x) for x in r]) + mean([max(0, 1 + x) for x in f]), -mf
    if name == "lsgan":
        d = 0.5 * mean([(x - a) ** 2 for x in r]) + 0.5 * mean([x * x for x in f])
        return d, 0.5 * mean([(x - 1) ** 2 for x in f])
    if name == "ragan":
        d = mean([bce_real(x - mf, a) for x in r]) + mean([sp(x - mr) for x in f])
        g = mean([sp(-(x - mr)) for x in f]) + mean([sp(x - mf) for x in r])
        return d, g
    g_f, conj = FGAN_ROWS[name]
    d = (
        -a * mean([g_f(x) for x in r])
        + (1 - a) * mean([conj(g_f(x)) for x in r])
        + mean([conj(g_f(x)) for x in f])
    )
    return d, -mean([g_f(x) for x in f])


def t64(xs):
    return torch.tensor(xs, dtype=torch.float64)


# --- registry -------------------------------------------------------------------------------


def test_registry_names_order_and_defaults():
    assert list(AT_ZERO) == NAMES  # every loss has its hand-computed row, in registry order
    assert all(LOSSES[n].name == n for n in NAMES)
    assert get_loss("wgan").default_clip == 0.01
    assert get_loss("wgan-gp").default_gp == 0.1
    others = [n for n in NAMES if n not in ("wgan", "wgan-gp")]
    assert all(LOSSES[n].default_clip == 0.0 and LOSSES[n].default_gp == 0.0 for n in others)
    assert all(LOSSES[n].optimal is None for n in ("wgan", "wgan-gp", "ragan"))
    assert all(LOSSES[n].optimal is not None for n in ("minimax", "hinge", "lsgan", "fgan-js"))
    assert LOSSES["ragan"].g_uses_real and not LOSSES["nonsaturating"].g_uses_real
    assert len(F_DIVERGENCES) == 6


@pytest.mark.parametrize("name", NAMES)
def test_entries_are_documented(name):
    loss = LOSSES[name]
    assert loss.summary
    assert "\n" not in loss.summary
    assert loss.output_label
    for fn in (loss.d_loss, loss.g_loss):
        fn = fn.func if isinstance(fn, functools.partial) else fn
        assert "L_" in (fn.__doc__ or "")


def test_get_loss_unknown_name_lists_allowed():
    assert get_loss("hinge") is LOSSES["hinge"]
    with pytest.raises(ConfigError) as err:
        get_loss("bce")
    assert err.value.name == "loss"
    message = str(err.value)
    assert "bce" in message
    assert all(n in message for n in NAMES)


# --- values ---------------------------------------------------------------------------------

# (L_D, L_G) at l_r = l_f = 0 (reference §5 and the tables).
AT_ZERO = {
    "minimax": (2 * LOG2, -LOG2),
    "nonsaturating": (2 * LOG2, LOG2),
    "wgan": (0.0, 0.0),
    "wgan-gp": (0.0, 0.0),
    "hinge": (2.0, 0.0),
    "lsgan": (0.5, 0.5),
    "ragan": (2 * LOG2, 2 * LOG2),
    "fgan-kl": (math.exp(-1), 0.0),  # T = 0, f*(0) = 1/e
    "fgan-rkl": (0.0, 1.0),  # T = −1, f*(−1) = −1
    "fgan-pearson": (0.0, 0.0),
    "fgan-hellinger": (0.0, 0.0),
    "fgan-js": (0.0, 0.0),
}


@pytest.mark.parametrize("name", NAMES)
def test_values_at_zero_logits(name):
    loss, zeros = LOSSES[name], torch.zeros(4, dtype=torch.float64)
    d_expected, g_expected = AT_ZERO[name]
    assert loss.d_loss(zeros, zeros, 1.0).item() == pytest.approx(d_expected, abs=1e-12)
    assert loss.g_loss(zeros, zeros).item() == pytest.approx(g_expected, abs=1e-12)


@pytest.mark.parametrize("real_label", [1.0, 0.9])
@pytest.mark.parametrize("name", NAMES)
def test_values_at_asymmetric_logits(name, real_label):
    r, f = [1.5, -0.5, 0.25], [-2.0, 0.7, 0.1]
    loss = LOSSES[name]
    d_expected, g_expected = reference(name, r, f, real_label)
    assert loss.d_loss(t64(r), t64(f), real_label).item() == pytest.approx(d_expected, rel=1e-12)
    assert loss.g_loss(t64(f), t64(r)).item() == pytest.approx(g_expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", ["wgan", "wgan-gp", "hinge"])
def test_real_label_ignored_by_critics(name):
    r, f = t64([1.5, -0.5]), t64([-2.0, 0.7])
    loss = LOSSES[name]
    assert loss.d_loss(r, f, 0.9).item() == loss.d_loss(r, f, 1.0).item()


def test_bce_matches_torch_bce_with_logits_and_smoothing():
    r, f = t64([3.0, -1.0, 0.5]), t64([-4.0, 2.0, 0.0])
    for a in (1.0, 0.9):
        expected = F.binary_cross_entropy_with_logits(
            r, torch.full_like(r, a)
        ) + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
        got = LOSSES["minimax"].d_loss(r, f, a)
        assert got.item() == pytest.approx(expected.item(), rel=1e-12)
    # The saturating G is −BCE(l_f, 0) = E log(1 − σ), not BCE(l_f, 1) (the non-saturating one).
    sat = -F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
    assert LOSSES["minimax"].g_loss(f, None).item() == pytest.approx(sat.item(), rel=1e-12)


def test_g_losses_accept_none_when_real_unused():
    f = t64([0.3, -0.2])
    for name in NAMES:
        if not LOSSES[name].g_uses_real:
            assert torch.isfinite(LOSSES[name].g_loss(f, None))


# --- gradients ------------------------------------------------------------------------------


def g_grad(name, logits):
    l_f = t64(logits).requires_grad_(True)
    LOSSES[name].g_loss(l_f, torch.zeros_like(l_f)).backward()
    return l_f.grad.numpy()


def test_generator_gradients_wrt_logits():
    logits = [-3.0, -0.5, 0.0, 2.0]
    B, sig = len(logits), 1 / (1 + np.exp(-np.array(logits)))
    np.testing.assert_allclose(g_grad("minimax", logits), -sig / B, rtol=1e-12)
    np.testing.assert_allclose(g_grad("nonsaturating", logits), -(1 - sig) / B, rtol=1e-12)
    for name in ("wgan", "wgan-gp", "hinge"):
        np.testing.assert_allclose(g_grad(name, logits), -np.ones(B) / B, rtol=1e-12)


def test_saturating_gradient_vanishes_when_d_wins():
    B = 4
    sat = g_grad("minimax", [-10.0] * B)
    ns = g_grad("nonsaturating", [-10.0] * B)
    np.testing.assert_allclose(sat, -4.5397868702434395e-05 / B, rtol=1e-9)
    np.testing.assert_allclose(ns, -(1 - 4.5397868702434395e-05) / B, rtol=1e-9)
    assert np.all(np.abs(sat) < 1e-4 * np.abs(ns))


@pytest.mark.parametrize(
    ("dtype", "names"),
    [(torch.float64, NAMES), (torch.float32, [n for n in NAMES if n not in EXPONENTIAL])],
)
@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_extreme_logits_are_finite(dtype, names, real_label):
    for name in names:
        loss = LOSSES[name]
        l_r = torch.tensor([100.0, -100.0, 0.0], dtype=dtype, requires_grad=True)
        l_f = torch.tensor([-100.0, 100.0, 0.0], dtype=dtype, requires_grad=True)
        d = loss.d_loss(l_r, l_f, real_label)
        g = loss.g_loss(l_f, l_r)
        d_grads = torch.autograd.grad(d, (l_r, l_f))
        g_grad_f = torch.autograd.grad(g, l_f)[0]
        assert torch.isfinite(d), name
        assert torch.isfinite(g), name
        assert all(torch.isfinite(t).all() for t in (*d_grads, g_grad_f)), name


# --- optimal discriminators ------------------------------------------------------------------


def test_bce_optimal_is_density_ratio():
    p_r, p_g = np.array([0.3, 0.0, 0.1, 0.0]), np.array([0.1, 0.2, 0.1, 0.0])
    for name in ("minimax", "nonsaturating", "lsgan"):
        opt = LOSSES[name].optimal
        np.testing.assert_allclose(opt(p_r, p_g, 1.0), [0.75, 0.0, 0.5, 0.5])
        np.testing.assert_allclose(opt(p_r, p_g, 0.9), [0.675, 0.0, 0.45, 0.45])
    np.testing.assert_array_equal(LOSSES["hinge"].optimal(p_r, p_g, 1.0), [1, -1, 0, 0])


OPTIMAL_NAMES = [n for n in NAMES if LOSSES[n].optimal is not None]


@pytest.mark.parametrize("real_label", [1.0, 0.9])
@pytest.mark.parametrize("name", OPTIMAL_NAMES)
def test_optimal_minimises_pointwise_objective(name, real_label):
    """output(argmin_l p_r·L_real(l) + p_g·L_fake(l)) equals optimal(p_r, p_g) in display space."""
    loss = LOSSES[name]
    zero = t64([0.0])
    for p_r, p_g in [(0.3, 0.1), (0.05, 0.4)]:

        def objective(v, p_r=p_r, p_g=p_g):
            v = t64([v])
            real_part = loss.d_loss(v, zero, real_label)  # L_real(v) + L_fake(0)
            fake_part = loss.d_loss(zero, v, real_label)  # L_real(0) + L_fake(v)
            return (p_r * real_part + p_g * fake_part).item()

        res = minimize_scalar(
            objective, bounds=(-15, 15), method="bounded", options={"xatol": 1e-11}
        )
        shown = loss.output(t64([res.x])).item()
        expected = loss.optimal(np.array([p_r]), np.array([p_g]), real_label)[0]
        assert shown == pytest.approx(expected, abs=1e-5), (p_r, p_g)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("fgan-")])
def test_fgan_optimal_at_equilibrium_is_f_prime_at_1(name):
    p = np.array([0.0, 1e-3, 0.2, 1.5])
    fdiv = F_DIVERGENCES[name.removeprefix("fgan-")]
    np.testing.assert_allclose(LOSSES[name].optimal(p, p, 1.0), fdiv.f_prime_at_1, atol=1e-12)


# --- f-divergence table ----------------------------------------------------------------------


@pytest.mark.parametrize("key", list(F_DIVERGENCES))
def test_f_table_identities(key):
    fdiv = F_DIVERGENCES[key]
    u = np.array([0.2, 0.7, 1.0, 2.5, 6.0])
    f_at_1 = -math.log(4) if key == "gan" else 0.0  # the GAN row is D_f = 2·JSD − log 4
    assert fdiv.f(np.array(1.0)) == pytest.approx(f_at_1, abs=1e-15)
    assert fdiv.f_prime(np.array(1.0)) == pytest.approx(fdiv.f_prime_at_1, abs=1e-15)
    # Fenchel–Young equality at t = f'(u): f*(f'(u)) = u f'(u) − f(u).
    t = fdiv.f_prime(u)
    np.testing.assert_allclose(fdiv.conjugate(t), u * t - fdiv.f(u), rtol=1e-10, atol=1e-12)
    # Fused f*(g_f(v)) equals the composition; numpy and torch agree.
    v = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(fdiv.conjugate_activation(v), fdiv.conjugate(fdiv.activation(v)))
    for fn in (fdiv.activation, fdiv.conjugate_activation):
        np.testing.assert_allclose(fn(torch.from_numpy(v)).numpy(), fn(v), rtol=1e-12)
    np.testing.assert_allclose(fdiv.conjugate(torch.from_numpy(t)).numpy(), fdiv.conjugate(t))


def gaussians():
    x, dx = np.linspace(-12, 12, 4801, retstep=True)
    p = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    q = np.exp(-0.5 * ((x - 0.5) / 1.2) ** 2) / (1.2 * math.sqrt(2 * math.pi))
    return p, q, dx


@pytest.mark.parametrize("key", list(F_DIVERGENCES))
def test_variational_bound_is_tight_at_t_star(key):
    fdiv, (p, q, dx) = F_DIVERGENCES[key], gaussians()
    t_star = fdiv.f_prime(p / q)
    bound = np.sum(p * t_star) * dx - np.sum(q * fdiv.conjugate(t_star)) * dx
    assert bound == pytest.approx(f_divergence(p, q, dx, fdiv), abs=1e-6)


def test_f_divergence_known_values():
    p, q, dx = gaussians()
    kl = math.log(1.2) + (1 + 0.25) / (2 * 1.44) - 0.5  # KL(N(0,1) ‖ N(0.5,1.2²))
    assert f_divergence(p, q, dx, F_DIVERGENCES["kl"]) == pytest.approx(kl, abs=1e-9)
    m = 0.5 * (p + q)
    jsd = 0.5 * np.sum(p * np.log(p / m)) * dx + 0.5 * np.sum(q * np.log(q / m)) * dx
    assert f_divergence(p, q, dx, F_DIVERGENCES["js"]) == pytest.approx(2 * jsd, abs=1e-10)
    gan = f_divergence(p, q, dx, F_DIVERGENCES["gan"])
    assert gan == pytest.approx(2 * jsd - math.log(4), abs=1e-10)


def test_f_divergence_handles_zero_densities():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.0, 0.5])
    expected = {
        "kl": math.inf,
        "rkl": math.inf,
        "pearson": math.inf,
        "hellinger": 1.0,
        "js": LOG2,
        "gan": -LOG2,
    }
    with np.errstate(all="raise"):
        for key, value in expected.items():
            assert f_divergence(p, q, 1.0, F_DIVERGENCES[key]) == pytest.approx(value), key


# --- penalties ------------------------------------------------------------------------------


def batches(seed=0, n=16):
    gen = torch.Generator().manual_seed(seed)
    real = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return real, torch.randn(n, 2, generator=gen, dtype=torch.float64) + 3.0


def test_gradient_penalty_linear_critic_and_its_parameter_gradient():
    real, fake = batches()
    w = t64([0.6, 2.0]).requires_grad_(True)
    gp = gradient_penalty(lambda x: x @ w, real, fake, torch.Generator().manual_seed(1))
    norm = math.hypot(0.6, 2.0)
    assert gp.item() == pytest.approx((norm - 1) ** 2, rel=1e-12)
    gp.backward()  # create_graph=True: the penalty reaches D's parameters
    np.testing.assert_allclose(w.grad.numpy(), 2 * (norm - 1) * np.array([0.6, 2.0]) / norm)


def test_gradient_penalty_is_per_sample_on_interpolates():
    real, fake = batches()

    def quadratic(x):
        return 0.5 * (x**2).sum(dim=1)  # ∇ = x

    gp = gradient_penalty(quadratic, real, fake, torch.Generator().manual_seed(7))
    eps = torch.rand((len(real), 1), generator=torch.Generator().manual_seed(7), dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).numpy()
    per_sample = np.mean((np.linalg.norm(x_hat, axis=1) - 1) ** 2)
    assert gp.item() == pytest.approx(per_sample, rel=1e-12)
    whole_batch = (np.linalg.norm(x_hat) - 1) ** 2  # the torchgan bug
    assert abs(whole_batch - per_sample) > 1.0
    # real == fake fixes x̂ whatever ε is.
    same = gradient_penalty(quadratic, real, real.clone())
    expected = np.mean((np.linalg.norm(real.numpy(), axis=1) - 1) ** 2)
    assert same.item() == pytest.approx(expected, rel=1e-12)


def test_gradient_penalty_with_module_output_b1():
    real, fake = batches()
    d = torch.nn.Linear(2, 1).double()
    gp = gradient_penalty(d, real, fake)
    assert gp.item() == pytest.approx((d.weight.norm().item() - 1) ** 2, rel=1e-12)


def test_r1_penalty():
    real, _ = batches()
    w = t64([0.6, 2.0])
    assert r1_penalty(lambda x: x @ w, real).item() == pytest.approx(0.36 + 4.0, rel=1e-12)
    quad = r1_penalty(lambda x: 0.5 * (x**2).sum(dim=1), real)
    assert quad.item() == pytest.approx(np.mean(np.sum(real.numpy() ** 2, axis=1)), rel=1e-12)
