"""Files of a finished run or comparison: what ``train``/``compare`` write and the pages export.

A run directory holds ``config.json``, ``metrics.csv``, ``samples.npy``, ``figure.png`` and
``figure.html``; a comparison directory holds ``config.json``, ``metrics.csv`` (long format with a
``variant`` column), ``summary.csv`` (one row per variant), ``figure.png`` and ``figure.html``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from . import export
from .compare import Comparison
from .config import RunConfig, to_dict, to_json
from .figures import comparison_grid
from .trainer import Trainer

SAMPLE_COUNT = 4000
SUMMARY_COLUMNS = (
    "variant", "loss", "d_steps", "d_width", "lr_d", "steps", "final_js", "best_js", "final_w1",
    "best_w1", "modes_covered", "n_modes", "steps_to_w1", "diverged_at", "iters_per_s",
)


def final_samples(trainer: Trainer, n: int = SAMPLE_COUNT) -> np.ndarray:
    """n fresh generator samples (a fixed noise stream, independent of training), shape (n, dim)."""
    gen = torch.Generator().manual_seed(trainer.cfg.seed + 7)
    with torch.no_grad():
        return trainer.G(trainer.G.sample_noise(n, gen)).numpy()


def caption(configs: Sequence[RunConfig], labels: Sequence[str], steps: int) -> str:
    """Caption block: target, seed, steps, then each variant's distinguishing settings."""
    base = configs[0]
    lines = [f"target {base.target} · seed {base.seed} · step {steps} · batch {base.batch} · "
             f"G {base.g_depth}×{base.g_width} · z {base.noise}({base.noise_dim})"]
    for label, c in zip(labels, configs):
        lines.append(f"{label}: k={c.d_steps}, D {c.d_depth}×{c.d_width}, lr_G={c.lr_g:g}, "
                     f"lr_D={c.lr_d:g}, {c.opt_g}/{c.opt_d}")
    return "\n".join(lines)


def comparison_figure(trainers: Sequence[Trainer], labels: Sequence[str], lang: str = "en"):
    """The report figure of several trainers (one panel each plus overlaid curves)."""
    frames = [(label, tr.snapshot()) for label, tr in zip(labels, trainers)]
    target = trainers[0].target
    steps = max(tr.step_count for tr in trainers)
    return comparison_grid(
        frames,
        {label: tr.history.as_arrays() for label, tr in zip(labels, trainers)},
        d_labels={label: tr.loss.output_label for label, tr in zip(labels, trainers)},
        d_ranges={label: tr.loss.output_range for label, tr in zip(labels, trainers)},
        bounds=target.bounds,
        caption=caption([tr.cfg for tr in trainers], labels, steps),
        lang=lang,
    )


def summary_rows(trainers: Sequence[Trainer], labels: Sequence[str],
                 w1_threshold: float = 0.2) -> pd.DataFrame:
    """Final and best JS/W1, modes, first logged step with W1 < threshold, divergence, speed."""
    rows = []
    for label, tr in zip(labels, trainers):
        h = tr.history.as_arrays()
        js, w1, steps = h["js"], h["w1"], h["step"]
        below = np.flatnonzero(w1 < w1_threshold)
        finite_js, finite_w1 = js[np.isfinite(js)], w1[np.isfinite(w1)]
        last_valid = lambda a: float(a[-1]) if len(a) else float("nan")  # noqa: E731
        rows.append({
            "variant": label, "loss": tr.cfg.loss, "d_steps": tr.cfg.d_steps,
            "d_width": tr.cfg.d_width, "lr_d": tr.cfg.lr_d, "steps": tr.step_count,
            "final_js": last_valid(finite_js), "best_js": float(finite_js.min(initial=np.inf)),
            "final_w1": last_valid(finite_w1), "best_w1": float(finite_w1.min(initial=np.inf)),
            "modes_covered": last_valid(h["modes_covered"][np.isfinite(h["modes_covered"])]),
            "n_modes": len(tr.target.modes) if tr.target.modes is not None else float("nan"),
            "steps_to_w1": int(steps[below[0]]) if len(below) else None,
            "diverged_at": tr.diverged_at,
            "iters_per_s": tr.step_count / tr._wall if tr._wall > 0 else float("nan"),
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def long_metrics(trainers: Sequence[Trainer], labels: Sequence[str]) -> str:
    """metrics.csv of a comparison: the history of every variant with a ``variant`` column."""
    parts = [export.history_csv(tr.history.as_arrays(), {"variant": label})
             for label, tr in zip(labels, trainers)]
    return parts[0] + "".join(p.split("\n", 1)[1] for p in parts[1:])


def write_figure(fig: go.Figure, out: Path, width: int = 1600) -> None:
    """figure.html always; figure.png when kaleido finds a browser (else say how to get one)."""
    (out / "figure.html").write_text(export.figure_html(fig), encoding="utf-8")
    try:
        (out / "figure.png").write_bytes(export.figure_png(fig, width=width, scale=1))
    except export.ExportError as e:
        print(f"warning: figure.png not written: {e}", file=sys.stderr)


def _progress(trainer: Trainer):
    def on_log(row):
        if row["step"] % max(trainer.cfg.steps // 10, 1) < trainer.cfg.log_every:
            print(f"step {int(row['step'])}/{trainer.cfg.steps}  JS {row['js']:.4f}  "
                  f"W1 {row['w1']:.4f}", file=sys.stderr)
    return on_log


def write_run(cfg: RunConfig, out: Path, lang: str = "en") -> bool:
    """Train ``cfg`` and write the run files into ``out``. Returns True when the run diverged."""
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg)
    trainer.run(on_log=_progress(trainer))
    (out / "config.json").write_text(to_json(cfg), encoding="utf-8")
    (out / "metrics.csv").write_text(export.history_csv(trainer.history.as_arrays()))
    np.save(out / "samples.npy", final_samples(trainer))
    label = f"{cfg.loss} k={cfg.d_steps}"
    write_figure(comparison_figure([trainer], [label], lang), out)
    last = trainer.history.last()
    print(f"{trainer.status}: step {trainer.step_count}, JS {last.get('js', float('nan')):.4f}, "
          f"W1 {last.get('w1', float('nan')):.4f} -> {out}")
    if trainer.diverged_at is not None:
        print(f"error: training diverged at step {trainer.diverged_at} (NaN/Inf); files written",
              file=sys.stderr)
    return trainer.diverged_at is not None


def write_comparison(configs: Sequence[RunConfig], out: Path, lang: str = "en") -> bool:
    """Train the variants side by side and write the comparison files. True if any diverged."""
    out.mkdir(parents=True, exist_ok=True)
    comp = Comparison(list(configs))
    comp.run()
    trainers, labels = comp.trainers, comp.labels
    (out / "config.json").write_text(json.dumps(
        {"variants": [{"label": lb, **to_dict(c)} for lb, c in zip(labels, configs)]},
        indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "metrics.csv").write_text(long_metrics(trainers, labels))
    summary = summary_rows(trainers, labels)
    summary.to_csv(out / "summary.csv", index=False)
    write_figure(comparison_figure(trainers, labels, lang), out)
    print(summary[["variant", "final_js", "final_w1", "modes_covered", "diverged_at"]]
          .to_string(index=False))
    diverged = [tr for tr in trainers if tr.diverged_at is not None]
    for label, tr in zip(labels, trainers):
        if tr.diverged_at is not None:
            print(f"error: {label} diverged at step {tr.diverged_at}", file=sys.stderr)
    return bool(diverged)
