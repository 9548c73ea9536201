"""The Dirac-GAN engine against the closed forms of Mescheder, Geiger & Nowozin (ICML 2018)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gandemo import dynamics as D

F1 = {"minimax": 0.5, "nonsaturating": 0.5, "wasserstein": 1.0, "wgan": 1.0, "hinge": 1.0}


@pytest.mark.parametrize("loss", sorted(F1))
def test_unregularised_eigenvalues_are_purely_imaginary(loss):
    an = D.analyse(D.Setup(loss=loss))
    np.testing.assert_allclose(an.eig, [1j * F1[loss], -1j * F1[loss]], atol=1e-12)
    assert an.verdict == "circles"


@pytest.mark.parametrize("gamma", [0.3, 1.0, 3.0])
@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "wasserstein"])
def test_r1_eigenvalues_have_negative_real_parts(loss, gamma):
    f1 = F1[loss]
    an = D.analyse(D.Setup(loss=loss, reg="r1", strength=gamma))
    root = np.sqrt(complex(gamma**2 / 4 - f1**2))
    expected = sorted([-gamma / 2 + root, -gamma / 2 - root], key=lambda z: (-z.imag, -z.real))
    np.testing.assert_allclose(an.eig, expected, atol=1e-12)
    assert np.all(an.eig.real < 0) and an.verdict == "converges"


def test_zero_centred_gp_is_r1_with_gamma_twice_lambda():
    gp = D.analyse(D.Setup(reg="gp", strength=0.4))
    r1 = D.analyse(D.Setup(reg="r1", strength=0.8))
    np.testing.assert_allclose(gp.jacobian, r1.jacobian, atol=1e-15)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5])
def test_instance_noise_eigenvalues_and_convergence(sigma):
    """λ = f''(0)σ² ± √(f''(0)²σ⁴ − f'(0)²), f''(0) = −¼: locally convergent."""
    s = D.Setup(loss="minimax", reg="noise", strength=sigma)
    an = D.analyse(s)
    f2 = -0.25
    root = np.sqrt(complex(f2**2 * sigma**4 - 0.25))
    np.testing.assert_allclose(sorted(an.eig, key=lambda z: (-z.imag, -z.real)),
                               sorted([f2 * sigma**2 + root, f2 * sigma**2 - root],
                                      key=lambda z: (-z.imag, -z.real)), atol=1e-12)
    assert an.verdict == "converges"
    for scheme in D.SCHEMES:  # both schemes close in, at about the linear rate ρ per G step
        tr = D.trajectory(s.with_(eta=0.3), (0.5, 0.5), 400, scheme)
        rho = D.analyse(s.with_(eta=0.3)).maps[scheme][1]
        assert rho < 1 and tr.radius[-1] < 0.5 * tr.radius[0]
        assert tr.radius[-1] < 10 * rho**400 * tr.radius[0]


def test_closed_form_jacobian_matches_finite_differences_of_the_field():
    h = 1e-5
    for loss in ("minimax", "nonsaturating", "wasserstein", "hinge", "lsgan"):
        for reg in D.REGULARIZERS:
            s = D.Setup(loss=loss, reg=reg)
            num = np.empty((2, 2))
            for j, (dt, dp) in enumerate(((h, 0.0), (0.0, h))):
                plus = np.array(D.field(s, dt, dp))
                minus = np.array(D.field(s, -dt, -dp))
                num[:, j] = (plus - minus) / (2 * h)
            np.testing.assert_allclose(D.jacobian(s), num, atol=1e-6, err_msg=f"{loss}/{reg}")


def test_field_is_the_gradient_of_the_objectives():
    """v₁ = −∂L_G/∂θ and v₂ = ∂V_D/∂ψ, checked by central differences off the kinks."""
    rng = np.random.default_rng(0)
    theta, psi = rng.uniform(-1.5, 1.5, 12), rng.uniform(-1.5, 1.5, 12)
    psi = np.where(np.abs(psi) < 0.1, 0.5, psi)  # away from WGAN-GP's jump at ψ = 0
    h = 1e-5
    for loss in D.LOSSES:
        for reg in D.REGULARIZERS:
            s = D.Setup(loss=loss, reg=reg)
            v1, v2 = D.field(s, theta, psi)
            dl_g = (D.objectives(s, theta + h, psi)[1] - D.objectives(s, theta - h, psi)[1])
            dv_d = (D.objectives(s, theta, psi + h)[0] - D.objectives(s, theta, psi - h)[0])
            ok = np.abs(psi * theta - 1.0) > 1e-3  # hinge's kink at ψθ = 1
            np.testing.assert_allclose(v1[ok], -dl_g[ok] / (2 * h), atol=1e-6,
                                       err_msg=f"{loss}/{reg}")
            np.testing.assert_allclose(v2[ok], dv_d[ok] / (2 * h), atol=1e-6,
                                       err_msg=f"{loss}/{reg}")


def test_paper_vector_fields_in_closed_form():
    """GAN: v = (−ψ f'(ψθ), θ f'(ψθ)); NSGAN: v₁ = −ψ f'(−ψθ); f'(t) = 1/(1 + e^t)."""
    theta, psi = np.array([0.7, -1.2]), np.array([1.3, 0.4])
    fp = 1.0 / (1.0 + np.exp(psi * theta))
    v1, v2 = D.field(D.Setup(loss="minimax"), theta, psi)
    np.testing.assert_allclose(v1, -psi * fp, rtol=1e-12)
    np.testing.assert_allclose(v2, theta * fp, rtol=1e-12)
    v1, _ = D.field(D.Setup(loss="nonsaturating"), theta, psi)
    np.testing.assert_allclose(v1, -psi / (1.0 + np.exp(-psi * theta)), rtol=1e-12)
    v1, v2 = D.field(D.Setup(loss="wasserstein", reg="r1", strength=0.3), theta, psi)
    np.testing.assert_allclose(v1, -psi)
    np.testing.assert_allclose(v2, theta - 0.3 * psi)


def test_simultaneous_spirals_out_alternating_stays_bounded():
    s = D.Setup(loss="minimax", eta=0.1)
    sim = D.trajectory(s, (0.5, 0.5), 2000, "sim")
    alt = D.trajectory(s, (0.5, 0.5), 2000, "alt")
    r0 = math.hypot(0.5, 0.5)
    assert sim.radius[-1] > 1.5 * r0 and sim.radius[1000] > sim.radius[10]
    # |eig(I + ηJ)| = √(1 + η²f'(0)²): the linear growth rate near the equilibrium
    an = D.analyse(s)
    assert an.maps["sim"][1] == pytest.approx(math.sqrt(1 + 0.1**2 * 0.25), rel=1e-12)
    assert an.maps["sim"][2] == "diverges" and an.maps["alt"][2] == "circles"
    assert 0.8 * r0 < alt.radius.min() and alt.radius.max() < 1.25 * r0


def test_r1_makes_both_schemes_converge():
    s = D.Setup(loss="minimax", reg="r1", strength=1.0, eta=0.1)
    for scheme in D.SCHEMES:
        tr = D.trajectory(s, (1.0, 1.0), 500, scheme)
        assert tr.radius[-1] < 1e-3
        assert D.analyse(s).maps[scheme][2] == "converges"


def test_wgan_clipping_keeps_oscillating():
    s = D.Setup(loss="wgan", loss_param=0.3)
    for scheme in D.SCHEMES:
        tr = D.trajectory(s, (1.0, 1.0), 1500, scheme)
        assert np.all(np.abs(tr.points[:, 1]) <= 0.3 + 1e-12)
        tail = tr.radius[-500:]
        assert tail.min() > 0.2  # never comes near the data
        theta = tr.points[tr.g_index[-500:], 0]
        assert theta.max() > 0.15 and theta.min() < -0.15  # still swinging both ways


def test_wgan_gp_has_no_rest_point_at_the_data():
    s = D.Setup(loss="wgan-gp", loss_param=1.0)
    an = D.analyse(s)
    assert an.verdict == "no_rest" and not D.smooth_at_equilibrium(s)
    end = D.trajectory(s, (1.0, 1.0), 600, "alt").points[-1]
    assert abs(end[0]) > 1.0  # the generator stops far from the data


def test_lsgan_stalls_on_a_line_of_rest_points():
    s = D.Setup(loss="lsgan")
    an = D.analyse(s)
    assert an.verdict == "stalls" and np.allclose(an.eig, 0.0)
    np.testing.assert_allclose(D.field(s, np.array([-1.0, 0.7]), 0.0), 0.0)


def test_k_d_steps_change_the_alternating_map():
    one = D.step_map(D.Setup(k=1), "alt")
    five = D.step_map(D.Setup(k=5), "alt")
    eta, f1 = 0.1, 0.5
    np.testing.assert_allclose(five[1, 0], 5 * eta * f1)  # five D steps of size η·f'(0)·θ
    assert not np.allclose(one, five)
    assert D.step_map(D.Setup(k=1), "sim") == pytest.approx(np.eye(2) + eta * D.jacobian(D.Setup()))


@pytest.mark.parametrize("kwargs, word", [
    ({"loss": "nope"}, "loss"), ({"reg": "dropout"}, "reg"), ({"eta": 5.0}, "eta"),
    ({"k": 0}, r"k \(D steps"), ({"reg": "r1", "strength": -1.0}, "r1 strength"),
    ({"loss": "wgan", "loss_param": 0.0}, "wgan parameter"), ({"eta": float("nan")}, "eta"),
])
def test_bad_settings_name_the_setting(kwargs, word):
    with pytest.raises(ValueError, match=word):
        D.Setup(**kwargs)


def test_blow_up_stops_early_and_bad_start_is_refused():
    s = D.Setup(loss="wasserstein", eta=1.0)
    tr = D.trajectory(s, (2.0, 2.0), 100_000, "sim")
    assert tr.blew_up and len(tr.g_index) < 100_000
    with pytest.raises(ValueError, match="start"):
        D.trajectory(s, (float("inf"), 0.0), 10)
    with pytest.raises(ValueError, match="scheme"):
        D.trajectory(s, (0.0, 0.0), 10, "both")



def test_cli_prints_eigenvalues_and_verdict(capsys):
    from gandemo import cli

    args = cli.build_parser().parse_args(
        ["dynamics", "--loss", "nonsaturating", "--reg", "r1", "--gamma", "1"])
    assert cli.cmd_dynamics(args) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "eigenvalues: −0.5000, −0.5000" in out and "continuous flow: converges" in out
    assert "simultaneous steps (eta = 0.1, k = 1): converges, spectral radius 0.9500" in out
    bad = cli.build_parser().parse_args(["dynamics", "--reg", "noise", "--gamma", "1"])
    with pytest.raises(cli.UsageError, match="--gamma"):
        cli.cmd_dynamics(bad)
    with pytest.raises(cli.UsageError, match="eta"):
        cli.cmd_dynamics(cli.build_parser().parse_args(["dynamics", "--eta", "9"]))
