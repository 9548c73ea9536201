"""metrics.divergences: the one estimator behind every JS/KL/W1 on screen, against closed forms,
SciPy and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from gandemo import metrics as M
from gandemo.config import ConfigError
from gandemo.targets import TARGETS, get_target

LN2 = math.log(2)
N = 2000  # the trainer's default eval_samples


def mixture_samples(name, width, n=N, seed=0):
    """n draws from the target's mixture with every component's σ multiplied by ``width``."""
    t, r = get_target(name), np.random.default_rng(seed)
    k = r.choice(len(t.weights), n, p=t.weights)
    return t.means[k] + width * t.std * r.standard_normal((n, t.dim))


def smoothed_gauss_kl(m1, s1, m2, s2, h):
    """KL(N(m1, s1²)∗K_h ‖ N(m2, s2²)∗K_h): variances grow by h²."""
    return M.gaussian_kl(m1, math.hypot(s1, h), m2, math.hypot(s2, h))


def test_every_target_has_a_fixed_positive_bandwidth():
    for t in TARGETS.values():
        assert t.kde_bandwidth > 0
        out = M.divergences(t, t.sample(np.random.default_rng(0), 500), w1_n=100)
        assert out["bandwidth"] == t.kde_bandwidth
        assert {"js", "kl_rg", "kl_gr", "tv", "w1", "w1_method", "v_opt"} <= set(out)


def test_bandwidth_does_not_depend_on_the_samples():
    t = get_target("ring8")
    a = M.divergences(t, mixture_samples("ring8", 1), w1_n=50)
    b = M.divergences(t, mixture_samples("ring8", 3), w1_n=50)
    assert a["bandwidth"] == b["bandwidth"] == t.kde_bandwidth


def test_ring8_three_times_too_wide_is_clearly_worse_than_perfect():
    perfect = [M.divergences("ring8", get_target("ring8").sample(np.random.default_rng(s), N),
                             w1_n=50)["js"] for s in range(3)]
    wide = [M.divergences("ring8", mixture_samples("ring8", 3, seed=s), w1_n=50)["js"]
            for s in range(3)]
    assert max(perfect) * 4 < min(wide)


@pytest.mark.parametrize("name", ["gaussian", "ring8"])
def test_half_the_mass_far_outside_the_window_is_seen(name):
    t = get_target(name)
    x = t.sample(np.random.default_rng(1), N).astype(float)
    x[: N // 2] += 50.0
    out = M.divergences(t, x, w1_n=200)
    assert out["outside_mass"] == pytest.approx(0.5, abs=1e-9)
    assert out["js"] >= 0.15
    # the outside cell alone: JS ≥ the JS of Bernoulli(ε) vs Bernoulli(½), ε = p_r's share there
    eps = out["outside_mass_r"]
    js_cell = 0.5 * (eps * math.log(2 * eps / (eps + 0.5)) + (1 - eps) * math.log(
        2 * (1 - eps) / (1.5 - eps)) + 0.5 * math.log(1 / (eps + 0.5)) + 0.5 * math.log(
        1 / (1.5 - eps)))
    assert out["js"] >= js_cell - 1e-9


@pytest.mark.parametrize(("mu", "s"), [(2.0, 0.5), (1.5, 0.6), (2.5, 0.8)])
def test_1d_kl_and_js_of_gaussians_match_the_smoothed_closed_forms(mu, s):
    """Generator at least as wide as the target (its KDE tails are then not the issue): KL and
    JS of N(2, 0.5²)∗K_h and N(μ, s²)∗K_h. Error budget (docs/theory.md): 10 % or 0.02 nats
    at n = 2000."""
    t = get_target("gaussian")
    h = t.kde_bandwidth
    x = mu + s * np.random.default_rng(3).standard_normal((N, 1))
    out = M.divergences(t, x)
    assert out["kl_rg"] == pytest.approx(smoothed_gauss_kl(2, 0.5, mu, s, h), rel=0.1, abs=0.02)
    assert out["kl_gr"] == pytest.approx(smoothed_gauss_kl(mu, s, 2, 0.5, h), rel=0.1, abs=0.02)
    pr, pg = stats.norm(2, math.hypot(0.5, h)), stats.norm(mu, math.hypot(s, h))

    def integrand(z):
        a, b = pr.pdf(z), pg.pdf(z)
        m = (a + b) / 2
        return 0.5 * (a * math.log(a / m) if a > 0 else 0) + 0.5 * (
            b * math.log(b / m) if b > 0 else 0)

    js, _ = integrate.quad(integrand, -10, 14, points=[mu, 2.0], limit=200)
    assert out["js"] == pytest.approx(js, abs=0.01)
    assert out["v_opt"] == pytest.approx(2 * out["js"] - 2 * LN2, abs=1e-12)


def test_too_narrow_generator_reads_near_the_true_kl_not_a_floor():
    """N(2, 0.25²) against N(2, 0.5²): KL(p_r‖p_g) = 0.807 nats. The old floored KDE read 1.78."""
    true = M.gaussian_kl(2, 0.5, 2, 0.25)
    vals = [M.divergences("gaussian", 2 + 0.25 * np.random.default_rng(s).standard_normal(
        (N, 1)))["kl_rg"] for s in range(4)]
    assert np.isfinite(vals).all() and abs(np.mean(vals) - true) < 0.2


def test_disjoint_supports_give_a_large_finite_smoothed_kl_and_inf_only_where_true():
    """After the common smoothing both densities have full support, so KL stays finite
    (≈ d²/2h²). Outside the window with a uniform p_r (no mass there at all) without smoothing
    leak, KL would be ∞: the estimator reports ∞ exactly when one side has mass on a cell where
    the other's log-mass is −∞."""
    t = get_target("ring8")
    out = M.divergences(t, np.zeros((N, 2)), w1_n=100)
    h = t.kde_bandwidth
    assert out["js"] == pytest.approx(LN2, abs=1e-3)
    assert 0.5 * 4 / (2 * h**2) < out["kl_rg"] < np.inf
    a, b = np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.25, 0.25])
    with np.errstate(divide="ignore"):
        assert M._log_kl(np.log(b), np.log(a)) == math.inf == stats.entropy(b, a)
        assert M._log_kl(np.log(a), np.log(b)) == pytest.approx(stats.entropy(a, b), rel=1e-12)


