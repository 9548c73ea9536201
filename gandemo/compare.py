"""Several variants of one experiment trained side by side, fast: the stacked engine.

Every variant gets its own ``Trainer`` (same seed -> same initial generator, same data stream);
only the loss and the discriminator's strength usually differ. ``Comparison.step()`` advances each
unfinished variant by one iteration (k D steps, one G step) with exactly the numbers that
``Trainer.step()`` would produce for it alone (up to float rounding), but variants whose networks
have the same shapes are trained *together*:

* **Stacking.** Variants with the same ``stack_key`` (data dim, noise dim, G and D width/depth,
  activation, batch, k, optimizer kinds, whether each learning rate is > 0) form a group of K.
  The Linear layers of their K generators live in one (K, P_G) tensor and those of their K
  discriminators in one (K, P_D) tensor; each layer is a (K, in, out) view, so a forward pass is
  one ``baddbmm`` per layer for all K variants, and one backward gives all K gradients (the sum
  of the K losses has ∂/∂θ_i = ∇L_i: the variants share no parameter). Each Trainer's own G and
  D parameters are *views* of its row, so ``snapshot()``, ``measure()`` and the history (logged by
  ``Trainer.record_step`` exactly as ``Trainer.step`` logs it) always show the stacked weights.
* **Per-variant everything else.** Each variant keeps its loss (evaluated once per run of equal
  objective functions over its rows of the (K, B) logits, see ``stacked_loss``), its optimizer
  hyperparameters (lr, β₁, β₂ as (K, 1) columns of one Adam/RMSProp/SGD update on the flat
  (K, P) tensors, replicating torch.optim's formulas), weight clipping c, gradient penalty λ
  (computed on the subset of rows with λ > 0), R1 γ, label smoothing, instance noise σ(t), noise
  prior, target (same dim), steps, log_every and eval_samples.
* **Same random numbers.** Real batches, z, instance noise and the GP's ε come from each
  variant's own Trainer streams (``rng``, ``noise_gen``) in the order ``Trainer.step`` draws them,
  so stacked and solo runs see identical batches and end with identical generator states. Rows
  whose streams are provably the same (equal generator states and consumption pattern: the same
  seed, as in every comparison) draw once; the others' generators are then set to that state.
* **Divergence.** A variant whose D loss/gradient turns non-finite skips its remaining D steps
  and its G step in that iteration (its rows are restored afterwards, as if it had stopped), is
  marked "diverged at step N" by ``record_step`` and leaves its group; the others go on.
* **Fallback.** Variants that cannot be stacked — spectral norm, minibatch discrimination, VBN,
  unrolled D, feature matching, historical averaging (see ``solo_reason``) — and variants whose
  key no other variant shares are trained in turn with plain ``Trainer.step()`` in the same
  object. Different k therefore means different groups (no masking: a k=20 variant would make a
  k=1 variant's rows compute 19 wasted D steps).

Precision: a batched matmul may round differently from ``nn.Linear``'s (other BLAS paths), so
stacked and solo weights agree to float tolerance (~1e-7 after tens of steps), not bit for bit.
Sums that cancel exactly are kept exact (D sees the real and the fake batch in separate passes,
as in Trainer), because Adam turns a rounding residue into a whole ±lr step. RaGAN's D loss is
invariant to a common shift of the logits, so its gradient along that shift is pure residue:
with Adam/RMSProp a few RaGAN D weights (output bias, biases of always-active units) follow a
different rounding walk stacked than solo, while G, the losses and metrics still agree closely.

The trainers' own torch optimizers are not used for stacked variants (their state stays empty;
the stacked optimizer state lives in the group), so do not call ``trainers[i].step()`` on a
stacked variant. A group stays stacked until all its members are done (a group of one then still
runs stacked, keeping its optimizer state). Run with ``torch.set_num_threads(1)`` as the server
and the benches do: small batched matmuls split over busy cores mostly wait.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .config import RunConfig
from .losses import LOSSES
from .naming import variant_names
from .targets import get_target
from .trainer import RMSPROP_ALPHA, STEP_VALUES, Trainer

# Discriminator strength ladder: named levels -> the concrete knobs they set.
STRENGTHS = {
    "weak": {"d_steps": 1, "d_width": 16, "lr_ratio": 0.5},
    "balanced": {"d_steps": 1, "d_width": 64, "lr_ratio": 1.0},
    "strong": {"d_steps": 5, "d_width": 64, "lr_ratio": 2.0},
    "overwhelming": {"d_steps": 20, "d_width": 128, "lr_ratio": 4.0},
}


def apply_strength(cfg: RunConfig, level: str) -> RunConfig:
    """Set k, D's width and lr_D = lr_ratio · lr_G for a named strength level."""
    s = STRENGTHS[level]
    return cfg.with_(d_steps=s["d_steps"], d_width=s["d_width"],
                     lr_d=min(1.0, cfg.lr_g * s["lr_ratio"]))


