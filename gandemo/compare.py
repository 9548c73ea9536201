"""Several variants of one experiment trained side by side.

Every variant gets its own ``Trainer`` (same seed -> same initial generator, same data stream);
usually only the loss and the discriminator's strength differ. Variants with the same
``engine.stack_key`` (network shapes, batch, k, unrolling, which players train, minibatch/VBN
layers) train together in one ``engine.Stack`` — the same code that trains a single run, with K
rows instead of one — so ``Comparison.step()`` advances each unfinished variant by one iteration
with the numbers ``Trainer.step()`` would produce for it alone (up to float rounding). A variant
that finishes or diverges leaves its stack (it keeps its final weights for display); the others
go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .config import RunConfig
from .engine import Stack, stack_key, stack_order
from .naming import variant_names
from .trainer import Trainer

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


def variant_labels(configs: Sequence[RunConfig], labels: Sequence[str] | None) -> list[str]:
    """``labels`` checked (one distinct name per variant), or ``naming.variant_names``."""
    if labels is None:
        return variant_names(configs)
    if len(labels) != len(configs) or len(set(labels)) < len(labels):
        raise ValueError("labels: one distinct name per variant")
    return list(labels)


class Comparison:
    """Trains ``configs`` side by side: one ``step()`` = one iteration of every unfinished
    variant, each stack of variants with one ``stack_key`` in one pass. ``trainers[i]`` is
    variant i's Trainer, current whenever ``step()`` is not running (history, status,
    snapshot(), measure()). Like a Trainer it is a ``runner.Job`` (step, done, step_count,
    diverged_at, wall_s); its variants diverge one by one, so ``diverged_at`` stays None."""

    diverged_at = None

    def __init__(self, configs: Sequence[RunConfig], labels: Sequence[str] | None = None):
        self.configs: list[RunConfig] = list(configs)
        self.labels = variant_labels(self.configs, labels)
        by_key: dict[tuple, list[int]] = {}
        for i, cfg in enumerate(self.configs):
            by_key.setdefault(stack_key(cfg), []).append(i)
        # variant indices of each stack (fixed at construction), rows ordered by objective
        self.groups: list[list[int]] = []
        self.trainers: list[Trainer] = [None] * len(self.configs)  # type: ignore[list-item]
        for members in by_key.values():
            members = [members[j] for j in stack_order([self.configs[i] for i in members])]
            stack = Stack([self.configs[i] for i in members])
            for row, i in enumerate(members):
                self.trainers[i] = Trainer(self.configs[i], stack, row)
            self.groups.append(members)
        self._live = list(self.groups)

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers)

    @property
    def step_count(self) -> int:
        return max(t.step_count for t in self.trainers)

    @property
    def wall_s(self) -> float:
        """Training seconds of the comparison (its variants train together)."""
        return max(t.wall_s for t in self.trainers)

    def step(self) -> None:
        """One iteration (k D steps, one G step) of every unfinished variant; rows logged and
        divergence handled per variant exactly as ``Trainer.step`` does."""
        live = []
        for members in self._live:
            ts = [self.trainers[i] for i in members]
            stack = ts[0].stack
            t0 = time.perf_counter()
            values = stack.step()
            seconds = time.perf_counter() - t0
            for t in ts:
                t.record_step(values[t.row], seconds)
            gone = [t.done for t in ts]
            if all(gone):
                continue
            if any(gone):
                stack = stack.without(gone)
                members = [i for i, g in zip(members, gone, strict=True) if not g]
                for row, i in enumerate(members):
                    self.trainers[i].stack, self.trainers[i].row = stack, row
            live.append(members)
        self._live = live

    def run(self) -> None:
        while not self.done:
            self.step()
