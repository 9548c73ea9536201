"""Every trick is really applied (a behavioural test each that fails if it were silently ignored),
and drawing a frame never changes a run: snapshots use no training random numbers and leave
spectral norm's power iteration alone. Tests that replay a step's random numbers follow the
engine's draw order: per D update z, the real batch, instance noise for real then fake, GP's ε."""

import copy
import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from scipy.stats import gaussian_kde

from gandemo import nets
from gandemo.config import RunConfig
from gandemo.engine import RMSPROP_ALPHA, STEP_VALUES, Stack, StackedOptimizer
from gandemo.losses import _input_grads, gradient_penalty, r1_penalty
from gandemo.nets import FlatParams, GeneratorNet, sample_noise
from gandemo.snapshot import SCALAR_COLUMNS
from gandemo.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(**kw) -> RunConfig:
    settings = dict(target="ring8", steps=12, log_every=3, batch=32, g_width=16, d_width=16,
                    eval_samples=200, seed=5)
    settings.update(kw)
    return RunConfig(**settings)


def value(values: np.ndarray, name: str) -> float:
    """One of a stack step's STEP_VALUES for its first (only) variant."""
    return float(values[0, STEP_VALUES.index(name)])


class Streams:
    """A copy of a stack's training streams (one variant: ``streams[0]``), to replay the draws
    it is about to make (``z``, ``real``, ``normal``, ``uniform``) and to rewind it."""

    def __init__(self, stack: Stack):
        st = stack.streams[0]
        self._gen_state, self._rng = st.gen.get_state(), copy.deepcopy(st.rng)
        self.gen = torch.Generator()
        self.gen.set_state(self._gen_state)
        self.rng = copy.deepcopy(st.rng)
        self.cfg, self.target = stack.cfgs[0], stack.targets[0]

    def restore(self, stack: Stack) -> None:
        st = stack.streams[0]
        st.gen.set_state(self._gen_state)
        st.rng = copy.deepcopy(self._rng)

    def z(self) -> torch.Tensor:
        return sample_noise(self.cfg.noise, self.cfg.batch, self.cfg.noise_dim, self.gen)

    def real(self) -> torch.Tensor:
        return torch.from_numpy(self.target.sample(self.rng, self.cfg.batch))

    def normal(self) -> torch.Tensor:
        return torch.randn((self.cfg.batch, self.target.dim), generator=self.gen)

    def uniform(self) -> torch.Tensor:
        return torch.rand((self.cfg.batch, 1), generator=self.gen)


def spy_on_d(stack: Stack, record) -> None:
    """Call ``record(x)`` with the points of every pass of D's network (training passes: the
    real+fake pass of a D update, the G update's pass) before it runs."""
    features = stack.D.features

    def spy(x, p, **batch):
        record(x.detach().clone())
        return features(x, p, **batch)

    stack.D.features = spy


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


def training_state(stack: Stack) -> dict[str, object]:
    """Everything a step reads and writes: weights, spectral norm's u and v, optimizer and
    historical-average state, the iteration and the random streams (copies)."""
    out: dict[str, object] = {"G": stack.G.params.flat, "D": stack.D.params.flat,
                              "iteration": stack.iteration}
    for n in stack.D.sn.names:
        out[f"sn.u.{n}"], out[f"sn.v.{n}"] = stack.D.sn.u[n], stack.D.sn.v[n]
    for name, opt in (("opt_g", stack.opt_g), ("opt_d", stack.opt_d)):
        for k, v in opt.state.items():
            out[f"{name}.{k}"] = v
    for name, avg in (("avg_g", stack.avg_g), ("avg_d", stack.avg_d)):
        if avg is not None:
            out[f"{name}.avg"], out[f"{name}.t"] = avg.avg, avg.t
    for i, st in enumerate(stack.streams):
        out[f"gen{i}"], out[f"rng{i}"] = st.gen.get_state(), st.rng.bit_generator.state
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
            for k, v in out.items()}


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def _train(cfg: RunConfig, snapshot_every_step: bool) -> Trainer:
    tr = Trainer(cfg)
    while not tr.done:
        tr.step()
        if snapshot_every_step:
            before = training_state(tr.stack)
            tr.snapshot()
            assert_same_state(training_state(tr.stack), before)
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
    assert_same_state(training_state(quiet.stack), training_state(watched.stack))
    assert all(leaf.requires_grad for net in (watched.stack.G, watched.stack.D)
               for leaf in net.params.leaves.values())


