"""Cost of one ``Trainer.snapshot()`` (the frame the live pages draw) for the worst accepted
configuration of each kind.

    .venv/bin/python bench/snapshot_cost.py            # every kind, a table
    .venv/bin/python bench/snapshot_cost.py --json     # one JSON object per kind

"Accepted" means: within ``gandemo.config``'s field ranges and passing this server's
``gandemo.runner.Limits().check`` (its caps and its step-cost model). Each kind starts from the
largest settings (widths, depths, batch, eval samples at their caps) and, while ``Limits`` refuses,
shrinks the setting the refusal names (by 10 %) until it is accepted. Each kind runs in its own
process with one torch thread (as the server): two training steps, one warm-up snapshot, then the
median wall and CPU time (``time.thread_time``: not inflated when other processes share the
cores) of ``--rounds`` snapshots and the peak extra memory over them (Linux: VmHWM after
resetting it through /proc/self/clear_refs, minus VmRSS before). The frame is taken at a step
where no metrics row was logged, so it also pays for evaluating the generator (the worst case).
This script prints; it never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gandemo.config import ConfigError, RunConfig, field_specs  # noqa: E402
from gandemo.runner import Limits, step_work  # noqa: E402

_SPECS = field_specs()


def _cap(name: str, limits: Limits) -> int:
    caps = {"g_width": limits.max_width, "d_width": limits.max_width, "batch": limits.max_batch}
    return int(min(_SPECS[name]["hi"], caps.get(name, _SPECS[name]["hi"])))


def _largest(target: str, limits: Limits, **tricks) -> RunConfig:
    """The kind's config with every size at its cap, shrunk until ``limits`` accepts it."""
    sizes = {n: _cap(n, limits) for n in ("g_width", "d_width", "g_depth", "d_depth", "batch",
                                          "eval_samples")}
    cfg = RunConfig(target=target, steps=50, log_every=_cap("log_every", limits), **sizes,
                    **tricks)
    for _ in range(400):
        try:
            limits.check(cfg)
            return cfg
        except ConfigError as err:
            name = err.name if err.name in sizes else "d_width"
            value = getattr(cfg, name)
            smaller = max(int(_SPECS[name]["lo"]), int(value * 0.9))
            if smaller == value:  # cannot shrink the named one further: shrink the widths
                name = "g_width" if cfg.g_width >= cfg.d_width else "d_width"
                smaller = max(2, int(getattr(cfg, name) * 0.9))
            cfg = replace(cfg, **{name: smaller})
    raise RuntimeError(f"no accepted config found for {target} {tricks}")


KINDS = {
    "1d plain": ("gaussian", {}),
    "2d plain": ("ring8", {}),
    "1d minibatch": ("gaussian", {"minibatch_disc": True}),
    "2d minibatch": ("ring8", {"minibatch_disc": True}),
    "2d minibatch+sn+fm+vbn": ("ring8", {"minibatch_disc": True, "spectral_norm": True,
                                         "feature_matching": True, "vbn": True}),
    "2d ragan (G reads real)": ("ring8", {"loss": "ragan"}),
    "2d wgan-gp (no D*)": ("grid25", {"loss": "wgan-gp"}),
    "ring8 mode-collapse preset, minibatch": ("ring8", None),
}


def config_for(kind: str, limits: Limits) -> RunConfig:
    target, tricks = KINDS[kind]
    if tricks is None:  # the classroom preset's minibatch variant, as the Compare page runs it
        from gandemo.presets import get_preset

        return next(c for c in get_preset("mode-collapse-ring8").configs() if c.minibatch_disc)
    return _largest(target, limits, **tricks)


def _mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(cfg: RunConfig, rounds: int) -> dict:
    """Snapshot time (median, ms) and peak extra memory (MB) of a trainer two steps in."""
    import torch

    from gandemo.trainer import Trainer

    torch.set_num_threads(1)
    tr = Trainer(cfg)
    tr.step()
    tr.step()
    tr.snapshot()
    times, cpu, peak = [], [], 0.0
    for _ in range(rounds):
        tr._eval_cache = None  # pay for the generator evaluation every time (worst case)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _mb("VmRSS")
        t0, c0 = time.perf_counter(), time.thread_time()
        tr.snapshot()
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        peak = max(peak, _mb("VmHWM") - base)
    return {"snapshot_ms": 1000 * statistics.median(times),
            "cpu_ms": 1000 * statistics.median(cpu), "peak_extra_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--kind", help=argparse.SUPPRESS)  # internal: measure one kind in this process
    args = ap.parse_args()
    limits = Limits()
    if args.kind:
        cfg = config_for(args.kind, limits)
        out = measure(cfg, args.rounds)
        sizes = {n: getattr(cfg, n) for n in ("batch", "g_width", "g_depth", "d_width", "d_depth",
                                              "eval_samples")}
        print(json.dumps({"kind": args.kind, **out, "step_work": round(step_work(cfg), 1),
                          **sizes}))
        return
    if not args.json:
        print(f"{'kind':<40}{'ms':>7}{'cpu ms':>7}{'MB':>6}  settings (step_work)")
    for kind in KINDS:
        res = subprocess.run([sys.executable, __file__, "--kind", kind, "--rounds",
                              str(args.rounds)], capture_output=True, text=True, check=False)
        if res.returncode:
            print(f"{kind:<40} failed: {res.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(row))
            continue
        settings = " ".join(f"{k}={row[k]}" for k in ("batch", "g_width", "g_depth", "d_width",
                                                       "d_depth", "eval_samples"))
        print(f"{kind:<40}{row['snapshot_ms']:>7.0f}{row['cpu_ms']:>7.0f}"
              f"{row['peak_extra_mb']:>6.0f}  {settings} "
              f"({row['step_work']})")


if __name__ == "__main__":
    main()
