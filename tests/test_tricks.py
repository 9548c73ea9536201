"""Every trick is really applied (a behavioural test each that fails if it were silently ignored),
and drawing a frame never changes a run: snapshots use no training random numbers and leave
spectral norm's power iteration alone."""

import copy
import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from scipy.stats import gaussian_kde

from gandemo import nets
from gandemo.config import RunConfig
from gandemo.losses import _input_grads, gradient_penalty, r1_penalty
from gandemo.nets import Generator, VirtualBatchNorm
from gandemo.snapshot import SCALAR_COLUMNS
from gandemo.trainer import Trainer, make_optimizer


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(**kw) -> RunConfig:
    settings = dict(target="ring8", steps=12, log_every=3, batch=32, g_width=16, d_width=16,
                    eval_samples=200, seed=5)
    settings.update(kw)
    return RunConfig(**settings)


class Streams:
    """Copies of a trainer's training streams, to replay the draws it is about to make."""

    def __init__(self, tr: Trainer):
        self.gen = torch.Generator()
        self.gen.set_state(tr.noise_gen.get_state())
        self.rng = copy.deepcopy(tr.rng)

    def restore(self, tr: Trainer) -> None:
        tr.noise_gen.set_state(self.gen.get_state())
        tr.rng = copy.deepcopy(self.rng)


# --- snapshots never touch training state ----------------------------------------------------

SNAPSHOT_CASES = {
    "all-at-once": dict(spectral_norm=True, feature_matching=True, minibatch_disc=True,
                        instance_noise=0.3, noise_anneal=8, vbn=True),
    "spectral_norm": dict(spectral_norm=True),
    "feature_matching": dict(feature_matching=True),
    "minibatch_disc": dict(minibatch_disc=True),
    "instance_noise": dict(instance_noise=0.3, noise_anneal=8),
    "vbn": dict(vbn=True),
    "unrolled": dict(unrolled=2),
    "historical_avg": dict(historical_avg=0.1),
    "r1": dict(r1_gamma=1.0),
    "wgan-gp+sn+mbd": dict(loss="wgan-gp", spectral_norm=True, minibatch_disc=True),
    "wgan-clip": dict(loss="wgan", opt_d="rmsprop", opt_g="rmsprop", lr_d=1e-3),
    "label_smoothing+ragan": dict(loss="ragan", label_smoothing=0.1),
    "1d-all": dict(target="bimodal", spectral_norm=True, feature_matching=True,
                   minibatch_disc=True, instance_noise=0.3, vbn=True),
}


def _train(cfg: RunConfig, snapshot_every_step: bool) -> Trainer:
    tr = Trainer(cfg)
    while not tr.done:
        tr.step()
        if snapshot_every_step:
            tr.snapshot()
    return tr


