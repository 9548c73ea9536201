"""Targets: registry contract, exact samplers, exact densities, grid densities, mode metrics."""

import numpy as np
import pytest
from scipy import stats

from gandemo import metrics as M
from gandemo.config import ConfigError
from gandemo.targets import TARGETS, GaussianMixture, get_target

NORM_1D = 2 * stats.norm.cdf(3) - 1  # P(|z| < 3) = 0.99730
NORM_2D = 1 - np.exp(-4.5)  # P(χ²₂ < 9) = 0.98889


def rng(seed=0):
    return np.random.default_rng(seed)


def test_registry_names_and_fields():
    assert {"gaussian", "bimodal", "ring8", "grid25"} <= set(TARGETS)  # contract
    assert {"uniform", "skewed", "heavy-tailed", "moons", "swissroll"} <= set(TARGETS)
    for name, t in TARGETS.items():
        assert t.name == name
        assert t.description
        assert t.exact_density
        assert t.dim in (1, 2)
        assert len(t.bounds) == t.dim
        assert all(lo < 0 < hi for lo, hi in t.bounds)  # room for a generator starting near 0
        if t.modes is not None:
            assert t.modes.shape[1] == t.dim
            assert t.mode_std > 0
    assert [get_target(n).dim for n in ("gaussian", "bimodal", "ring8", "grid25")] == [1, 1, 2, 2]
    assert get_target("moons").modes is None
    assert get_target("swissroll").modes is None


def test_get_target_unknown_names_the_allowed():
    with pytest.raises(ConfigError, match="ring8"):
        get_target("nope")


@pytest.mark.parametrize("name", TARGETS)
def test_sample_shape_dtype_and_determinism(name):
    t = TARGETS[name]
    x = t.sample(rng(7), 1000)
    assert x.shape == (1000, t.dim)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x, t.sample(rng(7), 1000))
    assert not np.array_equal(x, t.sample(rng(8), 1000))


@pytest.mark.parametrize("name", TARGETS)
def test_log_density_integrates_to_one_over_bounds(name):
    """Riemann sum of exp(log_density) with spacing ≤ σ/2 (exact to ~1e-9 for Gaussians)."""
    t = TARGETS[name]
    h = t.std / 2 if isinstance(t, GaussianMixture) else 0.002
    axes = [np.arange(lo, hi + h / 2, h) for lo, hi in t.bounds]
    points = np.stack([m.ravel() for m in np.meshgrid(*axes)], axis=1)
    mass = np.exp(t.log_density(points)).sum() * h**t.dim
    if name == "heavy-tailed":  # polynomial tails: 0.14% of the mass lies beyond ±8
        assert mass == pytest.approx(t.dist.cdf(8) - t.dist.cdf(-8), abs=1e-5)
        assert mass == pytest.approx(0.99856, abs=1e-5)
    else:
        assert 0.995 <= mass <= 1.001


@pytest.mark.parametrize("name", TARGETS)
def test_density_on_grid_shape_and_normalisation(name):
    t = TARGETS[name]
    axes = t.grid()
    assert [len(a) for a in axes] == ([400] if t.dim == 1 else [96, 96])
    assert [(a[0], a[-1]) for a in axes] == list(t.bounds)
    p = t.density_on_grid(axes)
    assert p.shape == ((400,) if t.dim == 1 else (96, 96))
    assert p.min() >= 0
    assert p.sum() * M.cell_area(axes) == pytest.approx(1, abs=1e-12)
    assert t.grid(50)[0].shape == (50,)


@pytest.mark.parametrize("name", ["gaussian", "bimodal", "trimodal", "skewed", "heavy-tailed"])
def test_1d_grid_density_matches_pdf(name):
    t = get_target(name)
    axes = t.grid(2001)
    pdf = np.exp(t.log_density(axes[0][:, None]))
    pdf /= pdf.sum() * M.cell_area(axes)
    np.testing.assert_allclose(t.density_on_grid(axes), pdf, atol=1e-4 * pdf.max())


