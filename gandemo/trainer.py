"""One run: its book-keeping (history, divergence, lone moves) and what is shown of it.

The training itself is ``engine.Stack`` (one code path for one or K variants): a ``Trainer``
owns a stack of one, or is attached to row ``row`` of a shared stack by ``compare.Comparison``.
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

import numpy as np
import torch
from torch import Tensor

from . import metrics as M
from .config import ConfigError, RunConfig
from .engine import STEP_VALUES, Stack
from .nets import sample_noise
from .snapshot import History, Snapshot

DISPLAY_SAMPLES = 300  # samples drawn in a frame
GRID_POINTS = {1: 400, 2: 64}  # grid per axis for densities and D(x)
DSTAR_MIN_MASS = 1e-3  # D* = p_r/(p_r+p_g) is drawn only where p_r+p_g > this share of its max
PLAYERS = ("d", "g")  # lone moves: one update of D alone, one update of G alone
# History columns of a run that made lone moves: the lone D / G updates made before each row.
MOVE_COLUMNS = ("d_moves", "g_moves")


class Trainer:
    """One variant: its history and display; its networks are row ``row`` of ``stack``."""

    def __init__(self, cfg: RunConfig, stack: Stack | None = None, row: int = 0):
        self.cfg = cfg
        self.stack, self.row = (stack, row) if stack is not None else (Stack([cfg]), 0)
        self.target = self.stack.targets[self.row]
        self.loss = self.stack.losses[self.row]
        self.real_label = 1.0 - cfg.label_smoothing
        dim = self.target.dim
        # fixed evaluation data: the same z and real samples at every measurement
        eval_gen = torch.Generator().manual_seed(cfg.seed + 3)
        self.z_eval = sample_noise(cfg.noise, cfg.eval_samples, cfg.noise_dim, eval_gen)
        self.real_eval = self.target.sample(np.random.default_rng(cfg.seed + 3), cfg.eval_samples)
        # minibatch discrimination: the displayed D(x) scores x inside a batch of B − 1 fixed fakes
        self.z_context = None
        if cfg.minibatch_disc:
            ctx_gen = torch.Generator().manual_seed(cfg.seed + 4)
            self.z_context = sample_noise(cfg.noise, cfg.batch - 1, cfg.noise_dim, ctx_gen)
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
        self.wall_s = 0.0

    # --- state --------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.diverged_at is not None or self.step_count >= self.cfg.steps

    @property
    def status(self) -> str:
        if self.diverged_at is not None:
            return f"diverged at step {self.diverged_at}"
        return "finished" if self.done else "ready"

    def generate(self, z: Tensor) -> Tensor:
        """G(z) for noise z (N, noise_dim), no graph."""
        return self.stack.generate(self.row, z)

    def weights(self, net: str) -> dict[str, Tensor]:
        """This variant's parameters of G ("g") or D ("d") by name (W0, b0, …), as views of the
        stack's storage (no grad; writing to them changes the network)."""
        params = (self.stack.G if net == "g" else self.stack.D).params
        return {n: v[0] for n, v in params.rows(slice(self.row, self.row + 1)).items()}

    def critic(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Raw D(x) logits (N,) of points (N, dim), no graph (``context``: see Stack.critic)."""
        return self.stack.critic(self.row, x, context)

    # --- one iteration ----------------------------------------------------------------------
    def step(self) -> dict[str, float] | None:
        """One iteration (k D steps, one G step) of a run that owns its stack. Returns the
        history row if one was logged."""
        if self.done:
            return None
        t0 = time.perf_counter()
        values = self.stack.step()[self.row]
        return self.record_step(values, time.perf_counter() - t0)

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
            raise ConfigError("player", f"one of {PLAYERS} (one D or one G update); "
                                        f"got {player!r}")
        if self.done:
            return None
        t0 = time.perf_counter()
        loss, penalty, norm = self.stack.lone_move(player)
        self.wall_s += time.perf_counter() - t0
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
        variants of a shared stack. Returns the history row if one was logged."""
        self.step_count += 1
        self.wall_s += seconds
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
        row.update(step=self.step_count, wall_s=self.wall_s)
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
            fake = self.generate(self.z_eval).numpy()
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

    def _d_on_grid(self) -> np.ndarray:
        """The displayed D(x) = output(D(x)) at every grid point, flat. With minibatch
        discrimination each point x is scored as a member of a batch of fakes, {x} ∪ G(z_context)
        (B − 1 fixed evaluation draws), as D scores a generated sample in training; chunked, so
        time and memory grow with grid size × B, not grid size². Spectral norm uses its stored
        power-iteration vectors (nothing advances, nothing is drawn from the training streams)."""
        context = None if self.z_context is None else self.generate(self.z_context)
        return self.loss.output(self.critic(self.grid_points, context)).numpy()

    def _push(self, n: int) -> np.ndarray:
        """−∇ₓ L_G at the first n evaluation fakes (scaled by n): the direction each sample is
        pushed by the generator's loss (zero everywhere means a vanishing gradient). Real samples
        (feature matching, losses that read them) are the first n evaluation reals."""
        x = self.generate(self.z_eval[:n]).requires_grad_()
        loss = self.stack.g_objective(self.row, x, torch.from_numpy(self.real_eval[:n]))
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
