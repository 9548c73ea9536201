"""One training step, written once, for K variants at a time (a single run is K = 1).

A ``Stack`` holds the generators and discriminators of K variants that share the network shapes,
batch, k, unrolling, which players train (lr > 0) and minibatch/VBN layers (``stack_key``);
every other setting is per variant: loss (one evaluation per run of equal objectives over its
rows of the (K, B) logits), optimizer kind, learning rates and β's, clipping c, gradient
penalty λ, R1 γ, label smoothing, instance noise σ(t), spectral norm, feature matching,
historical averaging, noise prior, target, seed. One iteration = k discriminator updates then
one generator update:

* D update: L_D(D(x_r), D(x_f)) + λ·GP + (γ/2)·R1 (+ historical averaging), real and fake in
  separate passes (minibatch features within each batch), clipping before the critic passes
  and after the update.
* G update: L_G(D(G(z))) or, with feature matching, ‖E f(x_r) − E f(G(z))‖²; with ``unrolled``
  U > 0 the critic is D after U differentiable SGD steps (Metz et al. 2017). With k = 1 and no
  unrolling the generator forward of the D update is reused for the G update (one G forward
  per iteration, as PyTorch's DCGAN example).

The Σ_k L_k of independent variants has ∂/∂θ_k = ∇L_k, so one backward trains all K.

Random numbers: variants with equal seed, target, noise prior, instance-noise schedule and
penalty share one ``Stream`` (a numpy generator for real batches, a torch generator for z, noise
and ε) and draw once per step; so K variants side by side see exactly the batches each would see
alone, and a variant's history does not depend on who it trains with (up to float rounding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .config import RunConfig
from .losses import LOSSES, Loss, get_loss, gradient_penalty, r1_penalty
from .nets import DiscriminatorNet, FlatParams, GeneratorNet, sample_noise
from .targets import Target, get_target

RMSPROP_ALPHA = 0.99  # RMSProp's decay of E[g²], as in the WGAN paper's code (torch's default)
# What one iteration reports per variant, in this order (history columns of these names).
STEP_VALUES = ("d_loss", "g_loss", "g_grad_norm", "d_grad_norm", "x_grad_norm", "d_penalty",
               "g_penalty")
_LOSS_RANK = {name: n for n, name in enumerate(LOSSES)}


def stack_key(cfg: RunConfig) -> tuple:
    """Variants with equal keys train in one ``Stack``: what fixes the shapes and the sequence of
    operations of a step."""
    return (get_target(cfg.target).dim, cfg.noise_dim, cfg.g_width, cfg.g_depth, cfg.d_width,
            cfg.d_depth, cfg.activation, cfg.batch, cfg.d_steps, cfg.unrolled, cfg.lr_g > 0,
            cfg.lr_d > 0, cfg.minibatch_disc, cfg.vbn)


def stack_order(cfgs: Sequence[RunConfig]) -> list[int]:
    """Indices of ``cfgs`` in the order that makes equal objectives contiguous rows."""
    def rank(i: int) -> tuple:
        c = cfgs[i]
        return _LOSS_RANK[c.loss], c.label_smoothing, c.feature_matching
    return sorted(range(len(cfgs)), key=rank)


def _column(values: Sequence[float], dims: int = 2) -> Tensor:
    """(K, 1, …) float32 column of per-variant values, to broadcast over rows."""
    return torch.tensor(list(values), dtype=torch.float32).view(-1, *([1] * (dims - 1)))


OPTIMIZERS = ("adam", "rmsprop", "sgd")


class StackedOptimizer:
    """Adam(lr, (β₁, β₂)), RMSProp(lr, α = 0.99) or SGD(lr, momentum β₁) over the flat
    parameters of K variants, each with its own kind, lr and β's; the arithmetic follows
    torch.optim's single-tensor code op by op. Variants of different kinds share one stack:
    each kind present updates every row, with a learning rate of 0 on the rows of the other
    kinds (it adds exactly 0 there). Hand-written because torch.optim keeps one set of
    hyperparameters per tensor: K variants would need K tensors per layer and lose the batched
    matmuls. On one flat tensor it is also cheaper than torch.optim.Adam(foreach) over a
    network's tensors (bench/engine_bench.py measures both)."""

    def __init__(self, kinds: str | Sequence[str], lr: Sequence[float], beta1: Sequence[float],
                 beta2: Sequence[float], params: FlatParams, state: dict | None = None):
        self.kinds = [kinds] * len(lr) if isinstance(kinds, str) else list(kinds)
        self.lr, self.beta1, self.beta2 = list(lr), list(beta1), list(beta2)
        self.params = params
        full = params.per_row
        self.present = [k for k in OPTIMIZERS if k in self.kinds]
        own = {kind: [x if k == kind else 0.0 for x, k in zip(self.lr, self.kinds, strict=True)]
               for kind in self.present}
        self.state = state or {"t": 0}
        zeros = torch.zeros_like(params.flat)
        if "adam" in own:
            self.adam_lrs = own["adam"]
            self.adam_lr = full(own["adam"])
            self.one_minus_b1 = full([1 - b for b in beta1])
            self.b2, self.one_minus_b2 = full(beta2), full([1 - b for b in beta2])
            # equal β's (as in every comparison of one experiment): scalar bias corrections
            adam = [i for i, k in enumerate(self.kinds) if k == "adam"]
            self.uniform_betas = (len({self.beta1[i] for i in adam}) == 1
                                  and len({self.beta2[i] for i in adam}) == 1)
            self.adam_betas = self.beta1[adam[0]], self.beta2[adam[0]]
            self.state.setdefault("m", zeros.clone())
            self.state.setdefault("v", zeros.clone())
        if "rmsprop" in own:
            self.rmsprop_neg_lr = full([-x for x in own["rmsprop"]])
            self.state.setdefault("sq", zeros.clone())
        if "sgd" in own:  # a zero momentum buffer is exact: 0·β + g = g, torch's first step
            self.momentum = full(beta1) if any(
                b for b, k in zip(beta1, self.kinds) if k == "sgd") else None
            self.sgd_neg_lr = full([-x for x in own["sgd"]])
            self.state.setdefault("buf", zeros.clone())

    def subset(self, at: Tensor, params: FlatParams) -> StackedOptimizer:
        """The optimizer of the rows ``at`` (their state carried over) for ``params``, the
        parameters of those rows."""
        keep = at.tolist()
        state = {k: self.params.take(v, at) if isinstance(v, Tensor) else v
                 for k, v in self.state.items()}
        return StackedOptimizer(*([xs[i] for i in keep] for xs in
                                  (self.kinds, self.lr, self.beta1, self.beta2)),
                                params, state)

    @torch.no_grad()
    def step(self, p: Tensor, g: Tensor) -> None:
        s = self.state
        s["t"] += 1
        if "adam" in self.present:
            self._adam(p, g, float(s["t"]))
        if "rmsprop" in self.present:
            s["sq"].mul_(RMSPROP_ALPHA).addcmul_(g * (1 - RMSPROP_ALPHA), g)
            p.addcdiv_(g * self.rmsprop_neg_lr, s["sq"].sqrt().add_(1e-8))
        if "sgd" in self.present:
            if self.momentum is None:
                p.add_(g * self.sgd_neg_lr)
            else:
                s["buf"].mul_(self.momentum).add_(g)
                p.add_(s["buf"] * self.sgd_neg_lr)

    def _adam(self, p: Tensor, g: Tensor, t: float) -> None:
        s = self.state
        s["m"].lerp_(g, self.one_minus_b1)
        s["v"].mul_(self.b2).addcmul_(g * self.one_minus_b2, g)
        if self.uniform_betas:
            b1, b2 = self.adam_betas
            denom = (s["v"].sqrt() / (1 - b2**t) ** 0.5).add_(1e-8)
            if isinstance(self.adam_lr, float):  # torch.optim's own expression
                p.addcdiv_(s["m"], denom, value=-self.adam_lr / (1 - b1**t))
            else:
                p.addcdiv_(s["m"] * self.adam_lr, denom, value=-1 / (1 - b1**t))
            return
        neg_step = [-lr / (1 - b1**t) for lr, b1 in zip(self.adam_lrs, self.beta1)]
        bc2_sqrt = [(1 - b2**t) ** 0.5 for b2 in self.beta2]
        denom = (s["v"].sqrt() / self.params.per_row(bc2_sqrt)).add_(1e-8)
        p.addcdiv_(s["m"] * self.params.per_row(neg_step), denom)