@pytest.mark.parametrize("k", [1, 2])
def test_spectral_norm_advances_once_per_d_update_only(k):
    """D frozen (lr_d = 0): after one iteration u, v are k power-iteration steps from their start
    on the fixed weights (the G update does not advance them); a lone G move, a frame and the
    displayed D leave them alone."""
    tr = Trainer(small(spectral_norm=True, minibatch_disc=True, lr_d=0.0, d_steps=k))
    st, sn = tr.stack, tr.stack.D.sn
    expect_u = {}
    for n in sn.names:
        w, u = st.D.params.views[n], sn.u[n].clone()
        for _ in range(k):
            v = torch.nn.functional.normalize(torch.bmm(w.transpose(1, 2), u[..., None])[..., 0],
                                              dim=-1, eps=nets.SN_EPS)
            u = torch.nn.functional.normalize(torch.bmm(w, v[..., None])[..., 0], dim=-1,
                                              eps=nets.SN_EPS)
        expect_u[n] = u
    st.step()
    for n in sn.names:
        torch.testing.assert_close(sn.u[n], expect_u[n], rtol=1e-5, atol=1e-6, msg=n)
    before = training_state(st)
    st.lone_move("g")
    tr.snapshot()
    after = training_state(st)
    for n in sn.names:
        assert torch.equal(after[f"sn.u.{n}"], before[f"sn.u.{n}"]), n
        assert torch.equal(after[f"sn.v.{n}"], before[f"sn.v.{n}"]), n


# --- minibatch discrimination ----------------------------------------------------------------


def test_minibatch_d_output_depends_on_the_rest_of_the_batch():
    tr = Trainer(small(minibatch_disc=True))
    gen = torch.Generator().manual_seed(1)
    x0 = torch.zeros(1, 2)
    a = tr.critic(torch.cat([x0, torch.randn(15, 2, generator=gen)]))[0]
    b = tr.critic(torch.cat([x0, x0.expand(15, 2)]))[0]  # the same point among copies of itself
    assert abs(a - b) > 1e-3
    plain = Trainer(small())
    c = plain.critic(torch.cat([x0, torch.randn(15, 2, generator=gen)]))[0]
    d = plain.critic(torch.cat([x0, x0.expand(15, 2)]))[0]
    assert torch.isclose(c, d, rtol=1e-6, atol=0)  # without the layer: each sample alone


def test_d_update_scores_real_and_fake_each_within_its_own_batch():
    """One pass over [x_r, x_f] gives L_D(D(x_r | x_r), D(x_f | x_f)): each half's minibatch
    features come from its own batch, not from the 2B points together."""
    tr = Trainer(small(minibatch_disc=True))
    st = tr.stack
    gen = torch.Generator().manual_seed(2)
    x_r, x_f = torch.randn(32, 2, generator=gen), torch.randn(32, 2, generator=gen) + 1.0
    p = st.critic_params(0)
    with torch.no_grad():
        plain = st._d_objective(p, x_r[None], x_f[None], None)[1]
        expect = tr.loss.d_loss(tr.critic(x_r)[None], tr.critic(x_f)[None], 1.0)
        both = tr.critic(torch.cat([x_r, x_f]))  # the 2B points as one batch: not what D sees
        mixed = tr.loss.d_loss(both[None, :32], both[None, 32:], 1.0)
    torch.testing.assert_close(plain, expect, rtol=1e-5, atol=1e-6)
    assert (plain - mixed).abs().item() > 1e-4


@pytest.mark.parametrize("target", ["gaussian", pytest.param("ring8", marks=pytest.mark.slow)])
def test_plotted_d_is_d_inside_a_real_fake_batch(target):
    tr = Trainer(small(target=target, minibatch_disc=True, steps=30))
    tr.run()
    shown = tr.snapshot().d_out.ravel()
    fakes = tr.generate(tr.z_context)
    assert len(fakes) == tr.cfg.batch - 1
    idx = np.linspace(0, len(tr.grid_points) - 1, 7).astype(int)
    inside = [tr.loss.output(tr.critic(torch.cat([tr.grid_points[i:i + 1], fakes]))[0]).item()
              for i in idx]
    whole_grid = tr.loss.output(tr.critic(tr.grid_points)).numpy()  # the old, wrong picture
    np.testing.assert_allclose(shown[idx], inside, rtol=1e-4, atol=1e-6)
    assert np.abs(shown - whole_grid).max() > 1e-2


