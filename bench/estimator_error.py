"""Sampling error of ``metrics.divergences`` on the shipped targets, and the cost of 2D W1.

For each target: n TRUE samples (n = the trainer's eval_samples, 2000) scored against p_r, over
several seeds: what JS/KL/TV/W1 read when p_g = p_r exactly (the truth is 0, so this is the
estimator's bias + noise floor). W1 compares the n samples with n other true samples (1D: all
points, exact; 2D: exact OT on a 500-point subsample per side). Then the time of one 2D W1.

    .venv/bin/python bench/estimator_error.py [--seeds 5] [--n 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gandemo import metrics as M
from gandemo.targets import TARGETS


def error_table(n: int, seeds: int) -> list[str]:
    keys = ("js", "kl_rg", "kl_gr", "tv", "w1")
    lines = [f"| target | h | {' | '.join(keys)} |", "|---|---|" + "---|" * len(keys)]
    for name, t in TARGETS.items():
        rows = []
        for s in range(seeds):
            r = np.random.default_rng(1000 + s)
            out = M.divergences(t, t.sample(r, n), real=t.sample(r, n), seed=s)
            rows.append([out[k] for k in keys])
        a = np.array(rows)
        cells = [f"{m:.4f} ± {sd:.4f}" for m, sd in zip(a.mean(0), a.std(0, ddof=1))]
        lines.append(f"| {name} | {t.kde_bandwidth:g} | {' | '.join(cells)} |")
    return lines


def w1_cost(reps: int = 5) -> list[str]:
    t = TARGETS["ring8"]
    r = np.random.default_rng(0)
    a, b = t.sample(r, 2000), t.sample(r, 2000)
    lines = []
    for k in (250, 500, 1000):
        t0 = time.perf_counter()
        for _ in range(reps):
            M.w1_ot(a, b, max_n=k)
        lines.append(f"exact OT W1, n = {k}: {(time.perf_counter() - t0) / reps * 1e3:.1f} ms")
    t0 = time.perf_counter()
    for _ in range(reps):
        M.divergences(t, a, real=b)
    lines.append(f"one full divergences() call on ring8 (n = 2000, OT on 500): "
                 f"{(time.perf_counter() - t0) / reps * 1e3:.1f} ms")
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="samples per side (≥ 10)")
    ap.add_argument("--seeds", type=int, default=5, help="repetitions (≥ 2)")
    args = ap.parse_args()
    if args.n < 10 or args.seeds < 2:
        ap.error("--n must be ≥ 10 and --seeds ≥ 2")
    print(f"n = {args.n} true samples vs p_r, mean ± sd over {args.seeds} seeds (nats; W1 in x)")
    print("\n".join(error_table(args.n, args.seeds)))
    print("\n".join(w1_cost()))