class HistoricalAverage:
    """θ̄_t = (1/t)·Σ θ_i per variant; penalty λ‖θ − θ̄‖² with gradient 2λ(θ − θ̄) (added to the
    gradient buffer directly: the same numbers as through autograd, without a graph)."""

    def __init__(self, params: FlatParams, lam: Sequence[float], avg: Tensor | None = None,
                 t: int = 1):
        self.params, self.lam = params, list(lam)
        self.lam_full = params.per_row(self.lam)
        self.avg = params.flat.detach().clone() if avg is None else avg
        self.t = t

    def subset(self, at: Tensor, params: FlatParams) -> HistoricalAverage:
        return HistoricalAverage(params, [self.lam[i] for i in at.tolist()],
                                 self.params.take(self.avg, at), self.t)

    @torch.no_grad()
    def add_to(self, grad: Tensor) -> Tensor:
        """grad += 2λ(θ − θ̄); returns the penalties λ‖θ − θ̄‖² (K,)."""
        diff = self.params.flat - self.avg
        grad.add_(diff * (2 * self.lam_full))
        return self.params.row_sums(diff * diff) * torch.tensor(self.lam)

    @torch.no_grad()
    def update(self) -> None:
        self.t += 1
        self.avg.add_((self.params.flat - self.avg) / self.t)


