"""Render time and file size of the run animations (GIF, MP4, HTML).

Trains a 2,000-step 1D run (gaussian) and a 2,000-step ring8 run with the CLI's frame recorder
(about 100 frames kept), then renders MAX_FRAMES of them. Prints one line per run and format:
seconds to build the figures, to rasterise (one Chromium, shared by GIF and MP4), to encode, and
the file size. Target (issue 14): the 1D GIF in ≤ 30 s and ≤ 5 MB.

    .venv/bin/python bench/animate_bench.py [--steps 2000] [--frames 80]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from gandemo import animate  # noqa: E402
from gandemo.config import RunConfig  # noqa: E402
from gandemo.trainer import Trainer  # noqa: E402


def bench(target: str, steps: int, frames: int) -> None:
    cfg = RunConfig(target=target, steps=steps)
    rec = animate.Recorder(cfg.steps, cfg.log_every)
    trainer = Trainer(cfg)
    rec(trainer)
    t0 = time.perf_counter()
    trainer.run(on_log=lambda row: rec(trainer))
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    anim = animate.solo_animation(rec.frames, cfg, max_frames=frames)
    figs_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rasters = animate.render_frames(anim)
    raster_s = time.perf_counter() - t0
    w, h = anim.raster_size
    print(f"{target}: {steps} steps trained in {train_s:.1f} s, {len(rec.frames)} frames "
          f"recorded, {len(anim.steps)} animated at {w}x{h}; figures {figs_s:.2f} s, "
          f"rasterise {raster_s:.2f} s ({raster_s / len(anim.steps):.3f} s/frame)")
    for fmt in animate.FORMATS:
        t0 = time.perf_counter()
        data = animate.build(anim, fmt, frames=None if fmt == "html" else rasters)
        enc = time.perf_counter() - t0
        total = figs_s + enc + (raster_s if fmt != "html" else 0.0)
        print(f"  {fmt:<4} {len(data) / 1e6:6.2f} MB  encode {enc:5.2f} s  "
              f"total render {total:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=animate.MAX_FRAMES)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for target in ("gaussian", "ring8"):
        bench(target, args.steps, args.frames)


if __name__ == "__main__":
    main()
