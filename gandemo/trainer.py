"""The training loop: deterministic for a given RunConfig (seed included), step-able, measured.

One ``step()`` = k discriminator updates then one generator update; ``step_d()`` / ``step_g()``
make one update of one player alone (lone moves, not iterations: see ``lone_move``). Every
``log_every`` steps a row of scalars (interval means of losses and gradient norms, plus
JS/KL/W1/V(G,D*) and mode metrics from ``eval_samples`` generator samples) is appended to
``history``. ``snapshot()`` builds the heavy frame (densities and D on a grid, samples,
per-sample generator push) on demand. A non-finite loss or gradient stops the run:
``diverged_at`` holds the step, ``history`` is kept.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

from . import metrics as M
from .config import RunConfig
from .losses import get_loss, gradient_penalty, r1_penalty
from .nets import Discriminator, Generator
from .snapshot import History, Snapshot
from .targets import get_target

DISPLAY_SAMPLES = 300  # samples drawn in a frame
GRID_POINTS = {1: 400, 2: 64}  # grid per axis for densities and D(x)
DSTAR_MIN_MASS = 1e-3  # D* = p_r/(p_r+p_g) is drawn only where p_r+p_g > this share of its max
RMSPROP_ALPHA = 0.99  # RMSProp's decay of E[g²], as in the WGAN paper's code (torch's default)
# What one iteration reports to ``record_step``, in this order (history columns of these names).
STEP_VALUES = ("d_loss", "g_loss", "g_grad_norm", "d_grad_norm", "x_grad_norm", "d_penalty",
               "g_penalty")
PLAYERS = ("d", "g")  # lone moves: one update of D alone, one update of G alone
# History columns of a run that made lone moves: the lone D / G updates made before each row.
MOVE_COLUMNS = ("d_moves", "g_moves")


def make_optimizer(name: str, params, lr: float, beta1: float, beta2: float):
    """Adam(lr, (β₁, β₂)); RMSProp(lr, α = 0.99) (β's unused); SGD(lr, momentum β₁)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=RMSPROP_ALPHA)
    return torch.optim.SGD(params, lr=lr, momentum=beta1)


def grad_norm(params) -> float:
    """‖∇θ‖₂ over all parameters that have a gradient."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


class RunningAverage:
    """θ̄_t = (1/t)·Σ θ_i, for historical averaging: penalty ‖θ − θ̄‖²."""

    def __init__(self, module: torch.nn.Module):
        self.params = [p for p in module.parameters()]
        self.avg = [p.detach().clone() for p in self.params]
        self.t = 1

    def penalty(self) -> Tensor:
        return sum(((p - a) ** 2).sum() for p, a in zip(self.params, self.avg))

    @torch.no_grad()
    def update(self) -> None:
        self.t += 1
        for p, a in zip(self.params, self.avg):
            a.add_((p - a) / self.t)


class Trainer:
    """Owns G, D, their optimizers and the data streams of one run."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.target = get_target(cfg.target)
        self.loss = get_loss(cfg.loss)
        self.clip, self.gp = cfg.effective_clip(), cfg.effective_gp()
        self.real_label = 1.0 - cfg.label_smoothing
        dim = self.target.dim
        g_gen = torch.Generator().manual_seed(cfg.seed)  # G's init depends on the seed only
        self.G = Generator(cfg.noise_dim, dim, cfg.g_width, cfg.g_depth, cfg.activation, g_gen,
                           vbn=cfg.vbn, noise=cfg.noise)
        d_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.D = Discriminator(dim, cfg.d_width, cfg.d_depth, cfg.activation, d_gen,
                               spectral_norm=cfg.spectral_norm, minibatch=cfg.minibatch_disc)
        self.noise_gen = torch.Generator().manual_seed(cfg.seed + 2)
        self.rng = np.random.default_rng(cfg.seed)
        self.opt_g = make_optimizer(cfg.opt_g, self.G.parameters(), cfg.lr_g, cfg.beta1, cfg.beta2)
        self.opt_d = make_optimizer(cfg.opt_d, self.D.parameters(), cfg.lr_d, cfg.beta1, cfg.beta2)
        self.d_params = list(self.D.parameters())
        self.g_params = list(self.G.parameters())
        self.avg_g = RunningAverage(self.G) if cfg.historical_avg else None
        self.avg_d = RunningAverage(self.D) if cfg.historical_avg else None
        # fixed evaluation data: the same z and real samples at every measurement
        eval_gen = torch.Generator().manual_seed(cfg.seed + 3)
        self.z_eval = self.G.sample_noise(cfg.eval_samples, eval_gen)
        self.real_eval = self.target.sample(np.random.default_rng(cfg.seed + 3), cfg.eval_samples)
        # minibatch discrimination: the displayed D(x) scores x inside a batch of B − 1 fixed fakes
        self.z_context = None
        if cfg.minibatch_disc:
            ctx_gen = torch.Generator().manual_seed(cfg.seed + 4)
            self.z_context = self.G.sample_noise(cfg.batch - 1, ctx_gen)
        self.axes = self.target.grid(GRID_POINTS[dim])
        self.area = M.cell_area(self.axes)
        self.p_r = self.target.density_on_grid(self.axes)
        self.grid_points = torch.from_numpy(_grid_points(self.axes))
        self.step_count = 0
        self.lone_moves = dict.fromkeys(PLAYERS, 0)  # step_d / step_g calls (not iterations)
        self.diverged_at: int | None = None
        self.history = History()
        self._acc = np.zeros(len(STEP_VALUES))  # sums of the STEP_VALUES since the last row
        self._acc_n = 0
        self._eval_cache: tuple | None = None  # step, fake, metrics.divergences(...)
        self.last_measure: dict = {}  # the latest divergences() result, strings included
        self._wall = 0.0

    # --- state --------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.diverged_at is not None or self.step_count >= self.cfg.steps

    @property
    def status(self) -> str:
        if self.diverged_at is not None:
            return f"diverged at step {self.diverged_at}"
        return "finished" if self.done else "ready"

    def instance_sigma(self) -> float:
        """σ_t = σ₀·max(0, 1 − t/T) when annealing over T steps, else σ₀."""
        s0, T = self.cfg.instance_noise, self.cfg.noise_anneal
        return s0 * max(0.0, 1.0 - self.step_count / T) if T else s0

    # --- one iteration ----------------------------------------------------------------------
    def _real(self, n: int) -> Tensor:
        return torch.from_numpy(self.target.sample(self.rng, n))

    def _noisy(self, x: Tensor, sigma: float) -> Tensor:
        return x + sigma * torch.randn(x.shape, generator=self.noise_gen) if sigma else x

    def _d_objective(self, d, x_r: Tensor, x_f: Tensor) -> tuple[Tensor, Tensor, float]:
        """(L_D + penalties, plain L_D, the penalties λ·GP + (γ/2)·R1 as a number) for critic
        ``d`` on (already noised) real and fake batches. The penalties use per-sample input
        gradients ∂D(x_i)/∂x_i (minibatch discrimination: the rest of the batch held fixed)."""
        plain = total = self.loss.d_loss(d(x_r), d(x_f), self.real_label)
        d_i = (lambda x: d(x, hold_others=True)) if self.cfg.minibatch_disc else d
        penalty = 0.0
        if self.gp:
            term = self.gp * gradient_penalty(d_i, x_r, x_f, self.noise_gen)
            total, penalty = total + term, penalty + term.item()
        if self.cfg.r1_gamma:
            term = 0.5 * self.cfg.r1_gamma * r1_penalty(d_i, x_r)
            total, penalty = total + term, penalty + term.item()
        return total, plain, penalty

    @torch.no_grad()
    def _clip_d(self) -> None:
        """Weight clipping: every D parameter into [−c, c]."""
        torch._foreach_clamp_min_(self.d_params, -self.clip)
        torch._foreach_clamp_max_(self.d_params, self.clip)

    def _d_step(self, sigma: float) -> tuple[float, float, float]:
        """One D update. Returns (plain L_D, penalties added to it, ‖∇θ_D‖). Weight clipping
        clamps before the critic pass (as the WGAN code: the first pass and a frozen D are
        clipped too) and after the update (so G's pass and the display see a clipped critic)."""
        B = self.cfg.batch
        if self.clip:
            self._clip_d()
        with torch.no_grad():
            x_f = self.G(self.G.sample_noise(B, self.noise_gen))
        x_r = self._noisy(self._real(B), sigma)
        x_f = self._noisy(x_f, sigma)
        total, plain, penalty = self._d_objective(self.D, x_r, x_f)
        if self.avg_d is not None:
            term = self.cfg.historical_avg * self.avg_d.penalty()
            total, penalty = total + term, penalty + term.item()
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        norm = grad_norm(self.d_params)
        if self.cfg.lr_d > 0:
            self.opt_d.step()
            if self.clip:
                self._clip_d()
            if self.avg_d is not None:
                self.avg_d.update()
        return plain.item(), penalty, norm

    def _unrolled_critic(self, sigma: float):
        """D after ``unrolled`` differentiable SGD steps (size unroll_lr) on fresh batches, so the
        generator's gradient sees how D would react (Metz et al. 2017, SGD variant)."""
        B = self.cfg.batch
        theta = {n: p.detach().requires_grad_() for n, p in self.D.named_parameters()}
        for _ in range(self.cfg.unrolled):
            x_f = self._noisy(self.G(self.G.sample_noise(B, self.noise_gen)), sigma)
            x_r = self._noisy(self._real(B), sigma)
            loss = self._d_objective(self._critic_at(theta), x_r, x_f)[0]
            grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True)
            theta = {n: t - self.cfg.unroll_lr * g for (n, t), g in zip(theta.items(), grads)}
        return self._critic_at(theta)

    def _critic_at(self, theta: dict[str, Tensor]):
        """D as a function of x (and D.forward's options) with parameters ``theta``."""
        return lambda x, **options: functional_call(self.D, theta, (x,), options)

    def _g_objective(self, x_f: Tensor, sigma: float, critic=None,
                     real: Tensor | None = None) -> Tensor:
        """L_G at the fakes x_f (instance noise σ); feature matching: ‖E f(x_r) − E f(x_f)‖² on
        D's last layer. Real samples, where needed, are ``real`` or a fresh training batch."""
        d = critic or self.D

        def real_batch() -> Tensor:
            return self._noisy(self._real(len(x_f)) if real is None else real, sigma)

        x_in = self._noisy(x_f, sigma)
        if self.cfg.feature_matching:
            with torch.no_grad():
                f_r = self.D.features(real_batch()).mean(0)
            return ((self.D.features(x_in).mean(0) - f_r) ** 2).sum()
        l_r = d(real_batch()) if self.loss.g_uses_real else None
        return self.loss.g_loss(d(x_in), l_r)

    def _g_step(self, sigma: float) -> tuple[float, float, float, float]:
        """One G update. Returns (plain L_G, historical-averaging penalty added to it, ‖∇θ_G‖,
        B·mean ‖∇ₓL_G‖ at the fakes)."""
        B = self.cfg.batch
        penalty = 0.0
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            critic = self._unrolled_critic(sigma) if self.cfg.unrolled else None
            x_f = self.G(self.G.sample_noise(B, self.noise_gen))
            x_f.retain_grad()
            loss = total = self._g_objective(x_f, sigma, critic)
            if self.avg_g is not None:
                term = self.cfg.historical_avg * self.avg_g.penalty()
                total, penalty = total + term, term.item()
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        norm = grad_norm(self.g_params)
        x_norm = float(x_f.grad.norm(dim=1).mean()) * B if x_f.grad is not None else 0.0
        if self.cfg.lr_g > 0:
            self.opt_g.step()
            if self.avg_g is not None:
                self.avg_g.update()
        return loss.item(), penalty, norm, x_norm

    def step(self) -> dict[str, float] | None:
        """One iteration (k D steps, one G step). Returns the history row if one was logged."""
        if self.done:
            return None
        t0 = time.perf_counter()
        sigma = self.instance_sigma()
        d_loss = d_pen = d_norm = math.nan
        for _ in range(self.cfg.d_steps):
            d_loss, d_pen, d_norm = self._d_step(sigma)
            if not math.isfinite(d_loss + d_pen + d_norm):
                break
        if math.isfinite(d_loss + d_pen + d_norm):
            g_loss, g_pen, g_norm, x_norm = self._g_step(sigma)
        else:
            g_loss = g_pen = g_norm = x_norm = math.nan
        values = dict(d_loss=d_loss, g_loss=g_loss, g_grad_norm=g_norm, d_grad_norm=d_norm,
                      x_grad_norm=x_norm, d_penalty=d_pen, g_penalty=g_pen)
        return self.record_step(np.array([values[c] for c in STEP_VALUES]),
                                time.perf_counter() - t0)

    def step_d(self) -> dict[str, float | str] | None:
        """One discriminator update alone, G frozen (see ``lone_move``)."""
        return self.lone_move("d")

    def step_g(self) -> dict[str, float | str] | None:
        """One generator update alone, D frozen (see ``lone_move``)."""
        return self.lone_move("g")

    def lone_move(self, player: str) -> dict[str, float | str] | None:
        """One update of ``player`` ("d": ``_d_step``, "g": ``_g_step``), the other network
        untouched. Book-keeping: a lone move is not an iteration (one iteration stays k D
        updates + one G update): ``step_count``, the history's interval means and its rows are
        left alone and ``lone_moves[player]`` counts it. From a run's first lone move on, every
        logged row also carries the counts so far in MOVE_COLUMNS (0 on the rows before), so
        the metrics say how many lone moves preceded them; runs without lone moves keep exactly
        the SCALAR_COLUMNS. A non-finite loss or gradient stops the run (``diverged_at`` = the
        current step). Returns {player, step, loss, penalty, grad_norm}, None when done."""
        if player not in PLAYERS:
            raise ValueError(f"player must be one of {PLAYERS} (one D or one G update); "
                             f"got {player!r}")
        if self.done:
            return None
        t0 = time.perf_counter()
        sigma = self.instance_sigma()
        loss, penalty, norm = (self._d_step(sigma) if player == "d"
                               else self._g_step(sigma)[:3])
        self._wall += time.perf_counter() - t0
        if not any(self.lone_moves.values()):
            for c in MOVE_COLUMNS:
                self.history.columns.setdefault(c, [0.0] * len(self.history))
        self.lone_moves[player] += 1
        self._eval_cache = None  # the step count did not change, a network did
        if not math.isfinite(loss + penalty + norm):
            self.diverged_at = self.step_count
        return dict(player=player, step=self.step_count, loss=loss, penalty=penalty,
                    grad_norm=norm)

    def record_step(self, values: np.ndarray, seconds: float) -> dict[str, float] | None:
        """Book-keeping after one iteration: count it, add ``seconds`` of training time, stop on
        non-finite ``values`` (one per name in STEP_VALUES) and log a row every
        ``log_every`` steps. ``step()`` ends with it; ``compare.Comparison`` calls it for the
        variants it trains stacked. Returns the history row if one was logged."""
        self.step_count += 1
        self._wall += seconds
        if not np.all(np.isfinite(values)):
            self.diverged_at = self.step_count
            return self._log(values, 1, with_metrics=False)
        self._acc += values
        self._acc_n += 1
        if self.step_count % self.cfg.log_every == 0 or self.step_count >= self.cfg.steps:
            row = self._log(self._acc, self._acc_n, with_metrics=True)
            self._acc[:] = 0
            self._acc_n = 0
            return row
        return None

    def run(self, steps: int | None = None, on_log=None) -> None:
        """Train until done (or ``steps`` more iterations); ``on_log(row)`` after each row."""
        end = self.cfg.steps if steps is None else self.step_count + steps
        while not self.done and self.step_count < end:
            row = self.step()
            if row is not None and on_log is not None:
                on_log(row)

    # --- measurement --------------------------------------------------------------------------
    def _log(self, sums: np.ndarray, n: int, with_metrics: bool) -> dict[str, float]:
        means = sums / max(n, 1)
        row = dict(zip(STEP_VALUES, means))
        row.update(step=self.step_count, wall_s=self._wall)
        if with_metrics:
            row.update(self.measure())
        self.history.append(row)
        for c, player in zip(MOVE_COLUMNS, PLAYERS):
            if c in self.history.columns:  # only once the run made a lone move
                self.history.columns[c].append(float(self.lone_moves[player]))
        return self.history.last()

    @torch.no_grad()
    def _eval(self) -> tuple[np.ndarray, dict]:
        """Generator samples at the fixed z_eval and ``metrics.divergences`` of them against
        the target (fixed per-target kernel width, outside mass kept) with the smoothed grid
        densities p_r, p_g; cached per step. W1 is left to ``measure`` (exact OT in 2D costs
        tens of ms, which a snapshot does not need)."""
        if self._eval_cache is None or self._eval_cache[0] != self.step_count:
            fake = self.G(self.z_eval).numpy()
            div = (M.divergences(self.target, fake, axes=self.axes, densities=True, w1=False)
                   if np.all(np.isfinite(fake)) else {})
            self._eval_cache = (self.step_count, fake, div)
        return self._eval_cache[1:]

    def measure(self) -> dict[str, float]:
        """JS, KL both ways, TV, V(G,D*), W1 (see ``metrics.divergences``) and mode metrics of
        the current generator; ∞ stays ∞. Non-numeric details (w1_method, reasons) are kept
        in ``last_measure``."""
        fake, div = self._eval()
        if not div:
            return {}
        if "w1" not in div:
            div.update(M.w1_distance(self.target, fake, real=self.real_eval, seed=self.cfg.seed))
        out = {k: v for k, v in div.items() if k not in ("p_r", "p_g")}
        self.last_measure = out
        out = {k: v for k, v in out.items() if not isinstance(v, str)}
        if self.target.modes is not None:
            s = M.mode_stats(fake, self.target.modes, self.target.mode_std)
            out.update(modes_covered=s["modes_covered"], hq_share=s["hq_share"])
        return out

    def snapshot(self) -> Snapshot:
        """The heavy frame for plots: p_r, p_g, D(x), D*(x) on the grid; samples and G's push."""
        fake, div = self._eval()
        shape = self.p_r.shape
        p_g = div.get("p_g", np.full(shape, np.nan))
        p_r_smooth = div.get("p_r", np.full(shape, np.nan))
        d_out = self._d_on_grid().reshape(shape)
        d_star = None
        if self.loss.optimal is not None:
            d_star = self.loss.optimal(p_r_smooth, p_g, self.real_label).astype(float)
            mass = p_r_smooth + p_g
            if np.isfinite(mass).any():
                d_star[~(mass > DSTAR_MIN_MASS * np.nanmax(mass))] = np.nan  # undefined at 0/0
        n = min(DISPLAY_SAMPLES, len(fake))
        return Snapshot(
            step=self.step_count, dim=self.target.dim, axes=self.axes, p_r=self.p_r, p_g=p_g,
            d_out=d_out, d_star=d_star, real=self.real_eval[:n], fake=fake[:n],
            fake_push=self._push(n), metrics=self.history.last(),
            js=float(div.get("js", np.nan)),
        )

    @contextmanager
    def _evaluating(self):
        """For display only: G and D in eval mode (spectral norm then uses its stored power-
        iteration vectors instead of advancing them) and D's parameters out of autograd; the
        training modes are restored after. Draws nothing from the training streams."""
        modes = self.G.training, self.D.training
        self.G.eval()
        self.D.eval()
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
            self.G.train(modes[0])
            self.D.train(modes[1])

    @torch.no_grad()
    def _d_on_grid(self) -> np.ndarray:
        """The displayed D(x) = output(D(x)) at every grid point, flat. With minibatch
        discrimination each point x is scored as a member of a batch of fakes, {x} ∪ G(z_context)
        (B − 1 fixed evaluation draws), as D scores a generated sample in training; chunked, so
        time and memory grow with grid size × B, not grid size²."""
        with self._evaluating():
            context = None if self.z_context is None else self.G(self.z_context)
            return self.loss.output(self.D(self.grid_points, context=context)).numpy()

    def _push(self, n: int) -> np.ndarray:
        """−∇ₓ L_G at the first n evaluation fakes (scaled by n): the direction each sample is
        pushed by the generator's loss (zero everywhere means a vanishing gradient). Real samples
        (feature matching, losses that read them) are the first n evaluation reals."""
        with self._evaluating():
            with torch.no_grad():
                x = self.G(self.z_eval[:n])
            x.requires_grad_()
            loss = self._g_objective(x, 0.0, real=torch.from_numpy(self.real_eval[:n]))
            (grad,) = torch.autograd.grad(loss * n, x)
        return (-grad).numpy()


def _grid_points(axes: tuple[np.ndarray, ...]) -> np.ndarray:
    """Grid as (m, dim) float32 points; 2D rows run over x fastest (matches (ny, nx) arrays)."""
    if len(axes) == 1:
        return axes[0].astype(np.float32)[:, None]
    xx, yy = np.meshgrid(axes[0], axes[1])
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


def train(cfg: RunConfig, on_log=None) -> Trainer:
    """Run a whole configuration headless and return the trainer (history, final state)."""
    trainer = Trainer(cfg)
    trainer.run(on_log=on_log)
    return trainer
