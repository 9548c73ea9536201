"""Regenerate docs/presets.md: train every classroom preset (seed 0) and write its measured tables.

    .venv/bin/python scripts/preset_docs.py                 # all presets, writes docs/presets.md
    .venv/bin/python scripts/preset_docs.py --seeds 0 1 2   # + final modes of seeds 1, 2 (ring8)
    .venv/bin/python scripts/preset_docs.py --save h.json   # keep the histories; --load h.json
                                                            # re-renders without training

Each preset trains as the Compare page trains it, ``Comparison(preset.configs())``. The tables
are read from the histories; the lesson checks (``gandemo.lessons``, the same ones the Compare page
ticks live and tests/test_presets.py asserts) are evaluated on the full runs. The numbers quoted in
the presets' "Here (seed 0)" texts come from this file; tests/test_lessons.py checks that each of
them appears in it. Run by hand (about 10–20 min on 2 busy cores), never in tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gandemo import lessons as L  # noqa: E402
from gandemo.compare import Comparison  # noqa: E402
from gandemo.config import RunConfig, to_dict  # noqa: E402
from gandemo.i18n import t  # noqa: E402
from gandemo.presets import PRESETS  # noqa: E402
from gandemo.targets import get_target  # noqa: E402
from gandemo.tuning import train_here  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "presets.md"
Hist = dict[str, np.ndarray]

# Per preset: the columns of its step table, (label, history column), and the steps.
STEP_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[int, ...]]] = {
    "vanishing-gradient": ((("‖∇θ_G‖", "g_grad_norm"),), (10, 50, 100, 200, 400, 600)),
    "vanishing-gradient-live": ((("JS", "js"), ("W1", "w1")), (20, 50, 100, 200, 400)),
    "js-blind-w1-not": ((("JS", "js"), ("W1", "w1")), (5, 10, 20, 30, 60, 100, 200, 400)),
    "mode-collapse-ring8": ((("modes", "modes_covered"),), (250, 500, 1000, 1500)),
    "d-strength": ((("modes", "modes_covered"), ("hq", "hq_share")), (100, 240, 500, 1000)),
    "lipschitz-tools": ((("W1", "w1"), ("slope", "x_grad_norm")), (50, 100, 300, 1000, 1500)),
    "improved-techniques": ((("modes", "modes_covered"), ("hq", "hq_share")),
                            (500, 1000, 1500, 2000)),
}


def fmt(column: str, x: float | None) -> str:
    """JS with 4 decimals (its ceiling ln 2 = 0.6931 must stay readable), the rest 3 digits."""
    if x is None or not np.isfinite(x):
        return L.num(x)
    if column == "js":
        return f"{x:.4f}"
    if column == "modes_covered":
        return f"{x:.0f}"
    return L.num(x)


# Milestone columns, shown where they say something: (header, function of a history).
def _early_grad(h: Hist) -> str:
    return L.num(float(np.mean(h["g_grad_norm"][:L.EARLY_ROWS])))


def _slope(h: Hist) -> str:
    lo, mid, hi = np.percentile(h["x_grad_norm"], [5, 50, 95])
    return f"{L.num(mid)} ({L.num(lo)}–{L.num(hi)})"


MILESTONES: dict[str, Callable[[Hist], str]] = {
    "pinned until": lambda h: L.step_text(L.pinned_until(h)),
    "JS < 0.1 at": lambda h: L.step_text(L.js_below(h, 0.1)),
    "JS end": lambda h: fmt("js", L.latest(h, "js")),
    "W1 end": lambda h: fmt("w1", L.latest(h, "w1")),
    "modes end": lambda h: fmt("modes_covered", L.latest(h, "modes_covered")),
    "hq end": lambda h: fmt("hq_share", L.latest(h, "hq_share")),
    "mean ‖∇θ_G‖, first 10 rows": _early_grad,
    "critic slope, median (5–95 %)": _slope,
    "train s": lambda h: f"{L.latest(h, 'wall_s'):.0f}",
}
SHOWN = {
    "vanishing-gradient": ("pinned until", "JS end", "train s"),
    "vanishing-gradient-live": ("mean ‖∇θ_G‖, first 10 rows", "pinned until", "JS < 0.1 at",
                                "JS end", "W1 end", "train s"),
    "js-blind-w1-not": ("pinned until", "JS < 0.1 at", "JS end", "W1 end", "train s"),
    "mode-collapse-ring8": ("modes end", "JS end", "W1 end", "hq end", "train s"),
    "d-strength": ("modes end", "JS end", "W1 end", "hq end", "train s"),
    "lipschitz-tools": ("critic slope, median (5–95 %)", "W1 end", "train s"),
    "improved-techniques": ("modes end", "JS end", "W1 end", "hq end", "train s"),
}
EXTRA_SEEDS = ("mode-collapse-ring8", "d-strength", "improved-techniques")  # --seeds applies here


# --------------------------------------------------------------------------- training


def train(configs: list[RunConfig]) -> tuple[list[Hist], float]:
    t0 = time.perf_counter()
    cmp = Comparison(configs)
    cmp.run()
    return [tr.history.as_arrays() for tr in cmp.trainers], time.perf_counter() - t0


def run_all(names: list[str], seeds: list[int]) -> dict:
    """{preset: {"seed<s>": [history per variant], "wall": seconds for seed 0}}."""
    out: dict = {}
    for name in names:
        out[name] = {}
        for seed in seeds:
            if seed != 0 and name not in EXTRA_SEEDS:
                continue
            hs, wall = train([c.with_(seed=seed) for c in PRESETS[name].configs()])
            out[name][f"seed{seed}"] = hs
            if seed == 0:
                out[name]["wall"] = wall
            print(f"{name} seed {seed}: {wall:.0f} s", flush=True)
    return out


def save(data: dict, path: Path) -> None:
    def plain(v):
        if isinstance(v, np.ndarray):
            return [None if not np.isfinite(x) else float(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    path.write_text(json.dumps(plain(data)))


def load(path: Path) -> dict:
    def arrays(v):
        if isinstance(v, dict) and "step" in v:
            return {k: np.array([np.nan if x is None else x for x in c], dtype=float)
                    for k, c in v.items()}
        if isinstance(v, dict):
            return {k: arrays(x) for k, x in v.items()}
        if isinstance(v, list):
            return [arrays(x) for x in v]
        return v
    return arrays(json.loads(path.read_text()))


# --------------------------------------------------------------------------- the document


def _differs(cfg: RunConfig, base: RunConfig, always: tuple[str, ...] = ()) -> str:
    """The settings of ``cfg`` that differ from ``base`` (and those in ``always``) as code."""
    ref, own = to_dict(base), to_dict(cfg)
    return ", ".join(f"`{k}={v}`" for k, v in own.items()
                     if (v != ref[k] or k in always) and k != "seed")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def section(name: str, data: dict) -> list[str]:
    p = PRESETS[name]
    hs: list[Hist] = data["seed0"]
    names = [t(f"variant.{slug}") for slug in p.names]
    tgt = get_target(p.config.target)
    modes = f", modes σ = {tgt.mode_std:g}" if tgt.modes is not None and len(tgt.modes) > 1 else ""
    lines = [f"## {name} — {p.title}", "",
             f"Base: {_differs(p.config, RunConfig(), ('steps',))} (target `{tgt.name}`"
             f"{modes}, JS/KL kernel h = {tgt.kde_bandwidth:g}).", "",
             "Variants: " + "; ".join(f"**{n}** ({_differs(c, p.config) or 'the base'})"
                                      for n, c in zip(names, p.configs())) + ".", ""]
    columns, steps = STEP_TABLES[name]
    rows = [[f"{n}: {label}", *(fmt(col, L.value_at(h, col, s)) for s in steps)]
            for n, h in zip(names, hs) for label, col in columns]
    lines += _table(["step", *map(str, steps)], rows) + [""]
    shown = SHOWN[name]
    lines += _table(["variant", *shown], [[n, *(MILESTONES[m](h) for m in shown)]
                                          for n, h in zip(names, hs)]) + [""]
    extra = sorted(k for k in data if k.startswith("seed") and k != "seed0")
    if extra:
        seeds = [k.removeprefix("seed") for k in extra]
        lines += [f"Modes at the end, seeds 0 / {' / '.join(seeds)}: " + "; ".join(
            f"{n} " + " / ".join(fmt("modes_covered", L.latest(data[k][i], "modes_covered"))
                                 for k in ["seed0", *extra])
            for i, n in enumerate(names)) + ".", ""]
    lines += ["Lesson checks on this run (`gandemo.lessons`; ✓ shown, ✗ not shown, … not "
              "decidable):", ""]
    icons = {True: "✓", False: "✗", None: "…"}
    lines += [f"- {icons[r.passed]} {r.text}" for r in L.evaluate(name, hs)]
    lines += ["", f"Training time of the comparison: {data['wall']:.0f} s.", ""]
    return lines


HEADER = """# Classroom presets: measured (generated file, do not edit)