def test_uniform_target_has_no_mass_outside_and_leaving_samples_cost_d2_over_2h2():
    """U(−1, 3) puts no mass beyond ±5 (log mass −∞); after smoothing by h its tail there is
    ≈ exp(−d²/2h²), d = 2.0125 from the support's edge to the window's, so 0.5 % of samples
    far outside cost ≈ 0.005·d²/(2h²) nats of KL(p_g‖p_r): huge, exact in log space, no floor."""
    t = get_target("uniform")
    assert t.log_mass_outside((np.array([-5.0, 5.0]),)) == -math.inf
    h = 1e-3
    est = M.DivergenceEstimator(t, bandwidth=h)
    x = t.sample(np.random.default_rng(0), N).astype(float)
    x[:10] = 40.0
    out = est(x)
    d = est.edges[0][-1] - 3.0
    assert out["kl_gr"] == pytest.approx(0.005 * d**2 / (2 * h**2), rel=0.01)
    assert math.isfinite(out["kl_rg"]) and out["js"] < LN2


def test_outside_mass_of_a_mixture_matches_a_direct_computation():
    t = get_target("ring8")
    edges = (np.array([-2.0, 2.05]), np.array([-2.0, 2.05]))
    inside = sum(w * np.prod([stats.norm(m, t.std).cdf(e[1]) - stats.norm(m, t.std).cdf(e[0])
                              for m, e in zip(mu, edges)]) for w, mu in zip(t.weights, t.means))
    assert math.exp(t.log_mass_outside(edges)) == pytest.approx(1 - inside, rel=1e-9)
    # far out: the exact tiny mass, not 0
    far = t.log_mass_outside((np.array([-3.0, 3.0]), np.array([-3.0, 3.0])))
    assert -1e4 < far < -1000


def test_bad_input_names_the_setting():
    with pytest.raises(ValueError, match="samples"):
        M.divergences("ring8", np.zeros((5, 1)))
    with pytest.raises(ValueError, match="bandwidth"):
        M.divergences("ring8", np.zeros((5, 2)), bandwidth=-1.0)
    with pytest.raises(ValueError, match="w1_n"):
        M.divergences("ring8", np.zeros((5, 2)), w1_n=1)
    with pytest.raises(ConfigError, match="allowed"):
        M.divergences("nope", np.zeros((5, 2)))


# ------------------------------------------------------------------ W1 in 2D


def test_2d_w1_is_exact_ot_and_agrees_with_linear_sum_assignment():
    r = np.random.default_rng(5)
    a, b = r.normal(size=(300, 2)), r.normal(size=(300, 2)) * [1.5, 0.5] + 0.3
    w1, k = M.w1_ot(a, b, max_n=300)
    rows, cols = linear_sum_assignment(cdist(a, b))
    assert k == 300 and w1 == pytest.approx(cdist(a, b)[rows, cols].mean(), rel=1e-9)
    assert w1 == pytest.approx(M.w1_exact(a, b, max_n=300), rel=1e-9)


def test_w1_of_a_pure_shift_is_its_length_and_sliced_is_not():
    a = get_target("ring8").sample(np.random.default_rng(2), 400).astype(float)
    s = np.array([0.6, -0.9])
    out = M.divergences("ring8", a + s, real=a)
    assert out["w1"] == pytest.approx(np.linalg.norm(s), rel=1e-9)
    assert out["w1_method"] == "exact OT on n = 400" and out["w1_n"] == 400
    assert M.w1_sliced(a + s, a) == pytest.approx(2 / math.pi * np.linalg.norm(s), rel=0.02)


def test_w1_subsample_size_and_1d_method():
    t = get_target("ring8")
    out = M.divergences(t, t.sample(np.random.default_rng(0), 1500), w1_n=200)
    assert out["w1_n"] == 200 and "200" in out["w1_method"]
    x = get_target("gaussian").sample(np.random.default_rng(0), 700)
    out1 = M.divergences("gaussian", x + 1.0, real=x)
    assert out1["w1"] == pytest.approx(1.0, abs=1e-6) and "1D" in out1["w1_method"]


def test_csv_export_writes_inf_and_reads_back_as_inf():
    import io

    import pandas as pd

    from gandemo import export

    text = export.history_csv({"step": np.array([10.0, 20.0]), "kl_rg": np.array([np.inf, 1.5]),
                               "js": np.array([LN2, np.nan])})
    header, first = (line.split(",") for line in text.splitlines()[:2])
    assert first[header.index("kl_rg")] == "inf"
    back = pd.read_csv(io.StringIO(text))
    assert back["kl_rg"].iloc[0] == np.inf and np.isnan(back["js"].iloc[1])
