"""Generator and discriminator MLPs for toy data, seeded without touching global RNG state.

G: z ∈ ℝ^{noise_dim} → x ∈ ℝ^{dim}; D: x → one logit (no sigmoid inside D) plus the last hidden
features f(x) used by feature matching. Options: spectral norm on D, a minibatch-discrimination
layer before D's output, virtual batch normalization in G.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

ACTIVATION_LAYERS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
}


def init_linear(layer: nn.Linear, gen: torch.Generator) -> None:
    """PyTorch's default Linear init (kaiming-uniform, a=√5), drawn from ``gen``."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=gen)
    bound = 1 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.bias, -bound, bound, generator=gen)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: M_i = f(x_i)·T ∈ ℝ^{K×C}; o(x_i)_k = Σ_j exp(−‖M_{i,k} − M_{j,k}‖₁);
    output [f(x_i), o(x_i)]. Lets D see how similar the samples of a batch are (mode collapse)."""

    def __init__(self, in_features: int, gen: torch.Generator, kernels=8, kernel_dim=4):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim, generator=gen) * 0.1)

    def forward(self, f: Tensor) -> Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)
        dist = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)  # (B, B, K) L1 distances
        o = torch.exp(-dist).sum(1) - 1.0  # exclude the sample itself (exp(0) = 1)
        return torch.cat([f, o], dim=1)


class VirtualBatchNorm(nn.Module):
    """Virtual batch norm (Salimans 2016): each example is normalised with the statistics of a fixed
    reference batch plus itself: μ_i = (Σ_ref h + h_i)/(R+1), σ²_i likewise. The reference rows
    travel in front of the batch (see ``Generator``)."""

    def __init__(self, features: int, ref_size: int, eps: float = 1e-5):
        super().__init__()
        self.ref_size, self.eps = ref_size, eps
        self.gamma = nn.Parameter(torch.ones(features))
        self.beta = nn.Parameter(torch.zeros(features))

    def forward(self, h: Tensor) -> Tensor:
        ref = h[: self.ref_size]
        n = self.ref_size + 1
        s1, s2 = ref.sum(0), (ref * ref).sum(0)
        mean = (s1 + h) / n
        var = ((s2 + h * h) / n - mean * mean).clamp_min(0)
        return (h - mean) / torch.sqrt(var + self.eps) * self.gamma + self.beta


def _hidden_stack(sizes: list[int], activation: str, gen, vbn_ref: int = 0) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = nn.Linear(a, b)
        init_linear(lin, gen)
        layers.append(lin)
        if vbn_ref:
            layers.append(VirtualBatchNorm(b, vbn_ref))
        layers.append(ACTIVATION_LAYERS[activation]())
    return layers


class Generator(nn.Module):
    """x = G(z): an MLP with ``depth`` hidden layers of ``width`` units and a linear output."""

    VBN_REF = 64

    def __init__(self, noise_dim, dim, width, depth, activation, gen, vbn=False, noise="normal"):
        super().__init__()
        self.noise_dim, self.noise = noise_dim, noise
        ref = self.VBN_REF if vbn else 0
        sizes = [noise_dim] + [width] * depth
        self.body = nn.Sequential(*_hidden_stack(sizes, activation, gen, ref))
        self.out = nn.Linear(width, dim)
        init_linear(self.out, gen)
        self.register_buffer("z_ref", self.sample_noise(ref, gen) if vbn else torch.empty(0))

    def sample_noise(self, n: int, gen: torch.Generator) -> Tensor:
        if self.noise == "uniform":
            return torch.rand(n, self.noise_dim, generator=gen) * 2 - 1
        return torch.randn(n, self.noise_dim, generator=gen)

    def forward(self, z: Tensor) -> Tensor:
        r = len(self.z_ref)
        if r:
            z = torch.cat([self.z_ref, z])
        return self.out(self.body(z))[r:]


class Discriminator(nn.Module):
    """l = D(x): an MLP returning one raw logit/critic value per sample; ``features(x)`` is its last
    hidden layer f(x) (input to the output layer)."""

    def __init__(self, dim, width, depth, activation, gen, spectral_norm=False, minibatch=False):
        super().__init__()
        self.body = nn.Sequential(*_hidden_stack([dim] + [width] * depth, activation, gen))
        self.mbd = MinibatchDiscrimination(width, gen) if minibatch else None
        self.out = nn.Linear(width + (self.mbd.kernels if minibatch else 0), 1)
        init_linear(self.out, gen)
        if spectral_norm:
            for m in self.linears():
                _spectral_norm(m)
                # the power-iteration vectors are drawn from the global RNG: redraw them from gen
                p = m.parametrizations.weight[0]
                p._u.copy_(nn.functional.normalize(torch.randn(p._u.shape, generator=gen), dim=0))
                p._v.copy_(nn.functional.normalize(torch.randn(p._v.shape, generator=gen), dim=0))

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.modules() if isinstance(m, nn.Linear)]

    def features(self, x: Tensor) -> Tensor:
        f = self.body(x)
        return self.mbd(f) if self.mbd is not None else f

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x)).squeeze(-1)
