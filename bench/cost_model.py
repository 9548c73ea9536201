"""The cost model (gandemo/limits.py) against the clock: predicted vs measured seconds.

For a spread of configurations (default, capped sizes, large k, unrolled, minibatch
discrimination 1D/2D, gradient penalty, many evaluation samples, 2D targets) it measures, on one
torch thread, the mean seconds of one ``Trainer.step()`` (over whole multiples of ``log_every``,
so the metrics are included as the model amortises them) and of one ``Trainer.snapshot()`` taken
after a step (no cached evaluation, as a live run publishes), and prints them next to the
prediction, with the config's verdict under the default caps.

    .venv/bin/python bench/cost_model.py            # the table
    .venv/bin/python bench/cost_model.py --fit      # also refit the coefficients (least squares
                                                    # on log-seconds, non-negative) and print them
The machine may be shared: each figure is the median of a few repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gandemo import limits as L  # noqa: E402
from gandemo.config import ConfigError, RunConfig  # noqa: E402
from gandemo.trainer import Trainer  # noqa: E402

# Whether Trainer.snapshot already evaluates minibatch discrimination on the grid in chunks.
CHUNKED = "chunk" in (Path(__file__).resolve().parents[1] / "gandemo" / "trainer.py").read_text()

SPREAD = {
    "default 1D": {},
    "ring8 2D": {"target": "ring8"},
    "grid25 2D": {"target": "grid25"},
    "small b32": {"batch": 32, "g_width": 16, "d_width": 16},
    "wide 256x6 b1024": {"batch": 1024, "g_width": 256, "d_width": 256, "g_depth": 6,
                         "d_depth": 6},
    "k=5": {"d_steps": 5},
    "k=20 w128 (overwhelming)": {"d_steps": 20, "d_width": 128},
    "unrolled 5": {"unrolled": 5},
    "wgan-gp": {"loss": "wgan-gp"},
    "eval 20000 every 1": {"eval_samples": 20_000, "log_every": 1},
    "2D eval 20000": {"target": "ring8", "eval_samples": 20_000},
    "mbd 1D b256": {"minibatch_disc": True},
    "mbd 1D b512": {"minibatch_disc": True, "batch": 512},
    "mbd 2D b256": {"target": "ring8", "minibatch_disc": True},
    "mbd 2D b64": {"target": "ring8", "minibatch_disc": True, "batch": 64},
    "2D d_width 256": {"target": "ring8", "d_width": 256, "d_depth": 4},
}


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(cfg: RunConfig, budget_s: float = 0.6, snapshot: bool = True):
    """(seconds per step, metrics included; seconds per snapshot after a step, or None)."""
    tr = Trainer(cfg.with_(steps=10**5))
    for _ in range(max(3, cfg.log_every)):
        tr.step()
    t0 = time.perf_counter()
    tr.step()
    one = max(time.perf_counter() - t0, 1e-4)
    block = cfg.log_every * max(1, round(budget_s / 3 / one / cfg.log_every))
    step_s = _median_time(lambda: [tr.step() for _ in range(block)], 3) / block

    def snap():
        tr.step()
        t0 = time.perf_counter()
        tr.snapshot()
        snap.total += time.perf_counter() - t0

    if not snapshot:
        return step_s, None
    snap.total = 0.0
    times = []
    for _ in range(3):
        snap.total = 0.0
        snap()
        times.append(snap.total)
    return step_s, statistics.median(times)


def fit(rows: list[tuple[dict, float, float | None]]) -> None:
    """Non-negative least squares of the coefficients on relative error (rows scaled by 1/t)."""
    from scipy.optimize import nnls

    for title, keys, col in (("STEP_COEF", list(L.STEP_COEF), 1),
                             ("SNAP_COEF", list(L.SNAP_COEF), 2)):
        used = [r for r in rows if r[col]]
        a = np.array([[r[0][k] for k in keys] for r in used]) / np.array([[r[col]] for r in used])
        coef, _ = nnls(a, np.ones(len(used)))
        print(f"{title} =", {k: float(f"{c:.2g}") for k, c in zip(keys, coef)})


def chunked_mbd_grid_s(cfg: RunConfig) -> float:
    """Seconds of the minibatch-discrimination grid pass (the display path the model assumes:
    every grid point scored inside a fixed batch of B − 1 fakes, in chunks)."""
    tr = Trainer(cfg.with_(steps=10))
    return _median_time(tr._d_on_grid, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fit", action="store_true", help="refit and print the coefficients")
    p.add_argument("--only", nargs="*", help="names of SPREAD rows to measure")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    limits = L.Limits(memory_mb=10**6)
    print(f"{'config':<26} {'step ms pred/meas':>18} {'ratio':>5} {'snap ms pred/meas':>18} "
          f"{'ratio':>5} {'MB res+work':>11}  verdict")
    rows = []
    for name, changes in SPREAD.items():
        if args.only and name not in args.only:
            continue
        cfg = RunConfig(**changes)
        cost = L.predict(cfg)
        step_s, snap_s = measure(cfg, snapshot=not (cfg.minibatch_disc and not CHUNKED
                                                     and "2D" in name))
        note = ""
        if snap_s is None:  # the unchunked path: a (m, m, 32) tensor, ~2 s and GBs; emulate
            snap_s = chunked_mbd_grid_s(cfg) + measure(cfg.with_(minibatch_disc=False))[1]
            note = " (snapshot: chunked grid pass emulated)"
        rows.append((L.features(cfg), step_s, snap_s))
        try:
            limits.check(cfg)
            verdict = "accepted"
        except ConfigError as err:
            verdict = f"refused ({err.name})"
        print(f"{name:<26} {cost.step_s * 1e3:>8.2f}/{step_s * 1e3:<9.2f} "
              f"{cost.step_s / step_s:>5.2f} {cost.snapshot_s * 1e3:>8.1f}/{snap_s * 1e3:<9.1f} "
              f"{cost.snapshot_s / snap_s:>5.2f} {cost.resident_mb:>5.0f}+{cost.working_mb:<5.0f}"
              f"  {verdict}{note}", flush=True)
    if args.fit:
        fit(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
