"""Generator and discriminator MLPs for toy data, seeded without touching global RNG state.

G: z ∈ ℝ^{noise_dim} → x ∈ ℝ^{dim}; D: x → one logit (no sigmoid inside D) plus the last hidden
features f(x) used by feature matching. Options: spectral norm on D (every weight and the
minibatch tensor), a minibatch-discrimination layer before D's output, virtual batch
normalization in G.
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


# Elements of one (K, rows, R) block of distances when scoring points against a context batch.
CONTEXT_CHUNK = 1 << 20


def _pairwise_closeness(m: Tensor, other: Tensor, skip_self: bool = False) -> Tensor:
    """c_{i,k} = Σ_j exp(−‖m_{i,k} − other_{j,k}‖₁) for (n, K, C) and (R, K, C) kernels, as (n, K):
    one (n, R, K) block, differentiable twice (gradient penalties). ``skip_self`` leaves out
    j = i (``other`` is then the same batch as ``m``)."""
    e = torch.exp(-(m.unsqueeze(1) - other.unsqueeze(0)).abs().sum(-1))
    if skip_self:
        e = e * (1.0 - torch.eye(len(m), len(other), dtype=e.dtype)).unsqueeze(-1)
    return e.sum(1)


def _context_closeness(m: Tensor, other: Tensor) -> Tensor:
    """The same sums, Σ_j exp(−‖m_{i,k} − other_{j,k}‖₁), computed by rows in blocks of at most
    ``CONTEXT_CHUNK`` distances (L1 via ``cdist``): time O(n·R), memory O(R) per row, whatever n."""
    other_k = other.transpose(0, 1).contiguous()  # (K, R, C)
    rows = max(1, CONTEXT_CHUNK // max(1, other_k.shape[0] * other_k.shape[1]))
    parts = []
    for a in range(0, len(m), rows):
        dist = torch.cdist(m[a:a + rows].transpose(0, 1).contiguous(), other_k, p=1)  # (K, r, R)
        parts.append(torch.exp(-dist).sum(2).T)
    return torch.cat(parts) if parts else m.new_zeros(0, m.shape[1])


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: M_i = f(x_i)·T ∈ ℝ^{K×C}; o(x_i)_k = Σ_{j≠i} exp(−‖M_{i,k} − M_{j,k}‖₁)
    over the other members j of x_i's batch; output [f(x_i), o(x_i)]. Lets D see how similar the
    samples of a batch are (mode collapse)."""

    def __init__(self, in_features: int, gen: torch.Generator, kernels=8, kernel_dim=4):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim, generator=gen) * 0.1)

    def forward(self, f: Tensor, others: Tensor | None = None, hold_others: bool = False) -> Tensor:
        """[f, o] for features f (n, in). ``others`` None: the batch is f itself. Otherwise the
        features (R, in) of the rest of the batch: each row i of f is scored as a member of
        {f_i} ∪ others (``hold_others``: ``others`` is f again, as a constant copy, and j = i is
        left out)."""
        if others is None:
            m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)
            # −1: the sample itself (exp(0) = 1); the same numbers as Σ_{j≠i}
            return torch.cat([f, _pairwise_closeness(m, m) - 1.0], dim=1)
        m, m_o = (torch.cat([f, others]) @ self.T).view(-1, self.kernels, self.kernel_dim).split(
            [len(f), len(others)])
        if hold_others:
            o = _pairwise_closeness(m, m_o, skip_self=True)
        else:
            o = _context_closeness(m, m_o)
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
    hidden layer f(x) (input to the output layer). With minibatch discrimination D(x_i) depends on
    the other members of x_i's batch (see ``forward``). Spectral norm divides every Linear weight
    and the minibatch tensor T by their largest singular value."""

    def __init__(self, dim, width, depth, activation, gen, spectral_norm=False, minibatch=False):
        super().__init__()
        self.body = nn.Sequential(*_hidden_stack([dim] + [width] * depth, activation, gen))
        self.mbd = MinibatchDiscrimination(width, gen) if minibatch else None
        self.out = nn.Linear(width + (self.mbd.kernels if minibatch else 0), 1)
        init_linear(self.out, gen)
        if spectral_norm:
            normalised = [(m, "weight") for m in self.linears()]
            if self.mbd is not None:
                normalised.append((self.mbd, "T"))
            for m, name in normalised:
                _spectral_norm(m, name)
                # the power-iteration vectors are drawn from the global RNG: redraw them from gen
                p = getattr(m.parametrizations, name)[0]
                p._u.copy_(nn.functional.normalize(torch.randn(p._u.shape, generator=gen), dim=0))
                p._v.copy_(nn.functional.normalize(torch.randn(p._v.shape, generator=gen), dim=0))

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.modules() if isinstance(m, nn.Linear)]

    def features(self, x: Tensor, context: Tensor | None = None,
                 hold_others: bool = False) -> Tensor:
        """f(x), with the minibatch features appended (batch as in ``forward``)."""
        if self.mbd is None:
            return self.body(x)
        if context is None and not hold_others:
            return self.mbd(self.body(x))
        others = x.detach() if hold_others else context
        f, f_o = self.body(torch.cat([x, others])).split([len(x), len(others)])
        return self.mbd(f, f_o, hold_others)

    def forward(self, x: Tensor, context: Tensor | None = None,
                hold_others: bool = False) -> Tensor:
        """D(x_i) for each row. Minibatch discrimination compares x_i with the other members of
        its batch: by default the rows of x; with ``context`` (R, dim), each x_i is scored as a
        member of the batch {x_i} ∪ context (grid points in a batch of fakes, in chunks); with
        ``hold_others`` the batch is x, but the other members enter as constants of x (their
        dependence on D's parameters kept), so ∇_{x_i} Σ_j D(x_j) = ∂D(x_i)/∂x_i with x_{j≠i}
        fixed: the per-sample gradient the penalties need. Without minibatch discrimination all
        three are the plain per-sample D(x)."""
        return self.out(self.features(x, context, hold_others)).squeeze(-1)
