"""Side-by-side training speed: the stacked ``Comparison`` engine against a plain eager loop.

    .venv/bin/python bench/compare_bench.py                      # K = 1, 2, 4, 8, 12; 5 rounds
    .venv/bin/python bench/compare_bench.py --ks 8 --rounds 9 --seconds 1 --json

The run is ``gandemo.bench.BENCH_CONFIG`` (1D gaussian, 2×64 ReLU MLPs, batch 256, Adam, one
torch thread). "plain" is one model in a bare eager loop (``bench.plain_loop_step``: no logging,
no metrics); "stacked K" is ``Comparison(compare_variants(cfg, K)).step()`` — K variants (4
losses × learning rates, same k, see ``bench.compare_variants``) with the full Trainer logging
(metrics every ``log_every`` steps), counted in model-iterations per second (steps/s × K).

The machine may be shared with busy processes: every round measures plain and each K back to
back, and the figures are medians over rounds of wall-clock rates and of rates per CPU-second of
this thread (``time.thread_time``, which time-slicing by other processes does not inflate).
The ratio is the median over rounds of (stacked K=8 / plain) of the same round. This script
prints; it never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from gandemo.bench import BENCH_CONFIG, compare_variants, plain_loop_step  # noqa: E402
from gandemo.compare import Comparison  # noqa: E402


def rates(step, seconds: float, warmup: int = 10) -> tuple[float, float]:
    """(iterations per wall second, per CPU second of this thread) of ``step()``."""
    for _ in range(warmup):
        step()
    n, w0, c0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - w0 < seconds:
        for _ in range(5):
            step()
        n += 5
    return n / (time.perf_counter() - w0), n / max(time.thread_time() - c0, 1e-9)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8, 12])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    ap.add_argument("--json", action="store_true", help="also print one JSON line at the end")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = BENCH_CONFIG
    plain_step = plain_loop_step(cfg)
    comps = {k: Comparison(compare_variants(cfg, k)) for k in args.ks}
    wall: dict[str, list[float]] = {"plain": [], **{f"K={k}": [] for k in args.ks}}
    cpu: dict[str, list[float]] = {name: [] for name in wall}
    ratios: dict[int, list[float]] = {k: [] for k in args.ks}
    for r in range(args.rounds):
        w, c = rates(plain_step, args.seconds)
        wall["plain"].append(w)
        cpu["plain"].append(c)
        for k in args.ks:
            w, c = rates(comps[k].step, args.seconds)
            wall[f"K={k}"].append(w * k)
            cpu[f"K={k}"].append(c * k)
            ratios[k].append(w * k / wall["plain"][-1])
        print(f"round {r + 1}/{args.rounds}: plain {wall['plain'][-1]:.0f} it/s, "
              + ", ".join(f"K={k} {wall[f'K={k}'][-1]:.0f}" for k in args.ks), flush=True)
    med = {name: statistics.median(v) for name, v in wall.items()}
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    print(f"\n{'':<8}{'model-it/s (wall)':>19}{'per CPU-s':>12}{'vs plain (wall)':>17}"
          f"{'vs plain (CPU)':>16}")
    for name in wall:
        k = None if name == "plain" else int(name[2:])
        vs = 1.0 if k is None else statistics.median(ratios[k])
        print(f"{name:<8}{med[name]:>19.0f}{med_cpu[name]:>12.0f}{vs:>17.2f}"
              f"{med_cpu[name] / med_cpu['plain']:>16.2f}")
    result = {
        "plain_iters_per_s": round(med["plain"], 1),
        "plain_iters_per_cpu_s": round(med_cpu["plain"], 1),
        "stacked_model_iters_per_s": {k: round(med[f"K={k}"], 1) for k in args.ks},
        "stacked_model_iters_per_cpu_s": {k: round(med_cpu[f"K={k}"], 1) for k in args.ks},
        "ratio_vs_plain": {k: round(statistics.median(ratios[k]), 3) for k in args.ks},
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
    }
    if 8 in args.ks:
        print(f"\nK=8: {med['K=8']:.0f} model-it/s vs plain {med['plain']:.0f} it/s -> "
              f"{statistics.median(ratios[8]):.2f}x (median of {args.rounds} rounds)")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
