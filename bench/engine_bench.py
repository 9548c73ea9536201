"""The one engine's speed: its hand-written parts against the library, and every preset side by
side against its variants trained one at a time.

    .venv/bin/python bench/engine_bench.py                  # every part
    .venv/bin/python bench/engine_bench.py --part presets --steps 40

Parts (one torch thread; CPU seconds of this thread, which other processes do not inflate):

* ``optimizer``: one Adam step of the default D (2×64, 1D) by ``engine.StackedOptimizer`` on the
  flat parameters vs ``torch.optim.Adam(foreach=True)`` on the ``nn.Sequential``'s tensors; and
  for K = 8 variants with their own lr: one stacked step vs 8 torch optimizers.
* ``forward``: forward + backward of K = 8 discriminators on batches of 256: the engine's batched
  MLP (one ``baddbmm`` per layer) vs ``torch.func.vmap`` over ``functional_call`` of stacked
  module states (``stack_module_state``), PyTorch's own tool for ensembles.
* ``layers``: forward + backward of one stacked layer (K = 8, B = 256) with few inputs or
  outputs: autograd's backward of ``baddbmm`` vs ``nets._NarrowLinear`` (why it exists).
* ``heap``: an 8-variant ``Stack.step`` in a fresh process with glibc's default heap and with
  ``tuning.train_here``'s: CPU ms per step and minor page faults per step.
* ``presets``: for every preset, seconds per iteration of its ``Comparison`` (variants grouped in
  stacks, with the preset's logging) vs the sum over its variants of a solo ``Trainer``'s seconds
  per iteration; the ratio is the speed-up (target of issue 12: ≥ 2). "training only" is the
  same ratio for the engine alone (``Stack.step``: no history rows, no metrics — on 2D targets
  the exact W1 of every logged row is a large share that stacking cannot save).

Prints; never asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.func import functional_call, stack_module_state, vmap  # noqa: E402

from gandemo.bench import (  # noqa: E402
    BENCH_CONFIG,
    _mlp,
    compare_variants,
    preset_speedups,
)
from gandemo.compare import Comparison  # noqa: E402
from gandemo.engine import Stack, StackedOptimizer  # noqa: E402
from gandemo.nets import _NarrowLinear  # noqa: E402
from gandemo.presets import PRESETS  # noqa: E402
from gandemo.tuning import train_here  # noqa: E402


def cpu_per_call(fn, n: int, warmup: int = 5, rounds: int = 5) -> float:
    """Median over rounds of CPU seconds per call of ``fn()``."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(rounds):
        c0 = time.thread_time()
        for _ in range(n):
            fn()
        out.append((time.thread_time() - c0) / n)
    return statistics.median(out)


def optimizer_part() -> None:
    cfg = BENCH_CONFIG
    D = _mlp([1] + [cfg.d_width] * cfg.d_depth + [1])
    for p in D.parameters():
        p.grad = torch.randn_like(p)
    torch_adam = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.9), foreach=True)
    stack = Stack([cfg])
    flat, grad = stack.D.params.flat, torch.randn_like(stack.D.params.flat)
    ours = StackedOptimizer("adam", [2e-4], [0.0], [0.9], stack.D.params)
    a = cpu_per_call(torch_adam.step, 500)
    b = cpu_per_call(lambda: ours.step(flat, grad), 500)
    print(f"optimizer, one D: torch.optim.Adam(foreach) {a * 1e6:.0f} µs, "
          f"StackedOptimizer {b * 1e6:.0f} µs per step")
    cfgs = compare_variants(cfg, 8)
    stack8 = Stack(cfgs)
    nets = [_mlp([1] + [cfg.d_width] * cfg.d_depth + [1]) for _ in cfgs]
    opts = [torch.optim.Adam(n.parameters(), lr=c.lr_d, betas=(0.0, 0.9), foreach=True)
            for n, c in zip(nets, cfgs, strict=True)]
    for n in nets:
        for p in n.parameters():
            p.grad = torch.randn_like(p)
    flat8, grad8 = stack8.D.params.flat, torch.randn_like(stack8.D.params.flat)
    ours8 = StackedOptimizer("adam", [c.lr_d for c in cfgs], [0.0] * 8, [0.9] * 8,
                             stack8.D.params)
    a = cpu_per_call(lambda: [o.step() for o in opts], 200)
    b = cpu_per_call(lambda: ours8.step(flat8, grad8), 200)
    print(f"optimizer, 8 D's with their own lr: 8 × torch.optim.Adam {a * 1e6:.0f} µs, "
          f"StackedOptimizer {b * 1e6:.0f} µs per step")