@dataclass
class Stream:
    """The random numbers of one or more variants: ``rng`` for real batches, ``gen`` for z,
    instance noise and the gradient penalty's ε."""

    rng: np.random.Generator
    gen: torch.Generator
    target: Target
    prior: str
    noisy: bool  # draws instance noise (σ₀ > 0)
    gp: bool  # draws ε for the gradient penalty


def _stream_key(cfg: RunConfig) -> tuple:
    return (cfg.seed, cfg.target, cfg.data, cfg.noise, cfg.instance_noise, cfg.noise_anneal,
            cfg.effective_gp() > 0)


def _runs(keys: Sequence) -> list[tuple[int, int]]:
    """(start, stop) of the maximal runs of equal consecutive keys."""
    out, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i))
            start = i
    return out


class Stack:
    """K variants of one ``stack_key`` trained by one code path (see the module docstring).
    ``step()`` returns each variant's STEP_VALUES; the networks are ``G``/``D`` (parameters as
    (K, …) views of flat tensors), evaluated for one variant by ``generate``/``critic``."""

    def __init__(self, cfgs: Sequence[RunConfig], *, _from: tuple | None = None):
        self.cfgs = list(cfgs)
        c = self.cfgs[0]
        keys = {stack_key(x) for x in self.cfgs}
        if len(keys) > 1:
            raise ValueError("a Stack trains variants of one stack_key only")
        self.K, self.B, self.k, self.unrolled = len(self.cfgs), c.batch, c.d_steps, c.unrolled
        self.targets = [get_target(x.target) for x in self.cfgs]
        self.dim, self.noise_dim = self.targets[0].dim, c.noise_dim
        self.losses: list[Loss] = [get_loss(x.loss) for x in self.cfgs]
        self.train_g, self.train_d = c.lr_g > 0, c.lr_d > 0
        self.minibatch = c.minibatch_disc
        self.iteration = 0
        if _from is None:
            self._build_fresh()
        else:
            self.G, self.D, self.opt_g, self.opt_d, self.avg_g, self.avg_d, streams = _from
            self.streams, self.stream_of = streams
        self._setup_rows()

    # --- construction -------------------------------------------------------------------------
    def _build_fresh(self) -> None:
        cs = self.cfgs
        g_gens = [torch.Generator().manual_seed(x.seed) for x in cs]  # G's init: the seed only
        d_gens = [torch.Generator().manual_seed(x.seed + 1) for x in cs]
        c = cs[0]
        self.G = GeneratorNet.init(c.noise_dim, self.dim, c.g_width, c.g_depth, c.activation,
                                   g_gens, c.vbn, [x.noise for x in cs])
        self.D = DiscriminatorNet.init(self.dim, c.d_width, c.d_depth, c.activation, d_gens,
                                       c.minibatch_disc, [x.spectral_norm for x in cs])
        betas = [x.beta1 for x in cs], [x.beta2 for x in cs]
        self.opt_g = StackedOptimizer([x.opt_g for x in cs], [x.lr_g for x in cs], *betas,
                                      self.G.params)
        self.opt_d = StackedOptimizer([x.opt_d for x in cs], [x.lr_d for x in cs], *betas,
                                      self.D.params)
        has_avg = any(x.historical_avg for x in cs)
        lam = [x.historical_avg for x in cs]
        self.avg_g = HistoricalAverage(self.G.params, lam) if has_avg else None
        self.avg_d = HistoricalAverage(self.D.params, lam) if has_avg else None
        by_key: dict[tuple, int] = {}
        self.streams: list[Stream] = []
        self.stream_of: list[int] = []
        for x, target in zip(cs, self.targets, strict=True):
            key = _stream_key(x)
            if key not in by_key:
                by_key[key] = len(self.streams)
                self.streams.append(Stream(
                    np.random.default_rng(x.seed), torch.Generator().manual_seed(x.seed + 2),
                    target, x.noise, x.instance_noise > 0, x.effective_gp() > 0))
            self.stream_of.append(by_key[key])

    def _setup_rows(self) -> None:
        cs, losses = self.cfgs, self.losses
        self.real_label = [1.0 - x.label_smoothing for x in cs]
        self.d_runs = [(a, b, losses[a].d_loss, self.real_label[a])
                       for a, b in _runs([(loss.d_loss, r) for loss, r
                                          in zip(losses, self.real_label, strict=True)])]
        self.g_runs = [(a, b, losses[a].g_loss)
                       for a, b in _runs([loss.g_loss for loss in losses])]
        self.uses_real = any(loss.g_uses_real for loss in losses)
        self.fm = torch.tensor([x.feature_matching for x in cs])
        self.any_fm = bool(self.fm.any())
        self.gp_rows = self._penalty_rows([x.effective_gp() for x in cs])
        self.r1_rows = self._penalty_rows([0.5 * x.r1_gamma for x in cs])
        clips = [x.effective_clip() for x in cs]
        self.clip = (self.D.params.per_row([v if v else math.inf for v in clips])
                     if any(clips) else None)
        self.noisy = any(s.noisy for s in self.streams)
        self.unroll_lr = [x.unroll_lr for x in cs]
        self._stream_index = torch.tensor(self.stream_of)
        self._first_row = [self.stream_of.index(s) for s in range(len(self.streams))]

    @staticmethod
    def _penalty_rows(weights: list[float]) -> tuple[Tensor | None, Tensor] | None:
        """(index of the rows with a penalty, None if all; their weights (n, )), None if no
        row has one. A penalty is computed on its rows only."""
        rows = [i for i, w in enumerate(weights) if w]
        if not rows:
            return None
        w = torch.tensor([weights[i] for i in rows], dtype=torch.float32)
        return (None if len(rows) == len(weights) else torch.tensor(rows)), w

    def without(self, gone: Sequence[bool]) -> Stack:
        """A stack of the variants not ``gone`` (weights, optimizer states, averages and streams
        carried over; this stack keeps the final weights of those that leave)."""
        keep = [i for i, g in enumerate(gone) if not g]
        at = torch.tensor(keep)
        used = sorted({self.stream_of[i] for i in keep})
        streams = [self.streams[s] for s in used]
        stream_of = [used.index(self.stream_of[i]) for i in keep]

        G, D = self.G.subset(at), self.D.subset(at)

        def sub(x, params):
            return None if x is None else x.subset(at, params)

        stack = Stack([self.cfgs[i] for i in keep], _from=(
            G, D, sub(self.opt_g, G.params), sub(self.opt_d, D.params),
            sub(self.avg_g, G.params), sub(self.avg_d, D.params), (streams, stream_of)))
        stack.iteration = self.iteration
        return stack

    # --- random numbers -----------------------------------------------------------------------
    def sigmas(self) -> list[float]:
        """Instance noise σ_t = σ₀·max(0, 1 − t/T) when annealing over T steps, else σ₀."""
        out = []
        for c in self.cfgs:
            s0, T = c.instance_noise, c.noise_anneal
            out.append(s0 * max(0.0, 1.0 - self.iteration / T) if T else s0)
        return out

    def _draw(self, items: Sequence[str], sigma: Sequence[float]) -> dict[str, Tensor | None]:
        """For every stream, in the order of ``items``: "z" (B, noise_dim) and "noise_r",
        "noise_f" (B, dim) N(0, 1) when its σ_t > 0 and "eps" (B, 1) U[0, 1) when it has a
        gradient penalty (from ``gen``); "real" (B, dim) from ``rng``. Returned as (K, B, …)
        rows (a stream's draw repeated over its variants), None for an item no stream drew."""
        B, per_stream = self.B, []
        for s, st in enumerate(self.streams):
            d: dict[str, Tensor] = {}
            for item in items:
                if item == "z":
                    d[item] = sample_noise(st.prior, B, self.noise_dim, st.gen)
                elif item == "real":
                    d[item] = torch.from_numpy(st.target.sample(st.rng, B))
                elif item in ("noise_r", "noise_f"):
                    if sigma[self._first_row[s]] > 0:
                        d[item] = torch.randn((B, self.dim), generator=st.gen)
                elif item == "eps" and st.gp:
                    d[item] = torch.rand((B, 1), generator=st.gen)
            per_stream.append(d)
        out: dict[str, Tensor | None] = {}
        for item in items:
            got = [d.get(item) for d in per_stream]
            present = next((t for t in got if t is not None), None)
            if present is None:
                out[item] = None
                continue
            rows = torch.stack([t if t is not None else torch.zeros_like(present) for t in got])
            out[item] = (rows.expand(self.K, *rows.shape[1:]) if len(got) == 1
                         else rows.index_select(0, self._stream_index))
        return out

    def _noised(self, x: Tensor, noise: Tensor | None, sigma: Sequence[float]) -> Tensor:
        if noise is None:
            return x
        return x + _column(sigma, 3) * noise

    # --- the networks of one variant, for display ---------------------------------------------
    def generate(self, row: int, z: Tensor) -> Tensor:
        """G_row(z) for z (N, noise_dim), no graph."""
        at = slice(row, row + 1)
        with torch.no_grad():
            return self.G(z.unsqueeze(0), self.G.params.rows(at), at)[0]

    def critic_params(self, row: int) -> dict[str, Tensor]:
        """D_row's effective parameters (spectral norm from the stored vectors, not advanced)."""
        at = slice(row, row + 1)
        return self.D.effective(self.D.params.rows(at), at)

    def critic(self, row: int, x: Tensor, context: Tensor | None = None) -> Tensor:
        """D_row(x) (N,) logits for points x (N, dim), no graph; ``context``: each point scored
        in a batch with these fakes (minibatch discrimination)."""
        with torch.no_grad():
            ctx = None if context is None else context.unsqueeze(0)
            return self.D(x.unsqueeze(0), self.critic_params(row), context=ctx)[0]

    def g_objective(self, row: int, x: Tensor, real: Tensor) -> Tensor:
        """L_G of variant ``row`` at generated points x (N, dim), real points ``real`` where the
        objective reads them (feature matching, losses that compare with reals)."""
        p = self.critic_params(row)
        f = self.D.features(x.unsqueeze(0), p)
        f_r = l_r = None
        if self.cfgs[row].feature_matching or self.losses[row].g_uses_real:
            with torch.no_grad():
                f_r = self.D.features(real.unsqueeze(0), p)
            l_r = self.D.logits(f_r, p)
        return self._g_losses(f, self.D.logits(f, p), f_r, l_r,
                              [(0, 1, self.losses[row].g_loss)], self.fm[row:row + 1])[0]

    # --- objectives ---------------------------------------------------------------------------
    def _g_losses(self, f: Tensor, l_f: Tensor, f_r: Tensor | None, l_r: Tensor | None,
                  runs, fm: Tensor) -> Tensor:
        """(K,) generator objectives: each run's registry L_G over its rows; with feature
        matching ‖E f(x_r) − E f(x_f)‖² (f: D's last features) instead."""
        parts = [fn(l_f[a:b], None if l_r is None else l_r[a:b]) for a, b, fn in runs]
        loss = parts[0] if len(parts) == 1 else torch.cat(parts)
        if bool(fm.any()):
            match = ((f.mean(1) - f_r.mean(1)) ** 2).sum(-1)
            loss = torch.where(fm, match, loss)
        return loss

    def _d_objective(self, p: dict[str, Tensor], x_r: Tensor, x_f: Tensor,
                     eps: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """(K,) L_D + penalties, plain L_D and the penalties λ·GP + (γ/2)·R1, for effective
        critic parameters ``p`` on (noised) batches (K, B, dim). The penalties use per-sample
        input gradients ∂D(x_i)/∂x_i (minibatch discrimination: the rest of the batch fixed)."""
        # real and fake in separate passes: a gradient that cancels exactly between them (a
        # critic's always-active unit) then sums to exactly 0 for every K, instead of to a
        # rounding residue that Adam would turn into whole ±lr steps, different per K
        l_r, l_f = self.D(x_r, p), self.D(x_f, p)
        parts = [fn(l_r[a:b], l_f[a:b], label) for a, b, fn, label in self.d_runs]
        plain = total = parts[0] if len(parts) == 1 else torch.cat(parts)
        penalty = torch.zeros(self.K)
        for rows, kind in ((self.gp_rows, "gp"), (self.r1_rows, "r1")):
            if rows is None:
                continue
            at, weight = rows

            def pick(t: Tensor, at=at) -> Tensor:
                return t if at is None else t.index_select(0, at)

            p_at = p if at is None else {n: t.index_select(0, at) for n, t in p.items()}

            def d_i(x: Tensor, p_at=p_at) -> Tensor:
                return self.D(x, p_at, hold_others=self.minibatch)

            term = weight * (gradient_penalty(d_i, pick(x_r), pick(x_f), eps=pick(eps))
                             if kind == "gp" else r1_penalty(d_i, pick(x_r)))
            total = total + term if at is None else total.index_add(0, at, term)
            penalty = penalty + term.detach() if at is None else penalty.index_add(
                0, at, term.detach())
        return total, plain, penalty

    # --- updates ------------------------------------------------------------------------------
    @torch.no_grad()
    def _clip(self) -> None:
        """Weight clipping: every D parameter of a clipped variant into [−c, c]."""
        self.D.params.flat.clamp_(min=-self.clip, max=self.clip)

    def _d_update(self, x_r: Tensor, x_f: Tensor, draws: dict, sigma: Sequence[float]):
        """One D update of every row on real and (detached) fake batches: (plain L_D,
        penalties, ‖∇θ_D‖), each (K,). Clipping before the critic pass (the first pass and a
        frozen D are clipped too, as the WGAN code) and after the update."""
        if self.clip is not None:
            self._clip()
        x_r = self._noised(x_r, draws["noise_r"], sigma)
        x_f = self._noised(x_f, draws["noise_f"], sigma)
        params = self.D.params
        p = self.D.effective(params.leaves, advance=True)
        total, plain, penalty = self._d_objective(p, x_r, x_f, draws.get("eps"))
        params.grad.zero_()
        total.sum().backward()
        if self.avg_d is not None:
            penalty = penalty + self.avg_d.add_to(params.grad)
        norm = params.row_sums(params.grad * params.grad).sqrt()
        if self.train_d:
            self.opt_d.step(params.flat, params.grad)
            if self.clip is not None:
                self._clip()
            if self.avg_d is not None:
                self.avg_d.update()
        return plain.detach(), penalty, norm

    def _unrolled_critic(self, sigma: Sequence[float]) -> dict[str, Tensor]:
        """D's effective parameters after ``unrolled`` differentiable SGD steps (size
        unroll_lr) on fresh batches, so G's gradient sees how D would react (Metz et al.)."""
        lr = torch.tensor(self.unroll_lr, dtype=torch.float32)
        theta = {n: t.detach().requires_grad_() for n, t in self.D.params.views.items()}
        for _ in range(self.unrolled):
            d = self._draw(("z", "noise_f", "real", "noise_r", "eps"), sigma)
            x_f = self._noised(self.G(d["z"], self.G.params.leaves), d["noise_f"], sigma)
            x_r = self._noised(d["real"], d["noise_r"], sigma)
            loss = self._d_objective(self.D.effective(theta), x_r, x_f, d["eps"])[0]
            grads = torch.autograd.grad(loss.sum(), list(theta.values()), create_graph=True)
            theta = {n: t - lr.view(-1, *([1] * (t.dim() - 1))) * g
                     for (n, t), g in zip(theta.items(), grads, strict=True)}
        return self.D.effective(theta)

    def _g_update(self, x_f: Tensor, noise_f: Tensor | None, real: Tensor | None,
                  sigma: Sequence[float], critic: dict[str, Tensor] | None):
        """One G update of every row at fakes x_f (with their graph to G's parameters):
        (L_G, historical-averaging penalty, ‖∇θ_G‖, B·mean ‖∇ₓL_G‖ at the fakes), each (K,)."""
        x_f.retain_grad()
        x_in = self._noised(x_f, noise_f, sigma)
        p = critic if critic is not None else self.D.effective(self.D.params.views)
        f = self.D.features(x_in, p)
        f_r = l_r = None
        if real is not None:
            with torch.no_grad():
                f_r = self.D.features(real, p) if self.any_fm else None
            if self.uses_real:
                l_r = self.D(real, p)
        loss = self._g_losses(f, self.D.logits(f, p), f_r, l_r, self.g_runs, self.fm)
        params = self.G.params
        params.grad.zero_()
        loss.sum().backward()
        penalty = torch.zeros(self.K)
        if self.avg_g is not None:
            penalty = self.avg_g.add_to(params.grad)
        norm = params.row_sums(params.grad * params.grad).sqrt()
        x_norm = x_f.grad.norm(dim=2).mean(1) * self.B
        if self.train_g:
            self.opt_g.step(params.flat, params.grad)
            if self.avg_g is not None:
                self.avg_g.update()
        return loss.detach(), penalty, norm, x_norm

    def _g_batch(self, sigma: Sequence[float], real: Tensor | None = None,
                 noise_r: Tensor | None = None):
        """Fresh fakes for a G update (z, then their instance noise) and the real batch its
        objective reads (``real``, else drawn after them) — noised."""
        d = self._draw(("z", "noise_f"), sigma)
        x_f = self.G(d["z"], self.G.params.leaves)
        if real is None and (self.any_fm or self.uses_real):
            r = self._draw(("real", "noise_r"), sigma)
            real, noise_r = r["real"], r["noise_r"]
        return x_f, d["noise_f"], None if real is None else self._noised(real, noise_r, sigma)

    _D_DRAWS = ("z", "real", "noise_r", "noise_f", "eps")

    def step(self) -> np.ndarray:
        """One iteration of every row: k D updates, one G update. Returns (K, len(STEP_VALUES))
        values as each variant reports them. A row whose D loss or gradient turns non-finite
        skips the rest of the iteration (its weights are restored after the others' G update,
        as if it had stopped) and reports NaN for what it skipped."""
        K, sigma = self.K, self.sigmas()
        values = np.full((K, len(STEP_VALUES)), math.nan)
        active = np.ones(K, dtype=bool)
        held: dict[int, tuple[Tensor, Tensor]] = {}
        reuse = self.k == 1 and not self.unrolled
        x_f = draws = None
        for _ in range(self.k):
            draws = self._draw(self._D_DRAWS, sigma)
            if reuse:
                x_f = self.G(draws["z"], self.G.params.leaves)
                fake = x_f.detach()
            else:
                with torch.no_grad():
                    fake = self.G(draws["z"], self.G.params.views)
            d_out = torch.stack(self._d_update(draws["real"], fake, draws, sigma)).numpy().T
            for i in np.flatnonzero(active):
                values[i, [0, 5, 3]] = d_out[i]
                if not np.all(np.isfinite(d_out[i])):
                    active[i] = False
                    held[i] = tuple(net.params.flat[net.params.row_mask(i)].clone()
                                    for net in (self.D, self.G))
            if not active.any():
                break
        if active.any():
            critic = self._unrolled_critic(sigma) if self.unrolled else None
            if reuse:
                real = self._noised(draws["real"], draws["noise_r"], sigma)
                g_out = self._g_update(x_f, draws["noise_f"], real, sigma, critic)
            else:
                fakes, noise_f, real = self._g_batch(sigma, draws["real"], draws["noise_r"])
                g_out = self._g_update(fakes, noise_f, real, sigma, critic)
            g_out = torch.stack(g_out).numpy().T
            for i in np.flatnonzero(active):
                values[i, [1, 6, 2, 4]] = g_out[i]
        with torch.no_grad():
            for i, saved in held.items():
                for net, kept in zip((self.D, self.G), saved, strict=True):
                    net.params.flat[net.params.row_mask(i)] = kept
        self.iteration += 1
        return values

    def lone_move(self, player: str) -> tuple[float, float, float]:
        """One update of D alone ("d") or G alone ("g") of a stack of one, on fresh batches:
        (loss, penalty, gradient norm). Not an iteration: ``iteration`` stays."""
        sigma = self.sigmas()
        if player == "d":
            draws = self._draw(self._D_DRAWS, sigma)
            with torch.no_grad():
                fake = self.G(draws["z"], self.G.params.views)
            out = self._d_update(draws["real"], fake, draws, sigma)
        else:
            fakes, noise_f, real = self._g_batch(sigma)
            out = self._g_update(fakes, noise_f, real, sigma, None)[:3]
        return tuple(float(t[0]) for t in out)
