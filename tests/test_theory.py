"""The Theory page's numbers (gandemo.theory) against SciPy and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon
from scipy.special import ndtr
from scipy.stats import wasserstein_distance

from gandemo import figures as F
from gandemo import metrics as M
from gandemo import theory as T

LN2 = math.log(2)
GAUSS_PAIRS = [(0.0, 1.0, 2.0, 0.6), (0.0, 1.0, 1.0, 1.0), (-1.0, 0.5, 0.5, 1.2),
               (1.0, 0.8, 1.3, 0.7)]


def gauss(mu, sigma):
    return T.density(T.Dist.make("gaussian", mu=mu, sigma=sigma))


def hellinger_closed(m1, s1, m2, s2):
    """∫(√p − √q)² = 2(1 − BC), BC = √(2 s1 s2/(s1² + s2²)) exp(−(m1 − m2)²/(4(s1² + s2²)))."""
    v = s1**2 + s2**2
    bc = math.sqrt(2 * s1 * s2 / v) * math.exp(-((m1 - m2) ** 2) / (4 * v))
    return 2 * (1 - bc)


def pearson_closed(m1, s1, m2, s2):
    """χ²(N1‖N2) = s2²/(s1·√(2 s2² − s1²))·exp((m1 − m2)²/(2 s2² − s1²)) − 1 (∞ if 2 s2² ≤ s1²)."""
    d = 2 * s2**2 - s1**2
    if d <= 0:
        return math.inf
    return s2**2 / (s1 * math.sqrt(d)) * math.exp((m1 - m2) ** 2 / d) - 1


# ------------------------------------------------------------------ families and the grid


@pytest.mark.parametrize("family", list(T.FAMILIES))
def test_every_family_is_a_normalised_density_with_the_right_mean(family):
    d = T.Dist.make(family)
    p = T.density(d)
    assert p.shape == T.GRID.shape and np.all(p >= 0)
    assert (p * T.DX).sum() == pytest.approx(1.0, abs=1e-12)
    assert (T.GRID * p * T.DX).sum() == pytest.approx(d.mean(), abs=1e-6)
    shifted = T.density(d.shifted(1.5))
    assert (T.GRID * shifted * T.DX).sum() == pytest.approx(d.mean() + 1.5, abs=1e-6)


def test_density_is_the_cell_average_of_the_exact_cdf_tails_included():
    d = T.Dist.make("gaussian", mu=0.0, sigma=0.5)
    p = T.density(d)
    x = T.GRID
    exact = (ndtr((x + T.DX / 2) / 0.5) - ndtr((x - T.DX / 2) / 0.5)) / T.DX
    inner = np.abs(x) < 3
    np.testing.assert_allclose(p[inner], exact[inner], rtol=1e-6)  # the reference cancels
    # 20σ out, 1 − F would round to 0: the upper tail keeps its mass (relative precision)
    far = np.argmin(np.abs(x - 10.0))
    sf = stats.norm(scale=0.5).sf
    tail = sf(x[far] - T.DX / 2) - sf(x[far] + T.DX / 2)
    assert p[far] == pytest.approx(tail / T.DX, rel=1e-6) and p[far] > 0


def test_uniform_endpoints_are_ordered_and_kept_apart():
    d = T.Dist.make("uniform", a=2.0, b=-1.0)
    assert d.p == {"a": -1.0, "b": 2.0}
    assert T.Dist.make("uniform", a=1.0, b=1.0).p["b"] == pytest.approx(1.0 + T.MIN_UNIFORM_WIDTH)
    with pytest.raises(KeyError):
        T.Dist.make("cauchy")
    with pytest.raises(KeyError):
        T.Dist.make("gaussian", nu=1.0)
    with pytest.raises(ValueError):
        T.Dist.make("gaussian", sigma=0.0)


# ------------------------------------------------------------------ the five numbers


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), GAUSS_PAIRS)
def test_kl_of_gaussians_matches_the_closed_form_both_ways(m1, s1, m2, s2):
    table = T.divergence_table(gauss(m1, s1), gauss(m2, s2))
    assert table.kl_pq == pytest.approx(M.gaussian_kl(m1, s1, m2, s2), rel=1e-4, abs=1e-6)
    assert table.kl_qp == pytest.approx(M.gaussian_kl(m2, s2, m1, s1), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), GAUSS_PAIRS)
def test_js_matches_scipy_jensenshannon_squared(m1, s1, m2, s2):
    p, q = gauss(m1, s1), gauss(m2, s2)
    table = T.divergence_table(p, q)
    assert table.js == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-12)
    assert table.js_bits == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert 0 <= table.js <= LN2 and table.js_bits == pytest.approx(table.js / LN2)


def test_js_of_two_gaussians_matches_quadrature():
    """JS has no closed form for Gaussians: compare with scipy.integrate.quad of the density."""
    pn, qn = stats.norm(0, 1), stats.norm(2, 0.6)

    def integrand(x):
        a, b = pn.pdf(x), qn.pdf(x)
        m = (a + b) / 2
        left = a * math.log(a / m) if a > 0 else 0.0
        right = b * math.log(b / m) if b > 0 else 0.0
        return 0.5 * (left + right)

    exact, _ = integrate.quad(integrand, -12, 12, points=[0, 2], limit=200)
    assert T.divergence_table(gauss(0, 1), gauss(2, 0.6)).js == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize(("pd", "qd"), [
    (("gaussian", {"mu": 0.0, "sigma": 1.0}), ("gaussian", {"mu": 2.0, "sigma": 0.6})),
    (("mixture", {}), ("laplace", {"mu": 1.0, "b": 0.5})),
    (("uniform", {"a": -1.0, "b": 1.0}), ("gaussian", {"mu": 0.5, "sigma": 1.2})),
])
def test_w1_matches_scipy_wasserstein_distance(pd, qd):
    p, q = T.density(T.Dist.make(pd[0], **pd[1])), T.density(T.Dist.make(qd[0], **qd[1]))
    ref = wasserstein_distance(T.GRID, T.GRID, p, q)
    assert T.divergence_table(p, q).w1 == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("family", list(T.FAMILIES))
@pytest.mark.parametrize("shift", [0.3, 1.7, 5.0])
def test_w1_of_a_pure_shift_is_the_shift(family, shift):
    d = T.Dist.make(family)
    assert T.divergence_table(T.density(d), T.density(d.shifted(shift))).w1 == pytest.approx(
        shift, abs=1e-6)


def test_tv_and_the_special_cases():
    p = gauss(0, 1)
    same = T.divergence_table(p, p)
    assert same.kl_pq == same.kl_qp == same.js == same.tv == same.w1 == 0
    far = T.divergence_table(T.density(T.DISJOINT_P), T.density(T.DISJOINT_Q))
    assert far.js == pytest.approx(LN2, abs=1e-15) and far.js_bits == pytest.approx(1.0)
    assert far.tv == pytest.approx(1.0, abs=1e-12)
    assert far.kl_pq == math.inf and far.kl_qp == math.inf
    # TV of two Gaussians with equal σ: 2Φ(|Δμ|/2σ) − 1
    assert T.divergence_table(gauss(0, 1), gauss(1.5, 1)).tv == pytest.approx(
        2 * stats.norm.cdf(0.75) - 1, abs=1e-5)


def test_kl_is_infinite_only_where_q_truly_vanishes():
    u = T.density(T.Dist.make("uniform", a=-1.0, b=1.0))
    g = gauss(0, 1)
    table = T.divergence_table(g, u)  # p = N(0, 1) has mass outside [−1, 1]
    assert table.kl_pq == math.inf and math.isfinite(table.kl_qp)
    # however little mass p has off q's support, KL is ∞ (the old 1e-5 mass rule showed
    # 1.3536 and 0.8840 here), and the reason names that mass
    for sigma, half in ((0.5, 4.0), (0.2, 1.0)):
        p_ = gauss(0, sigma)
        q_ = T.density(T.Dist.make("uniform", a=-half, b=half))
        off = 2 * stats.norm.sf((half + T.DX / 2) / sigma)  # beyond the edge cell, exact
        assert T.divergence_table(p_, q_).kl_pq == math.inf
        assert T.off_support_mass(p_, q_, T.DX) == pytest.approx(off, rel=0.05)
        assert "= ∞" in T.kl_inf_reason(p_, q_, T.DX)
    assert T.kl_inf_reason(g, g, T.DX) is None
    # the extreme σ ratio of the sliders: q's tail cells underflow, but stay > 0 (full support)
    wide, narrow = gauss(0, 1.5), gauss(0, 0.2)
    assert np.all(narrow > 0)
    assert T.divergence_table(wide, narrow).kl_pq == pytest.approx(
        M.gaussian_kl(0, 1.5, 0, 0.2), rel=1e-3)


def test_integrands_integrate_to_the_numbers():
    p, q = T.density(T.Dist.make("mixture")), gauss(0.5, 0.8)
    table, ints = T.divergence_table(p, q), T.integrands(p, q)
    for key in T.INTEGRAND_KEYS:
        assert ints[key].sum() * T.DX == pytest.approx(getattr(table, key), rel=1e-9, abs=1e-12)
        assert np.all(ints[key] >= -1e-15) or key.startswith("kl")


# ------------------------------------------------------------------ the sweep


def test_sweep_js_saturates_at_ln2_and_w1_grows_linearly():
    d = T.Dist.make("gaussian", mu=0.0, sigma=0.5)
    sweep = T.shift_sweep(d, np.linspace(0, 8, 161))
    s, js, w1 = sweep["shift"], sweep["js"], sweep["w1"]
    np.testing.assert_allclose(w1, s, atol=1e-6)  # pure shift: W1 = s exactly
    assert np.all(np.diff(js) >= -1e-12) and js[0] == 0
    far = s >= 6  # 12σ apart: effectively disjoint
    assert np.all(np.abs(js[far] - LN2) < 1e-3)
    assert np.ptp(js[far]) < 1e-6  # flat
    assert sweep["js_bits"][-1] == pytest.approx(1.0, abs=1e-3)


def test_sweep_of_a_uniform_hits_ln2_exactly_once_disjoint():
    d = T.Dist.make("uniform", a=0.0, b=1.0)
    sweep = T.shift_sweep(d, np.array([0.5, 1.0 + 2 * T.DX, 2.0, 5.0]))
    assert sweep["js"][0] < LN2 - 0.1
    np.testing.assert_allclose(sweep["js"][1:], LN2, atol=1e-12)
    np.testing.assert_allclose(sweep["w1"], sweep["shift"], atol=1e-9)


def test_finite_difference_slopes():
    d = T.Dist.make("gaussian", mu=0.0, sigma=0.5)
    near, far = T.sweep_slopes(d, 1.0), T.sweep_slopes(d, 7.0)
    assert near["js"] > 0.1 and abs(far["js"]) < 1e-6
    assert near["w1"] == pytest.approx(1.0, abs=1e-6) and far["w1"] == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------ f-divergences


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), GAUSS_PAIRS)
@pytest.mark.parametrize("name", T.F_NAMES)
def test_f_divergence_rows_against_closed_forms(name, m1, s1, m2, s2):
    p, q = gauss(m1, s1), gauss(m2, s2)
    view = T.f_view(name, p, q)
    js = T.divergence_table(p, q).js
    expected = {
        "kl": M.gaussian_kl(m1, s1, m2, s2),
        "rkl": M.gaussian_kl(m2, s2, m1, s1),
        "pearson": pearson_closed(m1, s1, m2, s2),
        "hellinger": hellinger_closed(m1, s1, m2, s2),
        "js": 2 * js,
        "gan": 2 * js - math.log(4),
    }[name]
    if math.isinf(expected):
        assert view.d_f == math.inf
        return
    assert view.d_f == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert view.closed_form == pytest.approx(view.d_f, rel=1e-6, abs=1e-9)
    # the variational bound with the table's conjugate is tight at T* = f'(p/q)
    assert view.bound == pytest.approx(view.d_f, rel=1e-6, abs=1e-9)


def test_f_view_curves_are_the_registered_functions():
    view = T.f_view("hellinger", gauss(0, 1), gauss(1, 1))
    np.testing.assert_allclose(view.f_u, (np.sqrt(view.u) - 1) ** 2)
    np.testing.assert_allclose(view.conj_t, view.t / (1 - view.t))
    assert view.f_prime_at_1 == 0.0
    assert set(T.F_LATEX) == set(T.F_NAMES) == set(T.CONJUGATE_RANGE)


# ------------------------------------------------------------------ D*, V(G, D*), BCE


@pytest.mark.parametrize(("pd", "qd"), [
    (("gaussian", {"mu": 0.0, "sigma": 1.0}), ("gaussian", {"mu": 2.0, "sigma": 0.6})),
    (("mixture", {}), ("gaussian", {"mu": 0.0, "sigma": 1.0})),
    (("uniform", {"a": -2.0, "b": -1.0}), ("uniform", {"a": 1.0, "b": 2.0})),
    (("laplace", {}), ("laplace", {})),
])
def test_value_at_the_optimal_discriminator_is_2js_minus_2ln2(pd, qd):
    p, q = T.density(T.Dist.make(pd[0], **pd[1])), T.density(T.Dist.make(qd[0], **qd[1]))
    view = T.optimal_view(p, q)
    assert view.v_opt == pytest.approx(view.two_js_minus, abs=1e-9)
    assert T.fmt(view.v_opt, 6) == T.fmt(view.two_js_minus, 6)
    assert view.d_loss == pytest.approx(2 * LN2 - 2 * view.js, abs=1e-9)
    np.testing.assert_allclose(view.d_star, M.optimal_discriminator(p, q))
    assert np.all((view.d_star >= 0) & (view.d_star <= 1))


def test_cross_entropy_identity_with_closed_form_entropies():
    for d in (T.Dist.make("gaussian", mu=0.3, sigma=0.7), T.Dist.make("laplace", mu=0, b=0.5)):
        p, q = T.density(d), gauss(0.5, 1.1)
        ce = T.cross_entropy_view(p, q)
        assert ce["h_pq"] == pytest.approx(ce["h_p"] + ce["kl"], abs=1e-12)
        assert abs(ce["residual"]) < 1e-12
        assert ce["h_p"] == pytest.approx(d.entropy(), abs=1e-5)
    # a narrow density has negative differential entropy: H(p) is not 0, and not even ≥ 0
    assert T.cross_entropy_view(gauss(0, 0.2), gauss(0, 1))["h_p"] == pytest.approx(
        0.5 * math.log(2 * math.pi * math.e * 0.04), abs=1e-4)
    assert T.entropy(gauss(0, 0.2), T.DX) < 0


@pytest.mark.parametrize("target", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("o", [0.01, 0.3, 0.5, 0.99])
def test_bce_is_label_entropy_plus_bernoulli_kl(target, o):
    v = T.bce_view(o, target)
    assert v["bce"] == pytest.approx(v["h_t"] + v["kl"], abs=1e-12)
    assert v["bce"] == pytest.approx(-(target * math.log(o) + (1 - target) * math.log(1 - o)))
    if target in (0.0, 1.0):
        assert v["h_t"] == 0 and v["bce"] == pytest.approx(v["kl"])
    assert T.binary_entropy(0.9) == pytest.approx(0.3250829733914482)


def test_generator_loss_slopes():
    c = T.g_loss_curves()
    # d/dl log(1 − σ(l)) = −σ(l) = −d; d/dl [−log σ(l)] = −(1 − d)  (chain rule through σ' = d(1−d))
    inner = (c["d"] > 0.1) & (c["d"] < 0.8)  # the finite difference is coarse near the ends
    for name in ("saturating", "nonsaturating"):
        dl = np.gradient(c[name], c["d"]) * c["d"] * (1 - c["d"])
        np.testing.assert_allclose(dl[inner], c[f"slope_{name}"][inner], atol=2e-3)
    assert c["slope_saturating"][0] > -0.01 and c["slope_nonsaturating"][0] < -0.99


# ------------------------------------------------------------------ misconceptions


def test_misconception_numbers():
    p, q = gauss(0, 1), gauss(2, 0.6)
    m = T.misconceptions(p, q)
    assert m["a"]["js"] == pytest.approx(LN2, abs=1e-15)  # disjoint: ln 2, not 0
    assert abs(m["a"]["slope_js"]) < 1e-12  # ... and flat
    assert m["a"]["slope_w1"] == pytest.approx(1.0, abs=1e-9)
    assert m["b"]["js_disjoint_bits"] == pytest.approx(1.0) and m["b"]["js"] < LN2
    assert m["c"]["kl_pp"] == 0 and m["c"]["kl_pq"] > 0 and m["c"]["kl_qp"] > 0
    assert abs(m["c"]["gap"]) > 1  # asymmetric
    assert m["d"]["h_pq"] == pytest.approx(m["d"]["h_p"] + m["d"]["kl"])
    assert m["d"]["h_p"] == pytest.approx(0.5 * math.log(2 * math.pi * math.e), abs=1e-5)
    # disjoint supports: KL is ∞ (all of p's mass is off q's support), no floored ≈ 27.6
    assert m["e"]["kl_true"] == math.inf and m["e"]["off_mass"] == pytest.approx(1.0)
    assert m["e"]["js"] == pytest.approx(LN2, abs=1e-15)


def test_gibbs_inequality_on_random_pairs():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = T.Dist.make("gaussian", mu=rng.uniform(-2, 2), sigma=rng.uniform(0.3, 1.5))
        b = T.Dist.make("mixture", mu1=rng.uniform(-2, 0), mu2=rng.uniform(0, 2),
                        sigma=rng.uniform(0.3, 1.5), w=rng.uniform(0.1, 0.9))
        table = T.divergence_table(T.density(a), T.density(b))
        assert table.kl_pq > 0 and table.kl_qp > 0 and 0 < table.js < LN2


def test_fmt():
    assert T.fmt(0.123456) == "0.1235"
    assert T.fmt(-1e-13) == "0.0000"
    assert T.fmt(math.inf) == "∞" and T.fmt(-math.inf) == "−∞" and T.fmt(math.nan) == "—"
    assert T.fmt(-0.5001327, 6) == "-0.500133"


# ------------------------------------------------------------------ figures


def theory_figures(lang="en", style=F.STYLE) -> list:
    """The page's five figures for the default pair, in ``style``."""
    p, q = gauss(0, 1), gauss(2, 0.6)
    d = T.Dist.make("gaussian")
    sweep = T.shift_sweep(d, np.linspace(0, 12, 241))
    return [T.explorer_figure(p, q, "js", lang, style=style),
            T.sweep_figure(d, sweep, 1.0, lang, style=style),
            T.f_figure(T.f_view("gan", p, q), lang, style=style),
            T.optimal_figure(p, q, T.optimal_view(p, q), lang, style=style),
            T.g_loss_figure(0.3, lang, style=style)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_figures_build_with_fixed_heights_and_readable_fonts(lang):
    figs = theory_figures(lang)
    for fig in figs:
        assert fig.layout.height in T.HEIGHTS.values()
        assert fig.layout.font.size >= 13 and fig.layout.template.layout.paper_bgcolor == "white"
        for tr in fig.data:
            assert tr.x is None or len(tr.x) <= T.MAX_POINTS
    if lang == "zh":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in figs[0].layout.title.text)