def forward_part() -> None:
    cfg, K, B = BENCH_CONFIG, 8, 256
    stack = Stack(compare_variants(cfg, K))
    x = torch.randn(K, B, 1)

    def ours():
        p = stack.D.effective(stack.D.params.leaves)
        stack.D.params.grad.zero_()
        stack.D(x, p).sum().backward()

    nets = [_mlp([1] + [cfg.d_width] * cfg.d_depth + [1]) for _ in range(K)]
    params, buffers = stack_module_state(nets)
    base = _mlp([1] + [cfg.d_width] * cfg.d_depth + [1]).to("meta")

    def one(p, b, xi):
        return functional_call(base, (p, b), (xi,))

    batched = vmap(one)

    def library():
        for p in params.values():
            p.grad = None
        batched(params, buffers, x).sum().backward()

    a, b = cpu_per_call(library, 200), cpu_per_call(ours, 200)
    print(f"forward+backward, {K} D's × {B} points: torch.func.vmap(functional_call) "
          f"{a * 1e6:.0f} µs, engine (baddbmm) {b * 1e6:.0f} µs")


def layers_part() -> None:
    K, B = 8, 256
    for n_in, n_out in ((2, 64), (64, 1), (64, 2)):
        x = torch.randn(K, B, n_in, requires_grad=True)
        w = torch.randn(K, n_out, n_in, requires_grad=True)
        b = torch.randn(K, n_out, requires_grad=True)
        g = torch.randn(K, B, n_out)

        def native(x=x, w=w, b=b, g=g):
            torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2)).backward(g)

        def narrow(x=x, w=w, b=b, g=g):
            _NarrowLinear.apply(x, w, b).backward(g)

        a, c = cpu_per_call(native, 300), cpu_per_call(narrow, 300)
        print(f"layer {n_in:>2} -> {n_out:<2} × {K}, forward+backward: baddbmm {a * 1e6:.0f} µs, "
              f"_NarrowLinear {c * 1e6:.0f} µs")


_HEAP = """
import resource, time
from gandemo import tuning
import torch
torch.set_num_threads(1)
if {tuned}:
    tuning.train_here()
from gandemo.bench import BENCH_CONFIG, stack_step
step = stack_step(BENCH_CONFIG, 8)
for _ in range(30):
    step()
f0, c0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.thread_time()
for _ in range(300):
    step()
c1, f1 = time.thread_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print((c1 - c0) / 300 * 1e3, (f1 - f0) / 300)
"""


def heap_part() -> None:
    import subprocess

    for tuned in (False, True, False, True):
        out = subprocess.run([sys.executable, "-c", _HEAP.format(tuned=tuned)], check=True,
                             capture_output=True, text=True, cwd=Path(__file__).parents[1])
        ms, faults = map(float, out.stdout.split())
        print(f"8-variant step, {'train_here heap' if tuned else 'default heap   '}: "
              f"{ms:.2f} CPU ms, {faults:.0f} minor faults per step")


def presets_part(steps: int) -> None:
    """``gandemo.bench.preset_speedups``, then the same for the engine alone (``Stack.step``:
    no history rows, no metrics — on 2D targets the exact W1 of every logged row is a large
    share that stacking cannot save)."""
    preset_speedups(steps)
    print(f"{'preset':<26} training only")
    for name, preset in PRESETS.items():
        cfgs = [c.with_(steps=10**5) for c in preset.configs()]
        comp = Comparison(cfgs)
        solo = sum(cpu_per_call(Stack([c]).step, steps, warmup=3, rounds=1) for c in cfgs)
        stacked = sum(cpu_per_call(Stack([cfgs[i] for i in members]).step, steps, warmup=3,
                                   rounds=1)
                      for members in comp.groups)
        print(f"{name:<26} {solo / stacked:>12.2f}x")


PARTS = ("optimizer", "forward", "layers", "heap", "presets")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=PARTS, nargs="*")
    p.add_argument("--steps", type=int, default=30, help="iterations timed per preset run")
    args = p.parse_args(argv)
    train_here()
    for part in args.part or PARTS:
        if part == "presets":
            presets_part(args.steps)
        else:
            globals()[f"{part}_part"]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
