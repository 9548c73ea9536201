"""The training loop: deterministic for a given RunConfig (seed included), step-able, measured.

One ``step()`` = k discriminator updates then one generator update. Every ``log_every`` steps a row
of scalars (interval means of losses and gradient norms, plus JS/KL/W1/V(G,D*) and mode metrics
from ``eval_samples`` generator samples) is appended to ``history``. ``snapshot()`` builds the heavy
frame (densities and D on a grid, samples, per-sample generator push) on demand. A non-finite loss
or gradient stops the run: ``diverged_at`` holds the step, ``history`` is kept.
"""

from __future__ import annotations

import math
import time
from functools import partial

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


def make_optimizer(name: str, params, lr: float, beta1: float, beta2: float):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=beta2)
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
        self.axes = self.target.grid(GRID_POINTS[dim])
        self.area = M.cell_area(self.axes)
        self.p_r = self.target.density_on_grid(self.axes)
        self.grid_points = torch.from_numpy(_grid_points(self.axes))
        self.step_count = 0
        self.diverged_at: int | None = None
        self.history = History()
        self._acc = np.zeros(5)  # sums of d_loss, g_loss, g_norm, d_norm, x_norm since last row
        self._acc_n = 0
        self._eval_cache: tuple | None = None  # step, fake, p_g, smoothed p_r
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

    def _d_objective(self, d, x_r: Tensor, x_f: Tensor) -> Tensor:
        """L_D(+ penalties) for critic ``d`` on (already noised) real and fake batches."""
        loss = self.loss.d_loss(d(x_r), d(x_f), self.real_label)
        if self.gp:
            loss = loss + self.gp * gradient_penalty(d, x_r, x_f, self.noise_gen)
        if self.cfg.r1_gamma:
            loss = loss + 0.5 * self.cfg.r1_gamma * r1_penalty(d, x_r)
        return loss

    def _d_step(self, sigma: float) -> tuple[float, float]:
        B = self.cfg.batch
        with torch.no_grad():
            x_f = self.G(self.G.sample_noise(B, self.noise_gen))
        loss = self._d_objective(self.D, self._noisy(self._real(B), sigma), self._noisy(x_f, sigma))
        if self.avg_d is not None:
            loss = loss + self.cfg.historical_avg * self.avg_d.penalty()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        norm = grad_norm(self.d_params)
        if self.cfg.lr_d > 0:
            self.opt_d.step()
            if self.clip:
                with torch.no_grad():
                    torch._foreach_clamp_min_(self.d_params, -self.clip)
                    torch._foreach_clamp_max_(self.d_params, self.clip)
            if self.avg_d is not None:
                self.avg_d.update()
        return loss.item(), norm

    def _unrolled_critic(self, sigma: float):
        """D after ``unrolled`` differentiable SGD steps (size unroll_lr) on fresh batches, so the
        generator's gradient sees how D would react (Metz et al. 2017, SGD variant)."""
        B = self.cfg.batch
        theta = {n: p.detach().requires_grad_() for n, p in self.D.named_parameters()}
        for _ in range(self.cfg.unrolled):
            x_f = self._noisy(self.G(self.G.sample_noise(B, self.noise_gen)), sigma)
            x_r = self._noisy(self._real(B), sigma)
            loss = self._d_objective(partial(functional_call, self.D, theta), x_r, x_f)
            grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True)
            theta = {n: t - self.cfg.unroll_lr * g for (n, t), g in zip(theta.items(), grads)}
        return lambda x: functional_call(self.D, theta, (x,))

    def _g_objective(self, x_f: Tensor, sigma: float, critic=None) -> Tensor:
        d = critic or self.D
        x_in = self._noisy(x_f, sigma)
        if self.cfg.feature_matching:
            with torch.no_grad():
                f_r = self.D.features(self._noisy(self._real(len(x_f)), sigma)).mean(0)
            return ((self.D.features(x_in).mean(0) - f_r) ** 2).sum()
        l_r = d(self._noisy(self._real(len(x_f)), sigma)) if self.loss.g_uses_real else None
        return self.loss.g_loss(d(x_in), l_r)

    def _g_step(self, sigma: float) -> tuple[float, float, float]:
        B = self.cfg.batch
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            critic = self._unrolled_critic(sigma) if self.cfg.unrolled else None
            x_f = self.G(self.G.sample_noise(B, self.noise_gen))
            x_f.retain_grad()
            loss = self._g_objective(x_f, sigma, critic)
            if self.avg_g is not None:
                loss = loss + self.cfg.historical_avg * self.avg_g.penalty()
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        norm = grad_norm(self.g_params)
        x_norm = float(x_f.grad.norm(dim=1).mean()) * B if x_f.grad is not None else 0.0
        if self.cfg.lr_g > 0:
            self.opt_g.step()
            if self.avg_g is not None:
                self.avg_g.update()
        return loss.item(), norm, x_norm

    def step(self) -> dict[str, float] | None:
        """One iteration (k D steps, one G step). Returns the history row if one was logged."""
        if self.done:
            return None
        t0 = time.perf_counter()
        sigma = self.instance_sigma()
        d_loss = d_norm = math.nan
        for _ in range(self.cfg.d_steps):
            d_loss, d_norm = self._d_step(sigma)
            if not math.isfinite(d_loss + d_norm):
                break
        if math.isfinite(d_loss + d_norm):
            g_loss, g_norm, x_norm = self._g_step(sigma)
        else:
            g_loss = g_norm = x_norm = math.nan
        return self.record_step(np.array([d_loss, g_loss, g_norm, d_norm, x_norm]),
                                time.perf_counter() - t0)

    def record_step(self, values: np.ndarray, seconds: float) -> dict[str, float] | None:
        """Book-keeping after one iteration: count it, add ``seconds`` of training time, stop on
        non-finite ``values`` (d_loss, g_loss, g_norm, d_norm, x_norm) and log a row every
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
        row = dict(zip(("d_loss", "g_loss", "g_grad_norm", "d_grad_norm", "x_grad_norm"), means))
        row.update(step=self.step_count, wall_s=self._wall)
        if with_metrics:
            row.update(self.measure())
        self.history.append(row)
        return self.history.last()

    @torch.no_grad()
    def _eval(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Generator samples at the fixed z_eval, their binned KDE p_g, and p_r smoothed by the
        same kernel (so a perfect generator scores JS ≈ 0 even for σ below a grid cell)."""
        if self._eval_cache is None or self._eval_cache[0] != self.step_count:
            fake = self.G(self.z_eval).numpy()
            if np.all(np.isfinite(fake)):
                bw = M.scott_bandwidth(fake)
                p_g = M.binned_density(fake, self.axes, bw)
                p_r = M.smooth_density(self.p_r, self.axes, bw)
            else:
                p_g = p_r = np.full_like(self.p_r, np.nan)
            self._eval_cache = (self.step_count, fake, p_g, p_r)
        return self._eval_cache[1:]

    def measure(self) -> dict[str, float]:
        """JS, KL both ways, V(G,D*), W1 and mode metrics of the current generator (densities
        compared at the same smoothing)."""
        fake, p_g, p_r = self._eval()
        if not np.all(np.isfinite(fake)):
            return {}
        if np.all(np.isnan(p_g)):  # every sample left the grid: disjoint from p_r there
            dens = {"js": M.LN2, "kl_rg": np.inf, "kl_gr": np.inf, "v_opt": 0.0}
        else:
            dens = {
                "js": M.js_divergence(p_r, p_g, self.area),
                "kl_rg": M.kl_divergence(p_r, p_g, self.area),
                "kl_gr": M.kl_divergence(p_g, p_r, self.area),
                "v_opt": M.value_at_optimum(p_r, p_g, self.area),
            }
        out = {
            **dens,
            "w1": M.w1_1d(fake[:, 0], self.real_eval[:, 0]) if self.target.dim == 1
            else M.w1_sliced(fake, self.real_eval),
        }
        if self.target.modes is not None:
            s = M.mode_stats(fake, self.target.modes, self.target.mode_std)
            out.update(modes_covered=s["modes_covered"], hq_share=s["hq_share"])
        return out

    def snapshot(self) -> Snapshot:
        """The heavy frame for plots: p_r, p_g, D(x), D*(x) on the grid; samples and G's push."""
        fake, p_g, p_r_smooth = self._eval()
        shape = self.p_r.shape
        with torch.no_grad():
            d_out = self.loss.output(self.D(self.grid_points)).numpy().reshape(shape)
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
        )

    def _push(self, n: int) -> np.ndarray:
        """−∇ₓ L_G at the first n evaluation fakes (scaled by n): the direction each sample is
        pushed by the generator's loss (zero everywhere means a vanishing gradient)."""
        x = self.G(self.z_eval[:n]).detach().requires_grad_()
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            if self.cfg.feature_matching:
                loss = self._g_objective(x, 0.0)
            else:
                real = torch.from_numpy(self.real_eval[:n])
                l_r = self.D(real) if self.loss.g_uses_real else None
                loss = self.loss.g_loss(self.D(x), l_r)
            (grad,) = torch.autograd.grad(loss * n, x)
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
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
