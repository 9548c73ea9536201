"""Tests for gandemo.nets' stacked layers and gandemo.tuning's process settings."""

import subprocess
import sys

import pytest
import torch

from gandemo.nets import _linear, _NarrowLinear


@pytest.mark.parametrize("n_in,n_out", [(2, 6), (3, 2), (6, 1), (1, 6), (5, 5)])
def test_stacked_linear_matches_one_matmul_per_variant_to_second_order(n_in, n_out):
    """Every layout ``_linear`` picks (outer product, narrow custom backward, baddbmm) gives
    x·Wᵀ + b of each variant, and its first and second derivatives are exact (gradient
    penalties differentiate through D twice)."""
    K, N = 3, 5
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(K, N, n_in, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(K, n_out, n_in, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(K, n_out, dtype=torch.float64, generator=gen, requires_grad=True)
    want = torch.stack([x[k] @ w[k].T + b[k] for k in range(K)])
    torch.testing.assert_close(_linear(x, w, b), want)
    assert torch.autograd.gradcheck(_linear, (x, w, b))
    assert torch.autograd.gradgradcheck(_linear, (x, w, b))


def test_narrow_backward_skips_what_is_not_needed():
    """Only the gradients autograd asks for are computed (a G step needs ∇x of D, not ∇W)."""
    x = torch.randn(2, 4, 3, requires_grad=True)
    w, b = torch.randn(2, 1, 3), torch.randn(2, 1)
    _NarrowLinear.apply(x, w, b).sum().backward()
    torch.testing.assert_close(x.grad, w.expand(2, 4, 3))
    assert w.grad is None and b.grad is None


_FAULTS = """
import resource
from gandemo.tuning import train_here
if {tuned}:
    train_here()
from gandemo.bench import BENCH_CONFIG, stack_step
step = stack_step(BENCH_CONFIG, 8)
for _ in range(20):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


@pytest.mark.slow  # two fresh processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_heap_keeps_a_stacked_steps_tensors_without_page_faults():
    """With ``train_here`` an 8-variant step reuses heap memory for its 0.5 MB activations
    instead of mapping fresh pages each step (a minor fault per page, ~300 per step)."""
    def faults(tuned: bool) -> int:
        out = subprocess.run([sys.executable, "-c", _FAULTS.format(tuned=tuned)],
                             capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    untuned, tuned = faults(False), faults(True)
    assert untuned > 30 * 100  # the default: fresh mappings every step
    assert tuned < untuned / 20