Generated by `scripts/preset_docs.py` (`.venv/bin/python scripts/preset_docs.py`): it trains every
preset of `gandemo/presets.py` as the Compare page does, `Comparison(preset.configs())`, seed 0,
and writes the tables below from the histories. The presets' explanations
(`preset.<name>.explain` in `gandemo/locales/{en,zh}/presets.json`) quote these numbers;
`tests/test_lessons.py` checks that every number in their "Here (seed 0)" part appears here.

Reading the tables: a value "at step s" is the last logged row at or before s. JS, KL, W1 are
`gandemo.metrics.divergences` (JS and KL on densities smoothed with a fixed per-target kernel
h, named per preset; W1 exact in 1D, exact optimal transport on 500 points per side in 2D).
"pinned until" is the first step with JS < ln 2 − 0.01 (ln 2 = 0.6931); "modes" is
`modes_covered` (a ring8 mode counts with ≥ 1 of 2000 samples within 3σ of its centre), "hq"
the share of samples within 3σ of some centre; ‖∇θ_G‖ is the generator's gradient norm;
"slope" is `x_grad_norm`, the mean ‖∇ₓL_G‖ at the fakes (× batch): the critic's slope where G
reads it. "train s" is the variant's own training time (stacked variants share their passes).
Lesson checks are those the Compare page ticks live (`gandemo.lessons`); `tests/test_presets.py`
asserts them on shorter seeded runs.
"""


def document(data: dict, seconds: float) -> str:
    lines = [HEADER, f"Generation time: {seconds:.0f} s on this machine "
             f"({torch.get_num_threads()} torch thread(s)).", ""]
    for name in PRESETS:
        if name in data:
            lines += section(name, data[name])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(PRESETS), help="presets to run")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0],
                    help="seeds (0 is always run; others only for the ring8 presets)")
    ap.add_argument("--save", type=Path, help="write the histories to this JSON file")
    ap.add_argument("--load", type=Path, help="read histories from this JSON file (no training)")
    ap.add_argument("--out", type=Path, default=OUT, help="the Markdown file to write")
    args = ap.parse_args(argv)
    train_here()
    t0 = time.perf_counter()
    if args.load:
        data = load(args.load)
        seconds = float(data.pop("_seconds", 0.0))
    else:
        seeds = [0, *(s for s in args.seeds if s != 0)]
        data = run_all(args.only or list(PRESETS), seeds)
        seconds = time.perf_counter() - t0
        if args.save:
            save({**data, "_seconds": seconds}, args.save)
    text = document(data, seconds)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {args.out} ({seconds:.0f} s of training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