def test_context_scoring_in_chunks_equals_one_block(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    m, other = torch.randn(2, 50, 8, 4, generator=gen), torch.randn(2, 31, 8, 4, generator=gen)
    whole = nets._closeness(m, other)
    monkeypatch.setattr(nets, "CONTEXT_CHUNK", 2 * 8 * 31 * 3)  # 3 rows per block
    torch.testing.assert_close(nets._context_closeness(m, other), whole, rtol=1e-5, atol=1e-5)


def test_spectral_norm_normalises_every_matrix_and_the_minibatch_tensor_too():
    tr = Trainer(small(target="bimodal", spectral_norm=True, minibatch_disc=True, steps=40))
    tr.run()
    st = tr.stack
    assert "T" in st.D.sn.names
    p = st.critic_params(0)
    for n in st.D.sn.names:
        sigma = torch.linalg.matrix_norm(p[n][0], ord=2)
        assert sigma == pytest.approx(1.0, abs=0.15), n
    x = torch.linspace(-3, 3, 20).view(-1, 1)
    before = tr.critic(x)  # σ from the stored power-iteration vectors: scaling T scales σ alike
    with torch.no_grad():
        tr.weights("d")["T"].mul_(5.0)
    torch.testing.assert_close(tr.critic(x), before)
    plain = Trainer(small(target="bimodal", minibatch_disc=True))
    before = plain.critic(x)  # control: without spectral norm the same scaling changes D
    with torch.no_grad():
        plain.weights("d")["T"].mul_(5.0)
    assert (plain.critic(x) - before).abs().max() > 1e-3


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
    cfg = small(target="ring8", minibatch_disc=True, loss="wgan-gp", r1_gamma=2.0)
    tr = Trainer(cfg)
    st = tr.stack
    p = st.critic_params(0)

    def d(v):  # D(x) of a batch (N, dim), the batch coupling through the layer
        return st.D(v[None], p)[0]

    x = torch.from_numpy(tr.target.sample(np.random.default_rng(0), 16))
    brute = _brute_force_input_grads(d, x)
    per_sample = _input_grads(lambda v: st.D(v[None], p, hold_others=True)[0], x)
    torch.testing.assert_close(per_sample, brute, rtol=1e-4, atol=1e-6)
    mixed = _input_grads(d, x)  # ∇ of Σ_j D(x_j): mixes the samples through the layer
    assert (mixed - brute).abs().max() > 1e-3
    # the first D update's terms at its own draws (z, real, ε):
    # λ·mean(‖∂D(x̂_i)/∂x̂_i‖ − 1)² + (γ/2)·mean‖∂D(x_i)/∂x_i‖²
    replay = Streams(st)
    z, real = replay.z(), replay.real()
    eps = replay.uniform()
    x_hat = eps * real + (1 - eps) * tr.generate(z)
    gp = ((_brute_force_input_grads(d, x_hat).norm(dim=1) - 1) ** 2).mean().item()
    r1 = (_brute_force_input_grads(d, real) ** 2).sum(1).mean().item()
    penalty = value(st.step(), "d_penalty")
    assert penalty == pytest.approx(cfg.effective_gp() * gp + 0.5 * 2.0 * r1, rel=1e-4)


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
    gen = torch.Generator().manual_seed(0)
    gamma = torch.tensor([[1.0, 2.0, 0.5], [0.5, 1.0, 3.0]])
    beta = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 1.0]])
    h = torch.randn(2, 9, 3, generator=gen) * 3 + 1  # two variants, 5 reference rows each
    out = nets._virtual_batch_norm(h, 5, gamma, beta)
    for k in range(2):
        ref = h[k, :5]
        for i in range(9):
            stats = torch.cat([ref, h[k, i:i + 1]])
            mu, var = stats.mean(0), stats.var(0, unbiased=False)
            expect = (h[k, i] - mu) / torch.sqrt(var + 1e-5) * gamma[k] + beta[k]
            torch.testing.assert_close(out[k, i], expect, rtol=1e-5, atol=1e-5)

    g = GeneratorNet.init(2, 2, 16, 2, "relu", [torch.Generator().manual_seed(0)], vbn=True,
                          priors=["normal"])
    z = torch.randn(1, 20, 2, generator=torch.Generator().manual_seed(1))
    p = g.params.views
    with torch.no_grad():
        together = g(z, p)
        alone = torch.cat([g(z[:, i:i + 1], p) for i in range(20)], 1)
        torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)  # no batch coupling
        g.z_ref.mul_(3.0)  # another reference batch changes every output
        assert (g(z, p) - together).abs().min() > 1e-4
    tr = Trainer(small(vbn=True))  # the option reaches the trainer's generator
    assert tr.stack.G.z_ref is not None and "gamma0" in tr.stack.G.params.views
    assert Trainer(small()).stack.G.z_ref is None