# --------------------------------------------------------------------------------------------
# What can be stacked.

# Settings the stacked engine does not implement (their variants run with Trainer.step).
UNSTACKABLE = {
    "spectral_norm": "spectral normalization (power iteration per layer)",
    "minibatch_disc": "minibatch discrimination (a non-MLP layer)",
    "vbn": "virtual batch normalization in G",
    "unrolled": "unrolled D steps in the G update",
    "feature_matching": "feature matching (G objective on D's features)",
    "historical_avg": "historical averaging",
}


def solo_reason(cfg: RunConfig) -> str | None:
    """Why this variant cannot be stacked (None if it can)."""
    for name, why in UNSTACKABLE.items():
        if getattr(cfg, name):
            return why
    return None


def stack_key(cfg: RunConfig) -> tuple | None:
    """Variants with equal keys train stacked together; None: this variant runs alone."""
    if solo_reason(cfg) is not None:
        return None
    return (get_target(cfg.target).dim, cfg.noise_dim, cfg.g_width, cfg.g_depth, cfg.d_width,
            cfg.d_depth, cfg.activation, cfg.batch, cfg.d_steps, cfg.opt_g, cfg.opt_d,
            cfg.lr_g > 0, cfg.lr_d > 0)


# --------------------------------------------------------------------------------------------
# Losses on stacked logits.

_MEANS = frozenset({torch.Tensor.mean, torch.mean})