@pytest.mark.parametrize("tricks", SNAPSHOT_CASES.values(), ids=SNAPSHOT_CASES.keys())
def test_a_snapshot_after_every_step_changes_nothing(tricks):
    cfg = small(**tricks)
    quiet, watched = _train(cfg, False), _train(cfg, True)
    a, b = quiet.history.as_arrays(), watched.history.as_arrays()
    assert len(a["step"]) == 4
    for col in SCALAR_COLUMNS:
        if col != "wall_s":
            np.testing.assert_array_equal(a[col], b[col], err_msg=col)
    for p, q in zip(quiet.D.state_dict().values(), watched.D.state_dict().values(), strict=True):
        assert torch.equal(p, q)  # includes spectral norm's u and v
    for p, q in zip(quiet.G.parameters(), watched.G.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.equal(quiet.noise_gen.get_state(), watched.noise_gen.get_state())
    assert quiet.rng.bit_generator.state == watched.rng.bit_generator.state
    assert watched.D.training and watched.G.training
    assert all(p.requires_grad for p in watched.D.parameters())


# --- minibatch discrimination ----------------------------------------------------------------


def test_minibatch_d_output_depends_on_the_rest_of_the_batch():
    tr = Trainer(small(minibatch_disc=True))
    gen = torch.Generator().manual_seed(1)
    x0 = torch.zeros(1, 2)
    with torch.no_grad():
        a = tr.D(torch.cat([x0, torch.randn(15, 2, generator=gen)]))[0]
        b = tr.D(torch.cat([x0, x0.expand(15, 2)]))[0]  # the same point among copies of itself
    assert abs(a - b) > 1e-3
    plain = Trainer(small())
    with torch.no_grad():
        c = plain.D(torch.cat([x0, torch.randn(15, 2, generator=gen)]))[0]
        d = plain.D(torch.cat([x0, x0.expand(15, 2)]))[0]
    assert torch.isclose(c, d, rtol=1e-6, atol=0)  # without the layer: each sample alone


@pytest.mark.parametrize("target", ["gaussian", pytest.param("ring8", marks=pytest.mark.slow)])
def test_plotted_d_is_d_inside_a_real_fake_batch(target):
    tr = Trainer(small(target=target, minibatch_disc=True, steps=30))
    tr.run()
    shown = tr.snapshot().d_out.ravel()
    with torch.no_grad():
        fakes = tr.G(tr.z_context)
        assert len(fakes) == tr.cfg.batch - 1
        idx = np.linspace(0, len(tr.grid_points) - 1, 7).astype(int)
        tr.D.eval()
        inside = [tr.loss.output(tr.D(torch.cat([tr.grid_points[i:i + 1], fakes]))[0]).item()
                  for i in idx]
        whole_grid = tr.loss.output(tr.D(tr.grid_points)).numpy()  # the old, wrong picture
        tr.D.train()
    np.testing.assert_allclose(shown[idx], inside, rtol=1e-4, atol=1e-6)
    assert np.abs(shown - whole_grid).max() > 1e-2


def test_context_scoring_in_chunks_equals_one_block(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    m, other = torch.randn(50, 8, 4, generator=gen), torch.randn(31, 8, 4, generator=gen)
    whole = nets._pairwise_closeness(m, other)
    monkeypatch.setattr(nets, "CONTEXT_CHUNK", 8 * 31 * 3)  # 3 rows per block
    torch.testing.assert_close(nets._context_closeness(m, other), whole, rtol=1e-5, atol=1e-5)


def test_spectral_norm_normalises_the_minibatch_tensor_too():
    tr = Trainer(small(target="bimodal", spectral_norm=True, minibatch_disc=True, steps=40))
    tr.run()
    sigma = torch.linalg.matrix_norm(tr.D.mbd.T.detach(), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.15)
    x = torch.linspace(-3, 3, 20).view(-1, 1)
    tr.D.eval()  # σ from the stored power-iteration vectors: scaling T scales σ alike
    with torch.no_grad():
        before = tr.D(x)
        tr.D.mbd.parametrizations.T.original.mul_(5.0)
        torch.testing.assert_close(tr.D(x), before)
    plain = Trainer(small(target="bimodal", minibatch_disc=True))
    with torch.no_grad():  # control: without spectral norm the same scaling changes D
        before = plain.D(x)
        plain.D.mbd.T.mul_(5.0)
        assert (plain.D(x) - before).abs().max() > 1e-3


def _brute_force_input_grads(d, x: torch.Tensor) -> torch.Tensor:
    """∂D(x_i)/∂x_i with every other member of the batch held fixed, one sample at a time."""
    rows = []
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_()
        batch = torch.cat([x[:i], xi, x[i + 1:]])
        (g,) = torch.autograd.grad(d(batch)[i], xi)
        rows.append(g[0])
    return torch.stack(rows)


def test_penalties_use_per_sample_gradients_with_minibatch_discrimination():
    tr = Trainer(small(target="ring8", minibatch_disc=True, loss="wgan-gp", r1_gamma=2.0))
    x = torch.from_numpy(tr.target.sample(np.random.default_rng(0), 16))
    brute = _brute_force_input_grads(tr.D, x)
    per_sample = _input_grads(lambda v: tr.D(v, hold_others=True), x)
    torch.testing.assert_close(per_sample, brute, rtol=1e-4, atol=1e-6)
    mixed = _input_grads(tr.D, x)  # ∇ of Σ_j D(x_j): mixes the samples through the layer
    assert (mixed - brute).abs().max() > 1e-3
    # the trainer's own penalty terms: (γ/2)·mean‖∂D(x_i)/∂x_i‖² and λ·mean(‖·‖ − 1)² at x̂
    fake = torch.from_numpy(tr.target.sample(np.random.default_rng(1), 16)) * 0.5
    streams = Streams(tr)
    _, _, penalty = tr._d_objective(tr.D, x, fake)
    eps = torch.rand((16, 1), generator=streams.gen)
    x_hat = eps * x + (1 - eps) * fake
    gp = ((_brute_force_input_grads(tr.D, x_hat).norm(dim=1) - 1) ** 2).mean()
    r1 = (brute**2).sum(1).mean()
    assert penalty == pytest.approx(tr.gp * gp.item() + 0.5 * 2.0 * r1.item(), rel=1e-4)


def test_gp_and_r1_on_a_linear_critic_and_per_sample():
    w, b = torch.tensor([0.6, -1.2]), torch.tensor(0.3)
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 2, generator=gen), torch.randn(64, 2, generator=gen) + 3

    def linear(x):
        return x @ w + b

    assert gradient_penalty(linear, real, fake, gen).item() == pytest.approx(
        (w.norm().item() - 1) ** 2, rel=1e-6)
    assert r1_penalty(linear, real).item() == pytest.approx((w**2).sum().item(), rel=1e-6)

    def bowl(x):  # ∇D(x_i) = 2·x_i differs per sample
        return (x**2).sum(1)

    state = gen.get_state()
    gp = gradient_penalty(bowl, real, fake, gen).item()
    gen.set_state(state)
    eps = torch.rand((64, 1), generator=gen)
    x_hat = eps * real + (1 - eps) * fake
    assert gp == pytest.approx(((2 * x_hat.norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)
    assert r1_penalty(bowl, real).item() == pytest.approx(
        (4 * (real**2).sum(1)).mean().item(), rel=1e-5)


# --- the other tricks ------------------------------------------------------------------------


def test_vbn_normalises_with_the_reference_batch_and_each_sample_alone():
    layer = VirtualBatchNorm(3, ref_size=5)
    with torch.no_grad():
        layer.gamma.copy_(torch.tensor([1.0, 2.0, 0.5]))
        layer.beta.copy_(torch.tensor([0.0, 1.0, -1.0]))
    h = torch.randn(9, 3, generator=torch.Generator().manual_seed(0)) * 3 + 1
    ref = h[:5]
    for i in range(9):
        stats = torch.cat([ref, h[i:i + 1]])
        mu, var = stats.mean(0), stats.var(0, unbiased=False)
        expect = (h[i] - mu) / torch.sqrt(var + layer.eps) * layer.gamma + layer.beta
        torch.testing.assert_close(layer(h)[i], expect, rtol=1e-5, atol=1e-5)

    g = Generator(2, 2, 16, 2, "relu", torch.Generator().manual_seed(0), vbn=True)
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        together = g(z)
        alone = torch.cat([g(z[i:i + 1]) for i in range(20)])
        torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)  # no batch coupling
        g.z_ref.mul_(3.0)  # another reference batch changes every output
        assert (g(z) - together).abs().min() > 1e-4


@contextmanager
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _double_precision(tr: Trainer) -> None:
    """Real batches in float64 too (the target samples float32)."""
    tr._real = lambda n: torch.from_numpy(tr.target.sample(tr.rng, n)).double()


def test_unrolled_gradient_is_the_gradient_through_the_look_ahead():
    cfg = RunConfig(target="gaussian", unrolled=3, unroll_lr=0.5, lr_g=0.0, batch=16, g_width=4,
                    d_width=4, g_depth=1, d_depth=1, noise_dim=1, activation="tanh",
                    eval_samples=200)
    with float64():
        tr = Trainer(cfg)
        _double_precision(tr)
        start = Streams(tr)

        def g_loss() -> float:  # L_G against D after 3 look-ahead steps, the same batches
            start.restore(tr)
            return tr._g_step(0.0)[0]

        g_loss()
        grad = torch.cat([p.grad.flatten() for p in tr.G.parameters()])
        params = list(tr.G.parameters())
        fd, h = [], 1e-6
        for p in params:
            for j in range(p.numel()):
                p.data.view(-1)[j] += h
                up = g_loss()
                p.data.view(-1)[j] -= 2 * h
                down = g_loss()
                p.data.view(-1)[j] += h
                fd.append((up - down) / (2 * h))
        torch.testing.assert_close(grad, torch.tensor(fd), rtol=1e-5, atol=1e-8)

        # the same G batch against the current D (unrolled = 0): another gradient
        plain = Trainer(cfg.with_(unrolled=0))
        _double_precision(plain)
        start.restore(tr)
        tr._unrolled_critic(0.0)  # consume the look-ahead's draws, then hand over the streams
        plain.noise_gen.set_state(tr.noise_gen.get_state())
        plain.rng = copy.deepcopy(tr.rng)
        plain._g_step(0.0)
        grad0 = torch.cat([p.grad.flatten() for p in plain.G.parameters()])
    assert (grad - grad0).norm() > 0.05 * grad0.norm()


def test_feature_matching_loss_is_the_distance_of_mean_features():
    tr = Trainer(small(target="bimodal", feature_matching=True, lr_g=0.0))
    tr.run(3)
    streams = Streams(tr)
    loss = tr._g_step(0.0)[0]
    with torch.no_grad():
        x_f = tr.G(tr.G.sample_noise(tr.cfg.batch, streams.gen))
        x_r = torch.from_numpy(tr.target.sample(streams.rng, tr.cfg.batch))
        expect = ((tr.D.body(x_r).mean(0) - tr.D.body(x_f).mean(0)) ** 2).sum().item()
        plain = tr.loss.g_loss(tr.D(x_f), None).item()
    assert loss == pytest.approx(expect, rel=1e-5)
    assert abs(loss - plain) > 1e-3


def test_historical_averaging_penalty_is_the_distance_to_the_running_mean():
    lam = 0.5
    tr = Trainer(small(historical_avg=lam, log_every=1, lr_d=1e-2, lr_g=1e-2))

    def flat(module):
        return torch.cat([p.detach().flatten() for p in module.parameters()]).double()

    past_d, past_g = [flat(tr.D)], [flat(tr.G)]
    for _ in range(6):
        expect_d = lam * ((past_d[-1] - torch.stack(past_d).mean(0)) ** 2).sum().item()
        row = tr.step()
        past_d.append(flat(tr.D))
        expect_g = lam * ((past_g[-1] - torch.stack(past_g).mean(0)) ** 2).sum().item()
        past_g.append(flat(tr.G))
        assert row["d_penalty"] == pytest.approx(expect_d, rel=1e-4, abs=1e-12)
        assert row["g_penalty"] == pytest.approx(expect_g, rel=1e-4, abs=1e-12)
    assert row["d_penalty"] > 0 and row["g_penalty"] > 0


def test_d_loss_is_logged_without_the_penalty():
    """First step, same state and batches: the plain loss is the same with or without GP."""
    rows = [Trainer(small(loss="wgan-gp", gp_lambda=lam, log_every=1)).step() for lam in (0, 10)]
    assert rows[0]["d_loss"] == rows[1]["d_loss"]
    assert rows[0]["d_penalty"] == 0 and rows[1]["d_penalty"] > 0


def _d_and_ratio(label_smoothing: float):
    """Train D alone against a frozen G ≈ N(1.5, 0.5²) on N(2, 0.5²); return D(x) and
    p_r/(p_r + p_g) where p_r + p_g carries mass."""
    tr = Trainer(RunConfig(target="gaussian", label_smoothing=label_smoothing, lr_g=0.0,
                           lr_d=5e-3, beta2=0.99, steps=600, batch=512, d_width=32,
                           log_every=600, eval_samples=200))
    z = tr.G.sample_noise(20000, torch.Generator().manual_seed(9))
    with torch.no_grad():
        g = tr.G(z).numpy()[:, 0]
        tr.G.out.weight *= 0.5 / g.std()
        tr.G.out.bias *= 0.5 / g.std()
        tr.G.out.bias += 1.5 - tr.G(z).numpy()[:, 0].mean()
        g = tr.G(z).numpy()[:, 0]
    tr.run()
    x = np.linspace(0.0, 4.0, 161)
    p_r, p_g = np.exp(tr.target.log_density(x[:, None])), gaussian_kde(g)(x)
    with torch.no_grad():
        d = torch.sigmoid(tr.D(torch.tensor(x[:, None], dtype=torch.float32))).numpy()
    mass = (p_r + p_g) > 0.2 * (p_r + p_g).max()
    return d[mass], (p_r / (p_r + p_g))[mass]


def test_label_smoothing_moves_the_optimal_d_to_0_9_ratio():
    d, ratio = _d_and_ratio(0.1)
    err_smoothed, err_plain = np.abs(d - 0.9 * ratio).mean(), np.abs(d - ratio).mean()
    assert err_smoothed < 0.04 and err_smoothed < 0.7 * err_plain
    assert d.max() < 0.92
    d0, ratio0 = _d_and_ratio(0.0)  # control: without smoothing D goes to the plain ratio
    assert np.abs(d0 - ratio0).mean() < np.abs(d0 - 0.9 * ratio0).mean()


def test_instance_noise_follows_its_schedule_on_d_inputs():
    cfg = small(target="bimodal", instance_noise=0.8, noise_anneal=4, steps=6)
    tr = Trainer(cfg)
    seen = []
    tr.D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    for t in range(6):
        streams = Streams(tr)
        seen.clear()
        tr.step()
        tr.G.sample_noise(cfg.batch, streams.gen)  # the D step's z comes first
        real = torch.from_numpy(tr.target.sample(streams.rng, cfg.batch))
        sigma = 0.8 * max(0.0, 1 - t / 4)
        expect = real + sigma * torch.randn(real.shape, generator=streams.gen) if sigma else real
        torch.testing.assert_close(seen[0], expect)  # D's first input: the noisy real batch


def test_weight_clipping_holds_before_every_critic_pass():
    for lr_d in (0.0, 5e-2):
        tr = Trainer(small(loss="wgan", opt_d="rmsprop", lr_d=lr_d, steps=5, d_steps=2))
        c = tr.clip
        assert max(p.abs().max().item() for p in tr.D.parameters()) > c  # initial weights exceed c
        widest: list[float] = []

        def record(module, args, widest=widest):
            widest.append(max(p.abs().max().item() for p in module.parameters()))

        tr.D.register_forward_pre_hook(record)
        tr.run()
        assert len(widest) >= 5 * 3 and max(widest) <= c + 1e-9


def test_rmsprop_alpha_is_the_wgan_papers_not_beta2():
    opt = make_optimizer("rmsprop", [torch.zeros(1, requires_grad=True)], 1e-3, 0.5, 0.9)
    assert opt.param_groups[0]["alpha"] == 0.99
    assert math.isclose(make_optimizer("adam", [torch.zeros(1, requires_grad=True)], 1e-3, 0.5,
                                       0.9).param_groups[0]["betas"][1], 0.9)