def _text_colors(node) -> list[str]:
    """Every font colour in a figure's JSON."""
    if isinstance(node, dict):
        fonts = [node.get(k) for k in ("font", "tickfont", "textfont")]
        own = [f["color"] for f in fonts if isinstance(f, dict) and isinstance(f.get("color"), str)]
        return own + [c for v in node.values() for c in _text_colors(v)]
    if isinstance(node, list):
        return [c for v in node for c in _text_colors(v)]
    return []


def test_figures_follow_the_house_style_and_grow_in_presentation_mode():
    normal, big = theory_figures(style=F.STYLE), theory_figures(style=F.PRESENT)
    for a, b in zip(normal, big, strict=True):
        assert (a.layout.font.size, a.layout.title.font.size) == (F.STYLE.tick, F.STYLE.title)
        assert (b.layout.font.size, b.layout.title.font.size) == (F.PRESENT.tick,
                                                                  F.PRESENT.title)
        assert b.layout.legend.font.size == F.PRESENT.legend > a.layout.legend.font.size
        assert b.layout.font.family == a.layout.font.family == F.FONT_FAMILY
        # subplot titles at the panel-title size; the plot area keeps its height
        subtitles = [x.font.size for x in b.layout.annotations if x.yref == "paper"]
        assert all(size == F.PRESENT.panel_title for size in subtitles)
        assert b.layout.height - b.layout.margin.t - b.layout.margin.b == \
            a.layout.height - a.layout.margin.t - a.layout.margin.b
        assert b.layout.height > a.layout.height and b.layout.xaxis.gridcolor == "#d9d9d9"
        widths = [(x.line.width, y.line.width) for x, y in zip(a.data, b.data, strict=True)
                  if x.line is not None and x.line.width]
        assert widths and all(wb > wa for wa, wb in widths)
        sizes = [(x.marker.size, y.marker.size) for x, y in zip(a.data, b.data, strict=True)
                 if isinstance(x.marker.size, (int, float))]
        assert all(sb > sa for sa, sb in sizes)
        for fig in (a, b):  # Okabe–Ito lines, every word readable on white (WCAG AA)
            spec = fig.to_plotly_json()
            spec["layout"].pop("template", None)
            colors = _text_colors(spec)
            assert F.TEXT_COLOR in colors
            assert all(F.contrast_ratio(c) >= F.MIN_CONTRAST for c in colors)
    assert any(x.yref == "paper" for fig in big for x in fig.layout.annotations)
    assert big[0].data[0].line.color == F.COLORS["real"] == F.OKABE_ITO["blue"]
    assert big[1].data[2].line.color == F.COLORS["js"]
