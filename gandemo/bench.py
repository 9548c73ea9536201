"""Speed measurements for ``python -m gandemo bench``.

``train_iters_per_s``: the default 1D run (2×64 ReLU MLPs, batch 256, Adam, ``nonsaturating``)
through ``Trainer`` with the live-view settings (metrics every ``log_every`` steps, a snapshot
published ``Limits.fps`` times per second), one torch thread. ``plain_iters_per_s``: the same
networks and losses in the leanest eager PyTorch loop a user would write (``nn.Sequential``,
``torch.optim.Adam``, one generator forward per step reused for the D and the G update, as
PyTorch's DCGAN example), measured in the same process, for the ratio.
``stacked_model_iters_per_s``: 8 variants of that run in one ``engine.Stack`` (training only,
as the lean loop), in model-iterations/s: 4 losses (nonsaturating, minimax, hinge, lsgan) × 2
discriminator learning rates, same k, as a loss comparison on the Compare page;
``compare_model_iters_per_s``: the same through ``Comparison`` with every variant's history rows
and metrics. Rates are per CPU second of the measuring thread and every contender is measured
in each of a few rounds, back to back; the ratios are medians over the rounds.
``preset_speedups`` (``bench --presets``): every preset's ``Comparison`` against the sum of its
variants trained one at a time by ``Trainer``, each with the preset's logging.

A stack of K variants costs c₀ + K·c₁ per iteration where one variant alone costs c₀ + c₁ (c₀:
the per-operation overhead a stack shares; at batch 256 c₀ ≈ 0.9 ms, c₁ ≈ 0.55 ms), so its gain
K(c₀ + c₁)/(c₀ + K·c₁) grows with K towards (c₀ + c₁)/c₁ ≈ 2.6 (2.0 at K = 5); variants of
different k, unrolling or layers train in separate stacks, and a stack costs its largest k.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from .config import RunConfig
from .runner import Limits
from .targets import get_target
from .trainer import Trainer
from .tuning import train_here

COMPARE_K = 8
BENCH_CONFIG = RunConfig(target="gaussian", loss="nonsaturating", steps=10**5, batch=256)
COMPARE_LOSSES = ("nonsaturating", "minimax", "hinge", "lsgan")


def _timed(step, seconds: float, warmup: int = 30) -> float:
    """Iterations per CPU second of this thread (``time.thread_time``: not inflated when other
    processes share the cores) of ``step()`` over about ``seconds`` of wall time."""
    for _ in range(warmup):
        step()
    n, t0, c0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            step()
        n += 20
    return n / max(time.thread_time() - c0, 1e-9)


def _mlp(sizes: list[int]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def plain_loop_step(cfg: RunConfig):
    """The lean reference loop: a non-saturating GAN step with one G forward (no logging, no
    metrics, no snapshots)."""
    target = get_target(cfg.target)
    torch.manual_seed(cfg.seed)
    G = _mlp([cfg.noise_dim] + [cfg.g_width] * cfg.g_depth + [target.dim])
    D = _mlp([target.dim] + [cfg.d_width] * cfg.d_depth + [1])
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    rng = np.random.default_rng(cfg.seed)
    B = cfg.batch

    def step():
        x_r = torch.from_numpy(target.sample(rng, B))
        x_f = G(torch.randn(B, cfg.noise_dim))
        d_loss = F.softplus(-D(x_r)).mean() + F.softplus(D(x_f.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(x_f)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

    return step


def trainer_step(cfg: RunConfig, fps: float):
    """Trainer.step plus a snapshot every 1/fps seconds, as a live run does."""
    trainer = Trainer(cfg)
    last = [time.perf_counter()]

    def step():
        trainer.step()
        now = time.perf_counter()
        if now - last[0] >= 1.0 / fps:
            trainer.snapshot()
            last[0] = now

    return step


def compare_variants(cfg: RunConfig, k: int) -> list[RunConfig]:
    """k variants of ``cfg``: ``COMPARE_LOSSES`` in turn, the i-th group of them with lr_D × (1+i)
    (same seed, target, k and networks: they train as one stacked group)."""
    n = len(COMPARE_LOSSES)
    return [cfg.with_(loss=COMPARE_LOSSES[i % n], lr_d=min(1.0, cfg.lr_d * (1 + i // n)))
            for i in range(k)]


def compare_step(cfg: RunConfig, k: int):
    """``Comparison.step`` over ``compare_variants(cfg, k)``."""
    from .compare import Comparison

    return Comparison(compare_variants(cfg, k)).step


def compare_model_rate(cfg: RunConfig, k: int, seconds: float) -> float:
    """Model-iterations per second of k variants trained side by side."""
    return _timed(compare_step(cfg, k), seconds, warmup=10) * k


def stack_step(cfg: RunConfig, k: int):
    """``engine.Stack.step`` over ``compare_variants(cfg, k)``: training only (no history rows,
    no metrics), what the lean loop does."""
    from .engine import Stack, stack_order

    cfgs = compare_variants(cfg, k)
    return Stack([cfgs[i] for i in stack_order(cfgs)]).step  # equal losses together, as compare


def _cpu_per_iteration(step, steps: int) -> float:
    for _ in range(3):
        step()
    c0 = time.thread_time()
    for _ in range(steps):
        step()
    return (time.thread_time() - c0) / steps


def preset_speedups(steps: int = 20, log=print) -> dict[str, float]:
    """For every preset, CPU seconds per iteration of its variants trained one at a time
    (Σ over variants of ``Trainer.step``) over those of its ``Comparison``: the speed-up of
    training them side by side (issue 12's target: ≥ 2)."""
    from .compare import Comparison
    from .presets import PRESETS

    log(f"{'preset':<26} {'variants':>8} {'stacks':>6} {'one at a time':>14} "
        f"{'side by side':>13} {'speed-up':>9}")
    out = {}
    for name, preset in PRESETS.items():
        cfgs = [c.with_(steps=10**5) for c in preset.configs()]
        solo = sum(_cpu_per_iteration(Trainer(c).step, steps) for c in cfgs)
        comp = Comparison(cfgs)
        together = _cpu_per_iteration(comp.step, steps)
        out[name] = round(solo / together, 3)
        log(f"{name:<26} {len(cfgs):>8} {len(comp.groups):>6} {solo * 1e3:>11.1f} ms "
            f"{together * 1e3:>10.1f} ms {solo / together:>8.2f}x")
    return out


def run_bench(seconds: float = 3.0, log=print, rounds: int = 3) -> dict:
    """The three figures of issue 12 against the lean loop, medians over ``rounds`` rounds that
    measure every contender back to back (a busy spell of the machine hits all alike)."""
    train_here()
    fps = Limits().fps
    cfg = BENCH_CONFIG
    contenders = {
        "plain": (plain_loop_step(cfg), 1),
        "trainer": (trainer_step(cfg, fps), 1),
        "stacked": (stack_step(cfg, COMPARE_K), COMPARE_K),
        "compare": (compare_step(cfg, COMPARE_K), COMPARE_K),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (step, k) in contenders.items():
            rates[name].append(_timed(step, seconds / rounds, warmup=10) * k)
    ratio = {name: statistics.median(r / p for r, p in zip(rates[name], rates["plain"]))
             for name in contenders}
    rate = {name: statistics.median(r) for name, r in rates.items()}
    log(f"lean eager loop (one G forward per step): {rate['plain']:.0f} it/s")
    log(f"trainer, live (metrics every {cfg.log_every} steps, {fps:g} snapshots/s): "
        f"{rate['trainer']:.0f} it/s ({ratio['trainer']:.2f}x lean)")
    log(f"{COMPARE_K} variants stacked, training: {rate['stacked']:.0f} model-it/s "
        f"({ratio['stacked']:.2f}x lean)")
    log(f"{COMPARE_K} variants compared, with their metrics: {rate['compare']:.0f} model-it/s "
        f"({ratio['compare']:.2f}x lean)")
    return {
        "train_iters_per_s": round(rate["trainer"], 1),
        "plain_iters_per_s": round(rate["plain"], 1),
        "train_vs_plain": round(ratio["trainer"], 3),
        "compare_k": COMPARE_K,
        "stacked_model_iters_per_s": round(rate["stacked"], 1),
        "stacked_vs_plain": round(ratio["stacked"], 3),
        "compare_model_iters_per_s": round(rate["compare"], 1),
        "compare_vs_plain": round(ratio["compare"], 3),
        "torch_threads": torch.get_num_threads(),
    }