@contextmanager
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def test_unrolled_gradient_is_the_gradient_through_the_look_ahead():
    cfg = RunConfig(target="gaussian", unrolled=3, unroll_lr=0.5, lr_g=0.0, batch=16, g_width=4,
                    d_width=4, g_depth=1, d_depth=1, noise_dim=1, activation="tanh",
                    eval_samples=200)
    with float64():
        st = Trainer(cfg).stack
        assert st.G.params.flat.dtype == torch.float64
        start, sigma = Streams(st), st.sigmas()

        def g_update(look_ahead: bool) -> float:
            """L_G of one G update, the same batches every time: the look-ahead's draws, then
            G's z; against D after the 3 look-ahead steps, or (not ``look_ahead``) D as is."""
            start.restore(st)
            critic = st._unrolled_critic(sigma)
            x_f, noise_f, real = st._g_batch(sigma)
            return float(st._g_update(x_f, noise_f, real, sigma,
                                      critic if look_ahead else None)[0][0])

        g_update(True)
        grad = st.G.params.grad.clone()
        flat, fd, h = st.G.params.flat, [], 1e-6
        for j in range(flat.numel()):
            with torch.no_grad():
                flat[j] += h
            up = g_update(True)
            with torch.no_grad():
                flat[j] -= 2 * h
            down = g_update(True)
            with torch.no_grad():
                flat[j] += h
            fd.append((up - down) / (2 * h))
        torch.testing.assert_close(grad, torch.tensor(fd), rtol=1e-5, atol=1e-8)

        g_update(False)  # the same G batch against the current D: another gradient
        grad0 = st.G.params.grad.clone()
    assert (grad - grad0).norm() > 0.05 * grad0.norm()


def test_feature_matching_loss_is_the_distance_of_mean_features():
    tr = Trainer(small(target="bimodal", feature_matching=True, lr_g=0.0))
    tr.run(3)
    st = tr.stack

    @torch.no_grad()
    def matched_and_plain(z, real) -> tuple[float, float]:
        """‖E f(x_r) − E f(G(z))‖² on D's features, and the plain L_G the option replaces."""
        p = st.critic_params(0)
        f_f, f_r = st.D.features(tr.generate(z)[None], p), st.D.features(real[None], p)
        match = ((f_r.mean(1) - f_f.mean(1)) ** 2).sum().item()
        return match, tr.loss.g_loss(st.D.logits(f_f, p), None).item()

    replay = Streams(st)
    loss = st.lone_move("g")[0]  # a lone G update draws its z, then its real batch
    expect, plain = matched_and_plain(replay.z(), replay.real())
    assert loss == pytest.approx(expect, rel=1e-5)
    assert abs(loss - plain) > 1e-3
    # in an iteration (k = 1) the G update matches the D update's z and real batch, after D moved
    replay = Streams(st)
    loss = value(st.step(), "g_loss")
    expect, _ = matched_and_plain(replay.z(), replay.real())
    assert loss == pytest.approx(expect, rel=1e-5)


def test_historical_averaging_penalty_is_the_distance_to_the_running_mean():
    lam = 0.5
    tr = Trainer(small(historical_avg=lam, log_every=1, lr_d=1e-2, lr_g=1e-2))

    def flat(net):
        return net.params.flat.detach().clone().double()

    past_d, past_g = [flat(tr.stack.D)], [flat(tr.stack.G)]
    for _ in range(6):
        expect_d = lam * ((past_d[-1] - torch.stack(past_d).mean(0)) ** 2).sum().item()
        row = tr.step()
        past_d.append(flat(tr.stack.D))
        expect_g = lam * ((past_g[-1] - torch.stack(past_g).mean(0)) ** 2).sum().item()
        past_g.append(flat(tr.stack.G))
        assert row["d_penalty"] == pytest.approx(expect_d, rel=1e-4, abs=1e-12)
        assert row["g_penalty"] == pytest.approx(expect_g, rel=1e-4, abs=1e-12)
    assert row["d_penalty"] > 0 and row["g_penalty"] > 0


