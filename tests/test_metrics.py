"""Metrics: divergences on grids against closed forms and SciPy, W1 estimators, binned KDE."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from gandemo import metrics as M
from gandemo.targets import get_target

LN2 = np.log(2)
X = np.linspace(-12, 12, 6001)
AREA = X[1] - X[0]


def npdf(mu, s):
    return stats.norm.pdf(X, mu, s)


def rng(seed=0):
    return np.random.default_rng(seed)


def test_cell_area_and_normalise():
    axes = (np.linspace(0, 1, 11), np.linspace(-1, 1, 5))
    assert M.cell_area(axes) == pytest.approx(0.1 * 0.5)
    p = M.normalise(np.ones((5, 11)), 0.05)
    assert p.sum() * 0.05 == pytest.approx(1)
    assert np.isnan(M.normalise(np.zeros(3), 1.0)).all()


def test_gaussian_kl_closed_form():
    assert M.gaussian_kl(0, 1, 1, 2) == pytest.approx(LN2 + 2 / 8 - 0.5)
    assert M.gaussian_kl(1.5, 0.3, 1.5, 0.3) == 0


@pytest.mark.parametrize(
    "params", [(0, 1, 1, 2), (2, 0.5, -1, 1.5), (0, 1.2, 0.5, 1), (1, 1, 1, 1)]
)
def test_kl_of_discretised_gaussians_matches_closed_form(params):
    m1, s1, m2, s2 = params
    kl = M.kl_divergence(npdf(m1, s1), npdf(m2, s2), AREA)
    assert kl == pytest.approx(M.gaussian_kl(*params), abs=1e-4)


def test_kl_properties():
    p, q = npdf(0, 1), npdf(1, 0.5)
    assert M.kl_divergence(p, p, AREA) == pytest.approx(0, abs=1e-12)
    assert M.kl_divergence(p, q, AREA) > 0
    assert M.kl_divergence(q, p, AREA) > 0
    assert M.kl_divergence(p, q, AREA) != pytest.approx(M.kl_divergence(q, p, AREA), rel=0.1)
    assert M.kl_divergence(3 * p, q, AREA) == pytest.approx(M.kl_divergence(p, q, AREA))
    # p = 0 cells contribute nothing; q = 0 under p > 0 is floored: large but finite
    left, right = (X < 0).astype(float), (X >= 0).astype(float)
    assert M.kl_divergence(left, left + right, AREA) == pytest.approx(np.log(X.size / left.sum()))
    assert 20 < M.kl_divergence(left, right, AREA) < np.inf


def test_js_bounds_and_symmetry():
    p, q = npdf(0, 1), npdf(1, 0.5)
    assert M.js_divergence(p, p, AREA) == pytest.approx(0, abs=1e-12)
    assert 0 < M.js_divergence(p, q, AREA) < LN2
    assert M.js_divergence(p, q, AREA) == pytest.approx(M.js_divergence(q, p, AREA), rel=1e-12)
    left, right = (X < -1).astype(float), (X > 1).astype(float)
    assert M.js_divergence(left, right, AREA) == pytest.approx(LN2, abs=1e-12)


def test_js_matches_scipy_jensenshannon():
    r = rng()
    for _ in range(5):
        p, q = r.random(50), r.random(50)
        p[r.random(50) < 0.2] = 0
        assert M.js_divergence(p, q, 1.0) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-9)


def test_total_variation():
    p, q = npdf(0, 1), npdf(1, 1)
    assert M.total_variation(p, p, AREA) == pytest.approx(0, abs=1e-12)
    assert M.total_variation(p, q, AREA) == pytest.approx(2 * stats.norm.cdf(0.5) - 1, abs=1e-6)
    assert M.total_variation((X < 0) * 1.0, (X > 0) * 1.0, AREA) == pytest.approx(1)


def test_optimal_discriminator():
    d = M.optimal_discriminator([1, 0, 0, 3], [1, 2, 0, 1])
    np.testing.assert_array_equal(d, [0.5, 0, 0.5, 0.75])


def test_value_at_optimum_is_2js_minus_log4():
    for p, q in ((npdf(0, 1), npdf(1.5, 0.7)), (npdf(-2, 0.5), npdf(2, 0.5)), (npdf(0, 1),) * 2):
        v = M.value_at_optimum(p, q, AREA)
        assert v == pytest.approx(2 * M.js_divergence(p, q, AREA) - 2 * LN2, abs=1e-9)
    assert M.value_at_optimum(npdf(0, 1), npdf(0, 1), AREA) == pytest.approx(-np.log(4))
    # against the definition E_pr log D* + E_pg log(1 − D*) on strictly positive vectors
    p, q = rng(1).random(40) + 0.1, rng(2).random(40) + 0.1
    p, q = p / p.sum(), q / q.sum()
    d = M.optimal_discriminator(p, q)
    direct = (p * np.log(d)).sum() + (q * np.log(1 - d)).sum()
    assert M.value_at_optimum(p, q, 1.0) == pytest.approx(direct, abs=1e-12)


@pytest.mark.parametrize(("n", "m"), [(1000, 1500), (7, 13), (500, 500), (1, 4)])
def test_w1_1d_matches_scipy(n, m):
    a, b = rng(n).normal(0, 1, n), rng(m).standard_t(3, m) * 2 + 1
    assert M.w1_1d(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    assert M.w1_1d(a[:, None], a + 3) == pytest.approx(3)


def test_w1_exact_and_sliced_on_a_shifted_cloud():
    a, shift = rng().normal(size=(300, 2)), np.array([1.0, -2.0])
    b = rng(1).permutation(a + shift)
    assert M.w1_exact(a, b) == pytest.approx(np.linalg.norm(shift), rel=1e-12)
    # every projection of a shift is a shift by |⟨s, θ⟩|; E|cos| = 2/π
    assert M.w1_sliced(a, b) == pytest.approx(2 / np.pi * np.linalg.norm(shift), rel=1e-3)
    assert M.w1_sliced(a, b) == M.w1_sliced(a, b)  # fixed seed


def test_sliced_is_below_exact_w1():
    a = rng().normal(size=(400, 2))
    b = rng(1).normal(size=(400, 2)) * [2.0, 0.5] + [0.3, 0.0]
    sliced, exact = M.w1_sliced(a, b), M.w1_exact(a, b)
    assert 0.2 * exact < sliced <= exact
    assert M.w1_sliced(a, b[:250]) > 0  # unequal sizes go through the merged quantile grid


def test_w1_exact_subsamples_and_agrees_with_1d():
    a, b = rng().normal(size=200), rng(1).normal(1, 2, size=200)
    assert M.w1_exact(a, b) == pytest.approx(M.w1_1d(a, b), rel=1e-9)
    big_a, big_b = rng(2).normal(size=(3000, 2)), rng(3).normal(size=(2000, 2)) + [3, 4]
    w = M.w1_exact(big_a, big_b, max_n=200, seed=5)
    assert w == M.w1_exact(big_a, big_b, max_n=200, seed=5)
    assert w == pytest.approx(5, rel=0.1)


def test_binned_density_1d_matches_pdf():
    axes = (np.linspace(-5, 5, 400),)
    p = M.binned_density(rng().normal(size=200_000), axes)
    assert p.shape == (400,)
    assert p.sum() * M.cell_area(axes) == pytest.approx(1)
    assert np.abs(p - stats.norm.pdf(axes[0])).max() < 0.02


def test_binned_density_2d_rows_are_y():
    axes = (np.linspace(-4, 4, 80), np.linspace(-3, 3, 96))
    x = rng().normal(size=(200_000, 2)) * [1.0, 0.5] + [0.5, 0.0]
    p = M.binned_density(x, axes)
    assert p.shape == (96, 80)
    assert p.sum() * M.cell_area(axes) == pytest.approx(1)
    xx, yy = np.meshgrid(*axes)
    want = stats.norm.pdf(xx, 0.5, 1.0) * stats.norm.pdf(yy, 0, 0.5)
    assert np.abs(p - want).max() < 0.03 * want.max() / 0.3


def test_binned_density_edge_cases():
    axes = (np.linspace(-5, 5, 201),)
    x = np.r_[rng().normal(1.0, 0.5, 5000), np.nan, 99.0]  # non-finite and off-grid: dropped
    p = M.binned_density(x, axes)
    mean = (axes[0] * p).sum() * M.cell_area(axes)
    assert mean == pytest.approx(np.mean(x[:5000]), abs=1e-6)  # linear binning keeps the mean
    point = M.binned_density(np.full(100, 0.3), axes)  # collapsed: still ≥ one cell wide
    assert np.isfinite(point).all()
    assert point.sum() * M.cell_area(axes) == pytest.approx(1)
    assert np.isnan(M.binned_density(np.full(10, 50.0), axes)).all()


def test_smoothed_reference_matches_kde_of_real_samples():
    """A KDE of perfect samples is blurred; compare it with p_r smoothed the same way."""
    t = get_target("ring8")
    axes = t.grid()
    area = M.cell_area(axes)
    real = t.sample(rng(), 2000)
    bw = M.scott_bandwidth(real)
    p_g = M.binned_density(real, axes, bw)
    p_r = t.density_on_grid(axes)
    assert M.js_divergence(M.smooth_density(p_r, axes, bw), p_g, area) < 0.01
    assert M.js_divergence(p_r, p_g, area) > 0.3


def test_mode_stats():
    centres = get_target("ring8").modes
    one = centres[2] + 0.01 * rng().normal(size=(500, 2))
    assert M.mode_stats(one, centres, 0.02) == {"modes_covered": 1, "n_modes": 8, "hq_share": 1.0}
    two = np.vstack([one, centres[5] + [0.0, 0.05]])  # 2.5σ away: still high quality
    assert M.mode_stats(two, centres, 0.02)["modes_covered"] == 2
    far = M.mode_stats(np.zeros((10, 2)), centres, 0.02)
    assert far["modes_covered"] == 0
    assert far["hq_share"] == 0
    s = M.mode_stats(np.array([-2.1, 2.0, 2.2, 0.0]), np.array([[-2.0], [2.0]]), 0.5)
    assert s == {"modes_covered": 2, "n_modes": 2, "hq_share": 0.75}


def _reference_log_smooth(log_mass, kernels):
    """The definition: log Σ exp(log K + log m), term by term (scipy's logsumexp)."""
    from scipy import special

    with np.errstate(divide="ignore"):
        if log_mass.ndim == 1:
            return special.logsumexp(kernels[0][0] + log_mass[None, :], axis=1)
        (kx, _), (ky, _) = kernels
        a = special.logsumexp(log_mass[:, None, :] + kx[None, :, :], axis=2)
        return special.logsumexp(ky[:, :, None] + a[None, :, :], axis=1)


@pytest.mark.parametrize("target", ["gaussian", "ring8"])
def test_fast_log_smoothing_equals_the_log_space_definition_in_the_tails(target):
    """The matrix-product smoothing with its log-space fallback gives the logsumexp numbers,
    including cells 1e-300 and below, zero-mass cells and far-off samples."""
    from gandemo.metrics import DivergenceEstimator, _log_smooth

    est = DivergenceEstimator(target)
    rng = np.random.default_rng(0)
    shape = tuple(len(a) for a in est.axes)[::-1]
    cases = [np.zeros(shape), rng.random(shape)]
    corner = np.zeros(shape)
    corner[(0,) * len(shape)] = 1.0  # all mass in one corner cell: the far side is deep tail
    cases.append(corner)
    tiny = rng.random(shape)
    tiny[tiny < 0.7] = 0.0
    tiny[tiny < 0.8] *= 1e-300
    cases.append(tiny)
    deepest = []
    for mass in cases[1:]:
        with np.errstate(divide="ignore"):
            log_mass = np.log(mass / mass.sum())
        got, ref = _log_smooth(log_mass, est.kernels), _reference_log_smooth(log_mass, est.kernels)
        assert np.array_equal(np.isfinite(got), np.isfinite(ref))
        fin = np.isfinite(ref)
        deepest.append(ref[fin].min())
        np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-9, atol=1e-9)
    assert min(deepest) < -700  # the corner case reaches the deep tail (below e^−700)