class _RowMeans(TorchFunctionMode):
    """Inside this mode a full reduction ``x.mean()`` / ``torch.mean(x)`` averages the last axis
    only (keepdim), so a registry objective written for (B,) logits evaluates every row of (K, B)
    logits at once and returns (K, 1). Everything else runs unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _MEANS and len(args) == 1 and not kwargs:
            return func(args[0], -1, keepdim=True)
        return func(*args, **(kwargs or {}))


_ROWWISE_OK: dict[tuple, bool] = {}


def _rowwise_is_exact(fn: Callable, extra: tuple) -> bool:
    """Does ``fn`` under ``_RowMeans`` equal ``fn`` row by row? (Checked once per objective: an
    objective written with sums or explicit dims would not; it then runs row by row.)"""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 17, generator=gen, dtype=torch.float64) * 2
    try:
        with _RowMeans():
            out = fn(a, b, *extra)
        ref = torch.stack([fn(a[i], b[i], *extra) for i in range(3)])
        return out.shape == (3, 1) and torch.allclose(out.view(-1), ref, rtol=1e-12, atol=1e-12)
    except Exception:  # noqa: BLE001 - any failure means: use the row-by-row path
        return False


def stacked_loss(fn: Callable, first: Tensor, second: Tensor | None, *extra) -> Tensor:
    """``fn(first[i], second[i], *extra)`` for every row i of (K, B) logits, as a (K,) tensor:
    one evaluation of the registry objective with row means when that is exact, else a loop."""
    key = (fn, extra)
    ok = _ROWWISE_OK.get(key)
    if ok is None:
        ok = _ROWWISE_OK[key] = _rowwise_is_exact(fn, extra)
    if ok:
        with _RowMeans():
            return fn(first, second, *extra).view(-1)
    return torch.stack([fn(first[i], None if second is None else second[i], *extra)
                        for i in range(len(first))])


# --------------------------------------------------------------------------------------------
# Stacked networks and optimizers.

# The (K, P) rows give every leaf a strided gradient view; AccumulateGrad adds into it in place
# as intended and only warns that this layout may be slower.
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout")

# In place on the fresh output of a layer (baddbmm/addcmul do not keep their output for backward).
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu_,
    "leaky_relu": partial(F.leaky_relu_, negative_slope=0.2),  # as nets.ACTIVATION_LAYERS
    "tanh": torch.tanh_,
    "elu": F.elu_,
}


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


class _StackedNet:
    """The Linear layers of K MLPs of one shape in a (K, P) tensor ``flat`` (row i: W₁, b₁, W₂, …
    of variant i, flattened) and its gradient buffer ``grad``. Per layer, (K, in, out) weights
    (W transposed) and (K, 1, out) biases: ``leaves`` (requiring grad; their ``.grad`` are views
    of ``grad``, so one backward fills ``grad``) and ``views`` (no grad). Each module's
    parameters are re-pointed to views of its row, so the modules always hold the current weights.

    A layer is one ``baddbmm`` for all K variants, except a layer with a single input (D's first
    layer on 1D data): ``addcmul`` b + x·w, which rounds like nn.Linear's addmm there."""

    def __init__(self, modules: Sequence[nn.Module], activation: str, flat: Tensor | None = None):
        per_module = [_linears(m) for m in modules]
        for m, lins in zip(modules, per_module, strict=True):
            owned = {id(p) for lin in lins for p in lin.parameters()}
            if owned != {id(p) for p in m.parameters()}:
                raise ValueError("only plain MLPs (Linear layers and activations) can be stacked")
        self.shapes = [(lin.out_features, lin.in_features) for lin in per_module[0]]
        K, P = len(modules), sum(o * i + o for o, i in self.shapes)
        if flat is None:
            flat = torch.cat([torch.cat([p.detach().reshape(-1) for lin in lins
                                         for p in (lin.weight, lin.bias)]) for lins in per_module])
            flat = flat.view(K, P)
        self.flat, self.grad, self.act = flat, torch.zeros_like(flat), _ACTIVATIONS[activation]
        self.outer = [i == 1 for _, i in self.shapes]
        self.leaves: list[tuple[Tensor, Tensor]] = []
        self.views: list[tuple[Tensor, Tensor]] = []
        off = 0
        for n, (o, i) in enumerate(self.shapes):
            w_at, b_at = slice(off, off + o * i), slice(off + o * i, off + o * i + o)

            def weight(t, w_at=w_at, o=o, i=i):
                return t[:, w_at].view(K, o, i).transpose(1, 2)

            def bias(t, b_at=b_at, o=o):
                return t[:, b_at].view(K, 1, o)

            w, b = weight(flat).requires_grad_(), bias(flat).requires_grad_()
            w.grad, b.grad = weight(self.grad), bias(self.grad)
            self.leaves.append((w, b))
            self.views.append((weight(flat), bias(flat)))
            for row, lins in enumerate(per_module):
                lins[n].weight.data = flat[row, w_at].view(o, i)
                lins[n].bias.data = flat[row, b_at]
            off += o * i + o

    def forward(self, x: Tensor, layers: Sequence[tuple[Tensor, Tensor]]) -> Tensor:
        """(K, N, in) -> (K, N, out) through ``layers`` (``leaves``, ``views`` or ``rows(...)``)."""
        last = len(layers) - 1
        for n, (w, b) in enumerate(layers):
            x = torch.addcmul(b, x, w) if self.outer[n] else torch.baddbmm(b, x, w)
            if n < last:
                x = self.act(x)
        return x

    def rows(self, at: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Differentiable leaves of the rows ``at`` (for penalties on a subset of variants)."""
        return [(w.index_select(0, at), b.index_select(0, at)) for w, b in self.leaves]


def _add_rows(total: Tensor, at: Tensor | None, values: Tensor) -> Tensor:
    """total + values on the rows ``at`` (all rows if None)."""
    return total + values if at is None else total.index_add(0, at, values)


def _column(values: Sequence[float]) -> Tensor:
    return torch.tensor(list(values), dtype=torch.float32).view(-1, 1)


class _StackedOptimizer:
    """One optimizer kind (as ``trainer.make_optimizer``) over the rows of a (K, P) tensor, with
    per-row hyperparameters; the arithmetic follows torch.optim's single-tensor code op by op
    (a Python-scalar factor becomes a float32 (K, 1) column: the same float32 value)."""

    def __init__(self, kind: str, lr: Sequence[float], beta1: Sequence[float],
                 beta2: Sequence[float], shape: tuple[int, int], state: dict | None = None):
        self.kind, self.lr, self.beta1, self.beta2 = kind, list(lr), list(beta1), list(beta2)
        self.shape = shape
        zeros = partial(torch.zeros, shape)
        if kind == "adam":
            self.one_minus_b1 = _column(1 - b for b in beta1)
            self.b2, self.one_minus_b2 = _column(beta2), _column(1 - b for b in beta2)
            self.state = state or {"t": 0, "m": zeros(), "v": zeros()}
        elif kind == "rmsprop":  # α fixed as in trainer.make_optimizer (β₂ unused)
            self.alpha = _column([RMSPROP_ALPHA] * len(lr))
            self.one_minus_alpha = _column([1 - RMSPROP_ALPHA] * len(lr))
            self.neg_lr = _column(-x for x in lr)
            self.state = state or {"t": 0, "sq": zeros()}
        else:  # sgd with momentum β₁ (a zero buffer is exact: 0·β + g = g, torch's first step)
            self.momentum = _column(beta1) if any(beta1) else None
            self.neg_lr = _column(-x for x in lr)
            self.state = state or {"t": 0, "buf": zeros()}

    def subset(self, keep: list[int]) -> _StackedOptimizer:
        """The optimizer of the rows ``keep`` (their state carried over)."""
        at = torch.tensor(keep)
        state = {k: v.index_select(0, at) if isinstance(v, Tensor) else v
                 for k, v in self.state.items()}
        return _StackedOptimizer(self.kind, *([xs[i] for i in keep]
                                              for xs in (self.lr, self.beta1, self.beta2)),
                                 (len(keep), self.shape[1]), state)

    @torch.no_grad()
    def step(self, p: Tensor, g: Tensor) -> None:
        s = self.state
        s["t"] += 1
        if self.kind == "adam":
            t = float(s["t"])
            neg_step = [-lr / (1 - b1**t) for lr, b1 in zip(self.lr, self.beta1)]
            bc2_sqrt = [(1 - b2**t) ** 0.5 for b2 in self.beta2]
            coef = torch.tensor([neg_step, bc2_sqrt], dtype=torch.float32).unsqueeze(-1)
            s["m"].lerp_(g, self.one_minus_b1)
            s["v"].mul_(self.b2).addcmul_(g * self.one_minus_b2, g)
            denom = (s["v"].sqrt() / coef[1]).add_(1e-8)
            p.addcdiv_(s["m"] * coef[0], denom)
        elif self.kind == "rmsprop":
            s["sq"].mul_(self.alpha).addcmul_(g * self.one_minus_alpha, g)
            p.addcdiv_(g * self.neg_lr, s["sq"].sqrt().add_(1e-8))
        elif self.momentum is None:
            p.addcmul_(g, self.neg_lr)
        else:
            s["buf"].mul_(self.momentum).add_(g)
            p.addcmul_(s["buf"], self.neg_lr)


def _runs(keys: Sequence) -> list[tuple[int, int]]:
    """(start, stop) of the maximal runs of equal consecutive keys."""
    out, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i))
            start = i
    return out


_LOSS_RANK = {name: n for n, name in enumerate(LOSSES)}


class _Group:
    """K stackable variants trained together (see the module docstring)."""

    def __init__(self, trainers: Sequence[Trainer], nets: tuple[_StackedNet, _StackedNet],
                 opts: tuple[_StackedOptimizer, _StackedOptimizer]):
        self.trainers = ts = list(trainers)
        cfg = ts[0].cfg
        self.K, self.B, self.k, self.dim = len(ts), cfg.batch, cfg.d_steps, ts[0].target.dim
        self.G, self.D = nets
        self.opt_g, self.opt_d = opts
        self.train_g, self.train_d = cfg.lr_g > 0, cfg.lr_d > 0
        self.d_runs = [(a, b, ts[a].loss.d_loss, ts[a].real_label)
                       for a, b in _runs([(t.loss.d_loss, t.real_label) for t in ts])]
        self.g_runs = [(a, b, ts[a].loss.g_loss, ts[a].loss.g_uses_real)
                       for a, b in _runs([t.loss.g_loss for t in ts])]
        self.uses_real = [t.loss.g_uses_real for t in ts]
        self.noisy = any(t.cfg.instance_noise for t in ts)
        self.gp = [t.gp for t in ts]
        self.r1 = [0.5 * t.cfg.r1_gamma for t in ts]  # Trainer: 0.5 * γ * r1_penalty
        self.gp_rows = self._penalty_rows(self.gp)
        self.r1_rows = self._penalty_rows(self.r1)
        self._zero_z = torch.zeros(self.B, cfg.noise_dim)
        self._zero_x = torch.zeros(self.B, self.dim)
        self._zero_e = torch.zeros(self.B, 1)
        self.streams = self._find_streams()
        clips = [t.clip for t in ts]
        self.clip = _column(c if c else math.inf for c in clips) if any(clips) else None

    @classmethod
    def build(cls, trainers: Sequence[Trainer]) -> _Group:
        """A fresh group: weights from the trainers' modules, zero optimizer state. Rows are
        ordered so that equal objectives form contiguous runs (one evaluation per run)."""
        first: dict[tuple, int] = {}
        for t in trainers:
            first.setdefault(("d", t.loss.d_loss), _LOSS_RANK[t.loss.name])
            first.setdefault(("g", t.loss.g_loss), _LOSS_RANK[t.loss.name])
        ts = sorted(trainers, key=lambda t: (first["d", t.loss.d_loss], t.real_label,
                                             first["g", t.loss.g_loss]))
        cfg = ts[0].cfg
        nets = (_StackedNet([t.G for t in ts], cfg.activation),
                _StackedNet([t.D for t in ts], cfg.activation))
        betas = [t.cfg.beta1 for t in ts], [t.cfg.beta2 for t in ts]
        opts = (_StackedOptimizer(cfg.opt_g, [t.cfg.lr_g for t in ts], *betas,
                                  tuple(nets[0].flat.shape)),
                _StackedOptimizer(cfg.opt_d, [t.cfg.lr_d for t in ts], *betas,
                                  tuple(nets[1].flat.shape)))
        return cls(ts, nets, opts)

    @staticmethod
    def _penalty_rows(weights: list[float]) -> tuple[Tensor | None, Tensor] | None:
        """(index of the rows with a penalty, None if all; their weights), None if no row has
        one. The penalty is computed on those rows only (their D leaves are index-selected)."""
        rows = [i for i, w in enumerate(weights) if w]
        if not rows:
            return None
        w = torch.tensor([weights[i] for i in rows], dtype=torch.float32)
        return (None if len(rows) == len(weights) else torch.tensor(rows)), w

    def without(self, gone: Sequence[bool]) -> _Group:
        """The group of the members not in ``gone`` (weights and optimizer state carried over;
        the members that leave keep their final weights in the old storage)."""
        keep = [i for i, g in enumerate(gone) if not g]
        idx = torch.tensor(keep)
        ts = [self.trainers[i] for i in keep]
        act = ts[0].cfg.activation
        nets = (_StackedNet([t.G for t in ts], act, self.G.flat.index_select(0, idx)),
                _StackedNet([t.D for t in ts], act, self.D.flat.index_select(0, idx)))
        return _Group(ts, nets, (self.opt_g.subset(keep), self.opt_d.subset(keep)))

    # --- random numbers ---------------------------------------------------------------------
    def _find_streams(self) -> list[list[int]]:
        """Rows whose random numbers are the same: equal consumption pattern (target, prior,
        instance noise schedule, GP ε, G reading real data) and equal generator states now
        (same seed: the usual case). Each stream is drawn once, by its first live row, and the
        others' generators are set to that row's state after each step (as if they had drawn)."""
        def pattern(t: Trainer) -> tuple:
            c = t.cfg
            return (c.target, c.noise, c.instance_noise, c.noise_anneal, bool(t.gp),
                    t.loss.g_uses_real)

        streams: list[list[int]] = []
        for i, t in enumerate(self.trainers):
            for rows in streams:
                u = self.trainers[rows[0]]
                if (pattern(t) == pattern(u)
                        and torch.equal(t.noise_gen.get_state(), u.noise_gen.get_state())
                        and t.rng.bit_generator.state == u.rng.bit_generator.state):
                    rows.append(i)
                    break
            else:
                streams.append([i])
        return streams

    def _sync_streams(self, active: list[bool]) -> None:
        """Give the live rows of each stream the generator states of the row that drew for it."""
        for rows in self.streams:
            live = [self.trainers[i] for i in rows if active[i]]
            if len(live) > 1:
                torch_state = live[0].noise_gen.get_state()
                np_state = live[0].rng.bit_generator.state
                for t in live[1:]:
                    t.noise_gen.set_state(torch_state)
                    t.rng.bit_generator.state = np_state

    def _draw_d(self, active: list[bool], sigma: list[float]):
        """Trainer._d_step's draws for each live row, in its order: z; real batch (rng);
        instance noise for real, for fake; GP's ε. Stopped rows get zeros (no draws)."""
        B, dim = self.B, self.dim
        zs, reals = [self._zero_z] * self.K, [self._zero_x] * self.K
        noise_r, noise_f = [self._zero_x] * self.K, [self._zero_x] * self.K
        eps = [self._zero_e] * self.K
        for rows in self.streams:
            live = [i for i in rows if active[i]]
            if not live:
                continue
            t = self.trainers[live[0]]
            z = t.G.sample_noise(B, t.noise_gen)
            real = torch.from_numpy(t.target.sample(t.rng, B))
            n_r = n_f = e = None
            if sigma[live[0]]:
                n_r = torch.randn((B, dim), generator=t.noise_gen)
                n_f = torch.randn((B, dim), generator=t.noise_gen)
            if self.gp[live[0]]:
                e = torch.rand((B, 1), generator=t.noise_gen)
            for i in live:
                zs[i], reals[i] = z, real
                if n_r is not None:
                    noise_r[i], noise_f[i] = n_r, n_f
                if e is not None:
                    eps[i] = e
        return zs, reals, noise_r, noise_f, eps

    def _draw_g(self, active: list[bool], sigma: list[float]):
        """Trainer._g_step's draws for each live row, in its order: z; instance noise for the
        fakes; if G reads real data: a real batch (rng) and its instance noise."""
        B, dim = self.B, self.dim
        zs, noise_in = [self._zero_z] * self.K, [self._zero_x] * self.K
        reals, noise_r = [self._zero_x] * self.K, [self._zero_x] * self.K
        for rows in self.streams:
            live = [i for i in rows if active[i]]
            if not live:
                continue
            t = self.trainers[live[0]]
            z = t.G.sample_noise(B, t.noise_gen)
            noisy = bool(sigma[live[0]])
            n_in = torch.randn((B, dim), generator=t.noise_gen) if noisy else None
            real = n_r = None
            if self.uses_real[live[0]]:
                real = torch.from_numpy(t.target.sample(t.rng, B))
                n_r = torch.randn((B, dim), generator=t.noise_gen) if noisy else None
            for i in live:
                zs[i] = z
                if n_in is not None:
                    noise_in[i] = n_in
                if real is not None:
                    reals[i] = real
                if n_r is not None:
                    noise_r[i] = n_r
        return zs, noise_in, reals, noise_r

    # --- one iteration ----------------------------------------------------------------------
    def step(self) -> None:
        t0 = time.perf_counter()
        K, ts = self.K, self.trainers
        active = [True] * K
        sigma = [t.instance_sigma() for t in ts]
        values = np.full((K, len(STEP_VALUES)), math.nan)  # as Trainer.step reports them
        col = {name: n for n, name in enumerate(STEP_VALUES)}
        held: dict[int, tuple[Tensor, Tensor]] = {}
        for _ in range(self.k):
            d_loss, d_pen, d_norm = torch.stack(self._d_step(active, sigma)).tolist()
            stopped = []
            for i in range(K):
                if active[i]:
                    values[i, col["d_loss"]], values[i, col["d_grad_norm"]] = d_loss[i], d_norm[i]
                    values[i, col["d_penalty"]] = d_pen[i]
                    if not math.isfinite(d_loss[i] + d_pen[i] + d_norm[i]):  # stops, as Trainer
                        stopped.append(i)
                        held[i] = (self.D.flat[i].clone(), self.G.flat[i].clone())
            if stopped:
                self._sync_streams(active)  # each row's generators as they are at its stop
                for i in stopped:
                    active[i] = False
                if not any(active):
                    break
        if any(active):
            g_loss, g_norm, x_norm = torch.stack(self._g_step(active, sigma)).tolist()
            for i in range(K):
                if active[i]:
                    values[i, [col["g_loss"], col["g_grad_norm"], col["x_grad_norm"]]] = \
                        g_loss[i], g_norm[i], x_norm[i] * self.B
                    values[i, col["g_penalty"]] = 0.0  # no historical averaging when stacked
        self._sync_streams(active)
        with torch.no_grad():
            for i, (d, g) in held.items():
                self.D.flat[i] = d
                self.G.flat[i] = g
        seconds = time.perf_counter() - t0
        for t, row in zip(ts, values, strict=True):
            t.record_step(row, seconds)

    def _sigma(self, sigma: list[float]) -> Tensor:
        return torch.tensor(sigma, dtype=torch.float32).view(-1, 1, 1)

    def _d_step(self, active: list[bool], sigma: list[float]) -> tuple[Tensor, Tensor, Tensor]:
        """One D update of every row (Trainer._d_step on each, with the same random numbers):
        (K,) plain D losses, penalties and gradient norms. Clipping as Trainer: before the
        critic pass and after the update."""
        B = self.B
        if self.clip is not None:
            with torch.no_grad():
                self.D.flat.clamp_(min=-self.clip, max=self.clip)
        zs, reals, noise_r, noise_f, eps = self._draw_d(active, sigma)
        x_r = torch.stack(reals)
        with torch.no_grad():
            x_f = self.G.forward(torch.stack(zs), self.G.views)
        if self.noisy:
            s = self._sigma(sigma)
            x_r = x_r + s * torch.stack(noise_r)
            x_f = x_f + s * torch.stack(noise_f)
        # D on the real and on the fake batch separately, as Trainer does: one forward over both
        # would sum the bias gradients in another order, and Adam turns the rounding residue of
        # gradients that cancel exactly (e.g. a critic's always-active unit) into whole steps
        l_r = self.D.forward(x_r, self.D.leaves).view(self.K, B)
        l_f = self.D.forward(x_f, self.D.leaves).view(self.K, B)
        parts = [stacked_loss(fn, l_r[a:b], l_f[a:b], label) for a, b, fn, label in self.d_runs]
        loss = plain = parts[0] if len(parts) == 1 else torch.cat(parts)
        penalty = torch.zeros(self.K)
        if self.gp_rows is not None:
            at, lam = self.gp_rows
            e = torch.stack(eps) if at is None else torch.stack([eps[i] for i in at.tolist()])
            xr, xf = (x_r, x_f) if at is None else (x_r[at], x_f[at])
            x_hat = e * xr + (1.0 - e) * xf
            grads = self._input_grads(x_hat, at)
            pen = lam * ((grads.norm(2, dim=2) - 1.0) ** 2).mean(1)
            loss, penalty = _add_rows(loss, at, pen), _add_rows(penalty, at, pen.detach())
        if self.r1_rows is not None:
            at, gamma = self.r1_rows
            grads = self._input_grads(x_r if at is None else x_r[at], at)
            pen = gamma * (grads**2).sum(dim=2).mean(1)
            loss, penalty = _add_rows(loss, at, pen), _add_rows(penalty, at, pen.detach())
        self.D.grad.zero_()
        loss.sum().backward()
        norm = torch.linalg.vector_norm(self.D.grad, dim=1)
        if self.train_d:
            self.opt_d.step(self.D.flat, self.D.grad)
            if self.clip is not None:
                with torch.no_grad():
                    self.D.flat.clamp_(min=-self.clip, max=self.clip)
        return plain.detach(), penalty, norm

    def _input_grads(self, x: Tensor, at: Tensor | None) -> Tensor:
        """Per-sample ∇ₓD(x) of the rows ``at`` (all if None), graph kept (losses._input_grads)."""
        x = x.detach().requires_grad_(True)
        layers = self.D.leaves if at is None else self.D.rows(at)
        (grad,) = torch.autograd.grad(self.D.forward(x, layers).sum(), x, create_graph=True)
        return grad.reshape(x.shape[0], x.shape[1], -1)

    def _g_step(self, active: list[bool], sigma: list[float]) -> tuple[Tensor, Tensor, Tensor]:
        """One G update of every row (Trainer._g_step on each, with the same random numbers)."""
        B = self.B
        any_real = any(self.uses_real)
        zs, noise_in, reals, noise_r = self._draw_g(active, sigma)
        x_f = self.G.forward(torch.stack(zs), self.G.leaves)
        x_f.retain_grad()
        x_in = x_f
        if self.noisy:
            s = self._sigma(sigma)
            x_in = x_f + s * torch.stack(noise_in)
        if any_real:
            x_r = torch.stack(reals)
            if self.noisy:
                x_r = x_r + s * torch.stack(noise_r)
        l_f = self.D.forward(x_in, self.D.views).view(self.K, B)
        l_r = self.D.forward(x_r, self.D.views).view(self.K, B) if any_real else None
        parts = [stacked_loss(fn, l_f[a:b], l_r[a:b] if real else None)
                 for a, b, fn, real in self.g_runs]
        loss = parts[0] if len(parts) == 1 else torch.cat(parts)
        self.G.grad.zero_()
        loss.sum().backward()
        norm = torch.linalg.vector_norm(self.G.grad, dim=1)
        x_norm = x_f.grad.norm(dim=2).mean(1)
        if self.train_g:
            self.opt_g.step(self.G.flat, self.G.grad)
        return loss.detach(), norm, x_norm


# --------------------------------------------------------------------------------------------


class Comparison:
    """Trains ``configs`` side by side: one ``step()`` = one iteration of every unfinished
    variant. Stackable variants sharing a ``stack_key`` train as one stacked group; the rest run
    in turn with ``Trainer.step()``. ``trainers[i]`` is variant i's Trainer, current whenever
    ``step()`` is not running (history, status, snapshot(), measure())."""

    def __init__(self, configs: Sequence[RunConfig], labels: Sequence[str] | None = None):
        self.configs: list[RunConfig] = list(configs)
        self.trainers: list[Trainer] = [Trainer(c) for c in self.configs]
        if labels is not None and (len(labels) != len(self.configs) or len(set(labels)) <
                                   len(labels)):
            raise ValueError("labels: one distinct name per variant")
        self.labels: list[str] = list(labels) if labels is not None else variant_names(
            self.configs)
        by_key: dict[tuple, list[int]] = {}
        for i, cfg in enumerate(self.configs):
            key = stack_key(cfg)
            if key is not None:
                by_key.setdefault(key, []).append(i)
        # variant indices of each stacked group (fixed at construction) and of the solo ones
        self.stacked_groups: list[list[int]] = [rows for rows in by_key.values() if len(rows) > 1]
        stacked = {i for rows in self.stacked_groups for i in rows}
        self.fallback: list[int] = [i for i in range(len(self.configs)) if i not in stacked]
        self._groups: list[_Group] = [_Group.build([self.trainers[i] for i in rows])
                                      for rows in self.stacked_groups]
        # how each variant is trained, in words (for a UI or a log line)
        self.engine: list[str] = [""] * len(self.configs)
        for rows in self.stacked_groups:
            for i in rows:
                self.engine[i] = f"stacked with {len(rows) - 1} other variant(s)"
        for i in self.fallback:
            why = solo_reason(self.configs[i])
            self.engine[i] = f"alone: {why}" if why else (
                "alone: no other variant has the same networks, batch, k and optimizers")

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers)

    def step(self) -> None:
        """One iteration (k D steps, one G step) of every unfinished variant; rows logged and
        divergence handled per variant exactly as ``Trainer.step`` does."""
        groups = []
        for group in self._groups:
            group.step()
            gone = [t.done for t in group.trainers]
            if not all(gone):
                groups.append(group.without(gone) if any(gone) else group)
        self._groups = groups
        for i in self.fallback:
            if not self.trainers[i].done:
                self.trainers[i].step()

    def run(self) -> None:
        while not self.done:
            self.step()