def test_historical_averaging_adds_its_gradient_to_the_update():
    """SGD: θ_D ← θ_D − η·(∇L_D + 2λ(θ_D − θ̄_D)), ∇L_D at the update's own draws."""
    lam, lr = 10.0, 2e-2
    tr = Trainer(small(historical_avg=lam, opt_d="sgd", opt_g="sgd", lr_d=lr, lr_g=lr))
    st = tr.stack
    past = [st.D.params.flat.clone()]
    for _ in range(4):
        st.step()
        past.append(st.D.params.flat.clone())
    theta, avg = past[-1], torch.stack(past).mean(0)
    replay = Streams(st)
    z, real = replay.z(), replay.real()
    leaves = st.D.params.leaves
    total = st._d_objective(st.D.effective(leaves), real[None], tr.generate(z)[None], None)[0]
    plain = torch.cat([g.reshape(-1) for g in torch.autograd.grad(total.sum(),
                                                                  list(leaves.values()))])
    pull = 2 * lam * (theta - avg)
    assert pull.norm() > 0.1 * plain.norm()  # the term is big enough to be seen
    st.step()
    torch.testing.assert_close(st.D.params.grad, plain + pull, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(st.D.params.flat, theta - lr * (plain + pull), rtol=1e-5,
                               atol=1e-6)


def test_d_loss_is_logged_without_the_penalty():
    """First step, same state and batches: the plain loss is the same with or without GP."""
    rows = [Trainer(small(loss="wgan-gp", gp_lambda=lam, log_every=1)).step() for lam in (0, 10)]
    assert rows[0]["d_loss"] == rows[1]["d_loss"]
    assert rows[0]["d_penalty"] == 0 and rows[1]["d_penalty"] > 0


def _d_and_ratio(label_smoothing: float):
    """Train D alone against a frozen G ≈ N(1.5, 0.5²) on N(2, 0.5²); return D(x) and
    p_r/(p_r + p_g) where p_r + p_g carries mass."""
    cfg = RunConfig(target="gaussian", label_smoothing=label_smoothing, lr_g=0.0, lr_d=5e-3,
                    beta2=0.99, steps=600, batch=512, d_width=32, log_every=600,
                    eval_samples=200)
    tr = Trainer(cfg)
    out = cfg.g_depth  # G's output layer: W{depth}, b{depth}
    w, b = tr.weights("g")[f"W{out}"], tr.weights("g")[f"b{out}"]
    z = sample_noise(cfg.noise, 20000, cfg.noise_dim, torch.Generator().manual_seed(9))
    g = tr.generate(z).numpy()[:, 0]
    with torch.no_grad():
        w *= 0.5 / g.std()
        b *= 0.5 / g.std()
        b += 1.5 - tr.generate(z).numpy()[:, 0].mean()
    g = tr.generate(z).numpy()[:, 0]
    assert g.mean() == pytest.approx(1.5, abs=1e-3) and g.std() == pytest.approx(0.5, rel=1e-3)
    tr.run()
    x = np.linspace(0.0, 4.0, 161)
    p_r, p_g = np.exp(tr.target.log_density(x[:, None])), gaussian_kde(g)(x)
    d = torch.sigmoid(tr.critic(torch.tensor(x[:, None], dtype=torch.float32))).numpy()
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
    """D's update of an iteration sees x_r + σ_t·n_r and G(z) + σ_t·n_f (σ_t = σ₀·max(0,
    1 − t/T)); the G update (k = 1: the same forward of G) sees the same noisy fakes."""
    cfg = small(target="bimodal", instance_noise=0.8, noise_anneal=4, steps=6)
    tr = Trainer(cfg)
    st, B = tr.stack, cfg.batch
    seen: list[torch.Tensor] = []
    spy_on_d(st, seen.append)
    for t in range(6):
        replay = Streams(st)
        z, real = replay.z(), replay.real()
        fake = tr.generate(z)  # G before the iteration (its update comes after D's pass)
        sigma = 0.8 * max(0.0, 1 - t / 4)
        if sigma:
            real = real + sigma * replay.normal()
            fake = fake + sigma * replay.normal()
        seen.clear()
        st.step()
        d_pass = torch.cat(seen[:-1], 1)[0]  # the D update's pass(es): reals, then fakes
        assert d_pass.shape == (2 * B, 1)
        torch.testing.assert_close(d_pass[:B], real)  # the noisy real batch
        torch.testing.assert_close(d_pass[B:], fake)  # the noisy fakes
        torch.testing.assert_close(seen[-1][0], fake)  # G's update scores the same points
        after = Streams(st)  # nothing else was drawn: σ = 0 draws no noise
        assert torch.equal(after.gen.get_state(), replay.gen.get_state())


def test_weight_clipping_holds_before_every_critic_pass():
    for lr_d in (0.0, 5e-2):
        cfg = small(loss="wgan", opt_d="rmsprop", lr_d=lr_d, steps=5, d_steps=2)
        tr = Trainer(cfg)
        c = cfg.effective_clip()
        assert c > 0 and tr.stack.D.params.flat.abs().max().item() > c  # initial weights exceed c
        widest: list[float] = []
        spy_on_d(tr.stack, lambda x, tr=tr, widest=widest: widest.append(
            tr.stack.D.params.flat.abs().max().item()))
        tr.run()
        assert len(widest) >= 5 * 3 and max(widest) <= c + 1e-9


OPTIMIZERS = {
    "adam": lambda ts, lr, b1, b2: torch.optim.Adam(ts, lr=lr, betas=(b1, b2)),
    "rmsprop": lambda ts, lr, b1, b2: torch.optim.RMSprop(ts, lr=lr, alpha=RMSPROP_ALPHA),
    "sgd": lambda ts, lr, b1, b2: torch.optim.SGD(ts, lr=lr, momentum=b1),
}


STATE_OF = {"adam": {"m", "v"}, "rmsprop": {"sq"}, "sgd": {"buf"}}


@pytest.mark.parametrize("kinds", [*([k] * 4 for k in OPTIMIZERS),
                                   ["sgd", "adam", "rmsprop", "adam"]],
                         ids=[*OPTIMIZERS, "mixed"])
def test_stacked_optimizer_steps_each_row_as_torch_optim(kinds):
    """Each variant's rows follow torch.optim of its kind with its own lr and β's, and equal the
    same variant alone (in a stack of mixed kinds the other kinds' updates add exactly 0 to
    it); RMSProp's decay is the WGAN paper's α = 0.99, not β₂."""
    assert RMSPROP_ALPHA == 0.99
    lrs, beta1, beta2 = [5e-2, 1e-2, 3e-3, 2e-2], [0.9, 0.5, 0.0, 0.0], [0.9, 0.99, 0.5, 0.9]
    gen = torch.Generator().manual_seed(1)

    def rows():
        return [{"w": torch.randn(3, 2, generator=gen), "b": torch.randn(3, generator=gen)}
                for _ in lrs]

    start = rows()
    params = FlatParams.from_rows(start)
    opt = StackedOptimizer(kinds, lrs, beta1, beta2, params)
    alone = [FlatParams.from_rows([start[k]]) for k in range(len(lrs))]
    opts = [StackedOptimizer(kinds[k], [lrs[k]], [beta1[k]], [beta2[k]], alone[k])
            for k in range(len(lrs))]
    refs = [[start[k][n].clone().requires_grad_() for n in ("w", "b")] for k in range(len(lrs))]
    torch_opts = [OPTIMIZERS[kinds[k]](ts, lrs[k], beta1[k], beta2[k])
                  for k, ts in enumerate(refs)]
    for _ in range(6):
        grads = rows()
        opt.step(params.flat, FlatParams.from_rows(grads).flat)
        for k in range(len(lrs)):
            opts[k].step(alone[k].flat, FlatParams.from_rows([grads[k]]).flat)
            for t, n in zip(refs[k], ("w", "b"), strict=True):
                t.grad = grads[k][n].clone()
            torch_opts[k].step()
    assert opt.state["t"] == 6
    assert not math.isclose(float(params.flat[0]), float(start[0]["w"][0, 0]))
    sub = opt.subset(torch.tensor([2, 0]), params.subset(torch.tensor([2, 0])))
    assert sub.kinds == [kinds[2], kinds[0]]
    assert set(sub.state) == {"t"}.union(*(STATE_OF[k] for k in kinds))
    for k in range(len(lrs)):
        mine = params.rows(slice(k, k + 1))
        for t, n in zip(refs[k], ("w", "b"), strict=True):
            torch.testing.assert_close(mine[n][0], alone[k].rows(slice(0, 1))[n][0],
                                       rtol=1e-6, atol=1e-7)
            torch.testing.assert_close(mine[n][0], t.detach(), rtol=1e-5, atol=1e-6)