def test_2d_grid_density_matches_pdf_with_row_index_y():
    t = get_target("moons")
    axes = (np.linspace(-3, 3, 301), np.linspace(-2, 2, 201))
    p = t.density_on_grid(axes)
    assert p.shape == (201, 301)
    xx, yy = np.meshgrid(*axes)
    pdf = np.exp(t.log_density(np.stack([xx.ravel(), yy.ravel()], axis=1))).reshape(xx.shape)
    pdf /= pdf.sum() * M.cell_area(axes)
    assert np.abs(p - pdf).max() < 0.01 * pdf.max()


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_narrow_modes_keep_equal_mass_on_the_coarse_grid(name):
    """σ = 0.02 is a third of a cell: cell averages (unlike point values) give each mode 1/K."""
    t = get_target(name)
    axes = t.grid()
    mass = t.density_on_grid(axes) * M.cell_area(axes)
    xx, yy = np.meshgrid(*axes)
    cells = np.stack([xx.ravel(), yy.ravel()], axis=1)
    nearest = ((cells[:, None] - t.modes[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_allclose(np.bincount(nearest, mass.ravel()), 1 / len(t.modes), atol=1e-9)


def test_1d_log_densities_match_scipy():
    x = np.linspace(-6, 6, 241)
    n = stats.norm.pdf
    expected = {
        "gaussian": stats.norm(2, 0.5).logpdf(x),
        "bimodal": np.log(0.5 * n(x, -2, 0.5) + 0.5 * n(x, 2, 0.5)),
        "trimodal": np.log(0.2 * n(x, -3, 0.4) + 0.5 * n(x, 0, 0.4) + 0.3 * n(x, 3, 0.4)),
        "skewed": stats.skewnorm(5, loc=-1, scale=1.5).logpdf(x),
        "heavy-tailed": stats.t(3, loc=0, scale=0.7).logpdf(x),
    }
    for name, want in expected.items():
        np.testing.assert_allclose(get_target(name).log_density(x[:, None]), want, rtol=1e-9)
    u = np.exp(get_target("uniform").log_density(x[:, None]))
    np.testing.assert_array_equal(u, np.where((x >= -1) & (x <= 3), 0.25, 0.0))


def test_2d_log_density_at_a_centre():
    for name, k, std in (("ring8", 8, 0.02), ("grid25", 25, 0.05)):
        t = get_target(name)
        want = np.log(1 / k) - np.log(2 * np.pi * std**2)  # other modes contribute ~e^(−800)
        np.testing.assert_allclose(t.log_density(t.modes), want, rtol=1e-12)


def test_1d_sample_moments():
    n = 100_000
    x = get_target("gaussian").sample(rng(), n)[:, 0]
    assert x.mean() == pytest.approx(2, abs=0.01)
    assert x.std() == pytest.approx(0.5, abs=0.01)
    x = get_target("bimodal").sample(rng(), n)[:, 0]
    assert x.mean() == pytest.approx(0, abs=0.03)
    assert x.std() == pytest.approx(4.25**0.5, abs=0.02)
    assert (x > 0).mean() == pytest.approx(0.5, abs=0.01)
    x = get_target("trimodal").sample(rng(), n)[:, 0]
    shares = [(x < -1.5).mean(), (np.abs(x) <= 1.5).mean(), (x > 1.5).mean()]
    np.testing.assert_allclose(shares, [0.2, 0.5, 0.3], atol=0.01)
    x = get_target("uniform").sample(rng(), n)[:, 0]
    assert x.min() >= -1
    assert x.max() <= 3
    assert x.mean() == pytest.approx(1, abs=0.01)
    assert x.var() == pytest.approx(16 / 12, abs=0.02)
    t = get_target("skewed")
    x = t.sample(rng(), n)[:, 0]
    assert x.mean() == pytest.approx(t.dist.mean(), abs=0.01)
    assert x.std() == pytest.approx(t.dist.std(), abs=0.01)
    t = get_target("heavy-tailed")
    x = t.sample(rng(), n)[:, 0]
    q25, q50, q75 = np.quantile(x, [0.25, 0.5, 0.75])
    assert q50 == pytest.approx(0, abs=0.01)
    assert q75 - q25 == pytest.approx(t.dist.ppf(0.75) - t.dist.ppf(0.25), abs=0.02)


def test_ring8_samples():
    x = get_target("ring8").sample(rng(), 40_000).astype(float)
    radius, angle = np.hypot(*x.T), np.arctan2(x[:, 1], x[:, 0])
    assert np.abs(radius - 2).max() < 0.15
    assert radius.mean() == pytest.approx(2, abs=1e-3)
    k = np.round(angle / (2 * np.pi / 8)).astype(int) % 8  # 8 distinct angles 2πk/8
    np.testing.assert_allclose(np.bincount(k, minlength=8) / len(x), 1 / 8, atol=0.01)


def test_grid25_samples():
    x = get_target("grid25").sample(rng(), 50_000).astype(float)
    centre = 2 * np.clip(np.round(x / 2), -2, 2)
    assert np.abs(x - centre).max() < 0.35  # 7σ
    assert (x - centre).std() == pytest.approx(0.05, abs=1e-3)
    cell = (centre[:, 0] / 2 + 2) * 5 + centre[:, 1] / 2 + 2
    np.testing.assert_allclose(np.bincount(cell.astype(int)) / len(x), 1 / 25, atol=0.003)


@pytest.mark.parametrize("name", ["moons", "swissroll"])
def test_curve_targets_stay_on_their_curve(name):
    t = get_target(name)
    x = t.sample(rng(), 10_000).astype(float)
    assert (np.abs(x) < 3).all(axis=1).mean() > 0.999
    d = np.sqrt(((x[:, None] - t.means[None]) ** 2).sum(-1).min(1))
    assert np.quantile(d, 0.99) < 4 * t.std  # never far from the string of centres


@pytest.mark.parametrize(("name", "share"), [
    ("gaussian", NORM_1D), ("bimodal", NORM_1D), ("trimodal", NORM_1D),
    ("ring8", NORM_2D), ("grid25", NORM_2D),
])
def test_mode_stats_on_real_samples(name, share):
    t, n = get_target(name), 20_000
    s = M.mode_stats(t.sample(rng(1), n), t.modes, t.mode_std)
    assert s["modes_covered"] == s["n_modes"] == len(t.modes)
    assert abs(s["hq_share"] - share) < 4 * np.sqrt(share * (1 - share) / n)
