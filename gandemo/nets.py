"""Generator and discriminator MLPs for toy data, K at a time.

The networks of K variants of one shape live in one flat (K, P) parameter tensor and each layer
runs as one batched matmul for all K; a single run is K = 1 (there is no second implementation).
Points travel as (K, N, features): row k of every tensor belongs to variant k.

G: z ∈ ℝ^{noise_dim} → x ∈ ℝ^{dim}; D: x → one logit l (no sigmoid inside D) plus its last
hidden features f(x) (input of the output layer; feature matching reads them). Options: spectral
norm on D (per variant: every weight matrix and the minibatch tensor divided by a power-iteration
estimate of its largest singular value), a minibatch-discrimination layer before D's output,
virtual batch normalization in G. Initial weights are PyTorch's default Linear init drawn from a
per-variant ``torch.Generator``, so G's start depends on the seed only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

# In place on the fresh output of a layer (baddbmm/addcmul do not keep their output for backward).
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu_,
    "leaky_relu": partial(F.leaky_relu_, negative_slope=0.2),
    "tanh": torch.tanh_,
    "elu": F.elu_,
}
MBD_KERNELS, MBD_KERNEL_DIM = 8, 4  # minibatch discrimination: B kernels of C dimensions
VBN_REF = 64  # virtual batch normalization: size of the fixed reference batch
SN_EPS = 1e-12  # as torch.nn.utils.parametrizations.spectral_norm
# Elements of one (K, rows, R) block of distances when scoring points against a context batch.
CONTEXT_CHUNK = 1 << 20


def sample_noise(prior: str, n: int, dim: int, gen: torch.Generator) -> Tensor:
    """n draws of z: N(0, I), or U(−1, 1) per coordinate for prior "uniform"."""
    if prior == "uniform":
        return torch.rand(n, dim, generator=gen) * 2 - 1
    return torch.randn(n, dim, generator=gen)


def linear_init(fan_in: int, fan_out: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """PyTorch's default Linear init from ``gen``: W (out, in) kaiming-uniform (a = √5), i.e.
    U(±1/√in) like the bias."""
    bound = 1 / math.sqrt(fan_in)
    w = (torch.rand(fan_out, fan_in, generator=gen) * 2 - 1) * bound
    b = (torch.rand(fan_out, generator=gen) * 2 - 1) * bound
    return w, b


class FlatParams:
    """Named parameters of K networks of one layout in one flat tensor ``flat``: parameter
    ``name`` is a contiguous (K, *shape) block (row k: variant k), blocks one after another;
    ``row_of[j]`` is the variant of element j, and ``grad`` the gradient buffer.
    ``leaves[name]``: the blocks as tensors that require grad and whose ``.grad`` are the
    matching blocks of ``grad``, so one backward of Σ_k L_k fills ``grad`` with every ∇L_k
    (the variants share no parameter); ``views[name]``: the same blocks without grad."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], flat: Tensor, K: int):
        self.shapes, self.flat, self.K = dict(shapes), flat, K
        self.grad = torch.zeros_like(flat)
        self.leaves: dict[str, Tensor] = {}
        self.views: dict[str, Tensor] = {}
        self.blocks: dict[str, slice] = {}
        off = 0
        for name, shape in self.shapes.items():
            size = K * math.prod(shape)
            at = self.blocks[name] = slice(off, off + size)
            leaf = flat[at].view(K, *shape).requires_grad_()
            leaf.grad = self.grad[at].view(K, *shape)
            self.leaves[name] = leaf
            self.views[name] = flat[at].view(K, *shape)
            off += size
        self.row_of = torch.cat([torch.arange(K).repeat_interleave(math.prod(shape))
                                 for shape in self.shapes.values()])

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Tensor]]) -> FlatParams:
        shapes = {name: tuple(t.shape) for name, t in rows[0].items()}
        flat = torch.cat([torch.stack([row[n] for row in rows]).reshape(-1) for n in shapes])
        return cls(shapes, flat, len(rows))

    def take(self, t: Tensor, at: Tensor) -> Tensor:
        """The rows ``at`` of a tensor laid out like ``flat`` (parameters, optimizer state)."""
        return torch.cat([t[b].view(self.K, -1).index_select(0, at).reshape(-1)
                          for b in self.blocks.values()])

    def subset(self, at: Tensor) -> FlatParams:
        """The rows ``at`` in new storage."""
        return FlatParams(self.shapes, self.take(self.flat, at), len(at))

    def rows(self, at: slice | Tensor) -> dict[str, Tensor]:
        """Views (no grad) of the rows ``at``: a slice keeps them views of this storage."""
        if isinstance(at, slice):
            return {n: v[at] for n, v in self.views.items()}
        return {n: v.index_select(0, at) for n, v in self.views.items()}

    def per_row(self, values: Sequence[float]) -> float | Tensor:
        """One value per variant spread over its elements (the shape of ``flat``); a plain
        float when all variants share it (cheaper, and what a single run uses)."""
        values = [float(v) for v in values]
        if len(set(values)) == 1:
            return values[0]
        return torch.tensor(values, dtype=torch.float32)[self.row_of]

    def row_sums(self, elementwise: Tensor) -> Tensor:
        """Σ over each variant's elements of a tensor shaped like ``flat``: (K,) (block by
        block: a few small sums are cheaper than one index_add over every element)."""
        if self.K == 1:
            return elementwise.sum().view(1)
        return torch.stack([elementwise[b].view(self.K, -1).sum(1)
                            for b in self.blocks.values()]).sum(0)

    def row_mask(self, row: int) -> Tensor:
        """Which elements of ``flat`` belong to variant ``row``."""
        return self.row_of == row


NARROW = 2


class _NarrowLinear(torch.autograd.Function):
    """x·Wᵀ + b for a layer with few inputs or outputs (a point's coordinates, z, D's logit),
    with a backward that lays out its batched matmuls as the fast case of the CPU kernels:
    the narrow side as the rows of the left factor. Autograd's own backward of ``baddbmm``
    computes ∇W = xᵀ·g as a (64 × B)·(B × 1) product and ∇x of a 1- or 2-input layer as
    (B × 64)·(64 × 1): 5–10× slower than the transposed products here (bench/engine_bench.py).
    Differentiable twice (gradient penalties): the backward is made of differentiable ops."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(x, w)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, g: Tensor):
        x, w = ctx.saved_tensors
        n_out, n_in = w.shape[1:]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            if n_out == 1:  # an outer product: a broadcast product beats bmm ~5×
                gx = g * w
            elif n_in <= NARROW:
                gx = torch.bmm(w.transpose(1, 2), g.transpose(1, 2)).transpose(1, 2)
            else:
                gx = torch.bmm(g, w)
        if ctx.needs_input_grad[1]:
            gw = (torch.bmm(g.transpose(1, 2), x) if n_out <= n_in
                  else torch.bmm(x.transpose(1, 2), g).transpose(1, 2))
        if ctx.needs_input_grad[2]:
            gb = g.sum(1)
        return gx, gw, gb


def _linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """x (K, N, in) → x·Wᵀ + b for weights (K, out, in), biases (K, out); an outer product
    b + x·w when in = 1 (a batched matmul with inner size 1 is slow); stacked layers with at
    most NARROW inputs or outputs through ``_NarrowLinear`` (for one network autograd's own
    backward is the faster: a custom Function's Python call costs more than it saves)."""
    if w.shape[-1] == 1:
        return torch.addcmul(b.unsqueeze(1), x, w.transpose(1, 2))
    if w.shape[0] > 1 and min(w.shape[1:]) <= NARROW:
        return _NarrowLinear.apply(x, w, b)
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


def _normalize(t: Tensor) -> Tensor:
    return F.normalize(t, dim=-1, eps=SN_EPS)


class SpectralNorm:
    """W/σ(W) per variant, σ from one power-iteration step per D update (Miyato et al. 2018; as
    torch's ``spectral_norm``: v ← Wᵀu/‖·‖, u ← Wv/‖·‖, σ = uᵀWv with u, v constants for the
    gradient). ``mask`` (K,) says which variants are normalised (the others use W as is).
    Matrices are the weights (out, in) and the minibatch tensor T (in, B·C), as stored."""

    def __init__(self, names: list[str], u: dict[str, Tensor], v: dict[str, Tensor], mask: Tensor):
        self.names, self.u, self.v, self.mask = names, u, v, mask
        self.any = bool(mask.any())  # most stacks normalise no variant: nothing to do per pass

    @classmethod
    def init(cls, names: list[str], shapes: dict[str, tuple[int, ...]], masks: Sequence[bool],
             gens: Sequence[torch.Generator]) -> SpectralNorm:
        """u, v of the normalised variants drawn from their generators (after their weights)."""
        u = {n: torch.zeros(len(gens), shapes[n][0]) for n in names}
        v = {n: torch.zeros(len(gens), shapes[n][1]) for n in names}
        for k, (on, gen) in enumerate(zip(masks, gens, strict=True)):
            if on:
                for n in names:
                    u[n][k] = _normalize(torch.randn(shapes[n][0], generator=gen))
                    v[n][k] = _normalize(torch.randn(shapes[n][1], generator=gen))
        return cls(names, u, v, torch.tensor(list(masks)))

    def subset(self, at: Tensor) -> SpectralNorm:
        return SpectralNorm(self.names, {n: t.index_select(0, at) for n, t in self.u.items()},
                            {n: t.index_select(0, at) for n, t in self.v.items()},
                            self.mask.index_select(0, at))

    def apply(self, p: dict[str, Tensor], at: slice | Tensor = slice(None),
              advance: bool = False) -> dict[str, Tensor]:
        """The parameters with every normalised matrix divided by its σ; ``at``: which rows of
        the stored vectors ``p`` belongs to; ``advance``: one power-iteration step first."""
        out = dict(p)
        if not self.any:
            return out
        mask = self.mask[at]
        if not bool(mask.any()):
            return out
        for n in self.names:
            w = p[n]
            if advance:
                with torch.no_grad():
                    u = self.u[n][at].unsqueeze(-1)
                    v = _normalize(torch.bmm(w.transpose(1, 2), u)[..., 0])
                    u = _normalize(torch.bmm(w, v.unsqueeze(-1))[..., 0])
                    self.u[n][at], self.v[n][at] = u, v
            u, v = self.u[n][at], self.v[n][at]
            sigma = (u * torch.bmm(w, v.unsqueeze(-1))[..., 0]).sum(-1)
            out[n] = w / torch.where(mask, sigma, torch.ones_like(sigma)).view(-1, 1, 1)
        return out


def _closeness(m: Tensor, other: Tensor, skip_self: bool = False) -> Tensor:
    """o_{i,b} = Σ_j exp(−‖m_{i,b} − other_{j,b}‖₁) for kernels m (..., n, B, C) and other
    (..., R, B, C), as (..., n, B): one (n, R) block, differentiable twice (gradient penalties).
    ``skip_self`` leaves out j = i (``other`` is then the same batch as ``m``)."""
    e = torch.exp(-(m.unsqueeze(-3) - other.unsqueeze(-4)).abs().sum(-1))
    if skip_self:
        e = e * (1.0 - torch.eye(m.shape[-3], other.shape[-3])).unsqueeze(-1)
    return e.sum(-2)


def _context_closeness(m: Tensor, other: Tensor) -> Tensor:
    """The same sums for m (K, n, B, C) against other (K, R, B, C), computed by rows in blocks
    of at most ``CONTEXT_CHUNK`` distances (L1 via ``cdist``): memory O(R) per row, whatever n."""
    K, n, nb, c = m.shape
    other_k = other.permute(0, 2, 1, 3).reshape(K * nb, -1, c)  # (K·B, R, C)
    rows = max(1, CONTEXT_CHUNK // max(1, other_k.shape[0] * other_k.shape[1]))
    parts = []
    for a in range(0, n, rows):
        part = m[:, a:a + rows].permute(0, 2, 1, 3).reshape(K * nb, -1, c)
        close = torch.exp(-torch.cdist(part, other_k, p=1)).sum(-1)  # (K·B, r)
        parts.append(close.view(K, nb, -1).transpose(1, 2))
    return torch.cat(parts, 1) if parts else m.new_zeros(K, 0, nb)


class GeneratorNet:
    """x = G(z) for K variants: ``depth`` hidden layers of ``width`` units (activation after
    each, virtual batch norm before it with ``vbn``) and a linear output.

    Virtual batch norm (Salimans et al. 2016): each example is normalised with the statistics of
    a fixed reference batch plus itself, μ_i = (Σ_ref h + h_i)/(R+1), σ²_i likewise, then scaled
    by γ and shifted by β; the reference z (``z_ref``, R = VBN_REF draws per variant) travel in
    front of the batch."""

    def __init__(self, depth: int, activation: str, params: FlatParams, z_ref: Tensor | None):
        self.depth, self.activation, self.params, self.z_ref = depth, activation, params, z_ref
        self.act = ACTIVATIONS[activation]

    @classmethod
    def init(cls, noise_dim: int, dim: int, width: int, depth: int, activation: str,
             gens: Sequence[torch.Generator], vbn: bool, priors: Sequence[str]) -> GeneratorNet:
        rows, refs = [], []
        for gen, prior in zip(gens, priors, strict=True):
            row: dict[str, Tensor] = {}
            sizes = [noise_dim] + [width] * depth + [dim]
            for n, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                row[f"W{n}"], row[f"b{n}"] = linear_init(a, b, gen)
                if vbn and n < depth:
                    row[f"gamma{n}"], row[f"beta{n}"] = torch.ones(b), torch.zeros(b)
            rows.append(row)
            if vbn:
                refs.append(sample_noise(prior, VBN_REF, noise_dim, gen))
        return cls(depth, activation, FlatParams.from_rows(rows),
                   torch.stack(refs) if vbn else None)

    def subset(self, at: Tensor) -> GeneratorNet:
        return GeneratorNet(self.depth, self.activation, self.params.subset(at),
                            None if self.z_ref is None else self.z_ref.index_select(0, at))

    def __call__(self, z: Tensor, p: dict[str, Tensor], at: slice | Tensor = slice(None)) -> Tensor:
        """(K, N, noise_dim) → (K, N, dim) with parameters ``p`` of the variants ``at``."""
        r = 0
        if self.z_ref is not None:
            ref = self.z_ref[at]
            r = ref.shape[1]
            z = torch.cat([ref, z], 1)
        h = z
        for n in range(self.depth + 1):
            h = _linear(h, p[f"W{n}"], p[f"b{n}"])
            if n == self.depth:
                break
            if r:
                h = _virtual_batch_norm(h, r, p[f"gamma{n}"], p[f"beta{n}"])
            h = self.act(h)
        return h[:, r:]


def _virtual_batch_norm(h: Tensor, r: int, gamma: Tensor, beta: Tensor,
                        eps: float = 1e-5) -> Tensor:
    """(h − μ_i)/√(σ²_i + ε)·γ + β with μ_i, σ²_i over the first r rows (the reference) plus i."""
    ref = h[:, :r]
    s1, s2 = ref.sum(1, keepdim=True), (ref * ref).sum(1, keepdim=True)
    mean = (s1 + h) / (r + 1)
    var = ((s2 + h * h) / (r + 1) - mean * mean).clamp_min(0)
    return (h - mean) / torch.sqrt(var + eps) * gamma.unsqueeze(1) + beta.unsqueeze(1)


class DiscriminatorNet:
    """l = D(x) for K variants: ``depth`` hidden layers, then (with ``minibatch``) the minibatch
    features, then a linear output to one raw logit / critic value per point.

    Minibatch discrimination (Salimans et al. 2016): M_i = f(x_i)·T ∈ ℝ^{B×C};
    o(x_i)_b = Σ_{j≠i} exp(−‖M_{i,b} − M_{j,b}‖₁) over the other members j of x_i's batch; the
    output layer reads [f(x_i), o(x_i)], so D sees how alike the samples of a batch are."""

    def __init__(self, depth: int, activation: str, params: FlatParams, minibatch: bool,
                 sn: SpectralNorm):
        self.depth, self.activation, self.params = depth, activation, params
        self.act = ACTIVATIONS[activation]
        self.minibatch, self.sn = minibatch, sn

    @classmethod
    def init(cls, dim: int, width: int, depth: int, activation: str,
             gens: Sequence[torch.Generator], minibatch: bool,
             spectral: Sequence[bool]) -> DiscriminatorNet:
        rows = []
        for gen in gens:
            row: dict[str, Tensor] = {}
            sizes = [dim] + [width] * depth
            for n, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                row[f"W{n}"], row[f"b{n}"] = linear_init(a, b, gen)
            if minibatch:
                row["T"] = torch.randn(width, MBD_KERNELS * MBD_KERNEL_DIM, generator=gen) * 0.1
            row["W_out"], row["b_out"] = linear_init(width + (MBD_KERNELS if minibatch else 0),
                                                     1, gen)
            rows.append(row)
        params = FlatParams.from_rows(rows)
        names = [f"W{n}" for n in range(depth)] + ["W_out"] + (["T"] if minibatch else [])
        sn = SpectralNorm.init(names, params.shapes, spectral, gens)
        return cls(depth, activation, params, minibatch, sn)

    def subset(self, at: Tensor) -> DiscriminatorNet:
        return DiscriminatorNet(self.depth, self.activation, self.params.subset(at),
                                self.minibatch, self.sn.subset(at))

    def effective(self, p: dict[str, Tensor], at: slice | Tensor = slice(None),
                  advance: bool = False) -> dict[str, Tensor]:
        """The parameters D computes with: spectral norm applied (see ``SpectralNorm.apply``)."""
        return self.sn.apply(p, at, advance)

    def body(self, x: Tensor, p: dict[str, Tensor]) -> Tensor:
        h = x
        for n in range(self.depth):
            h = self.act(_linear(h, p[f"W{n}"], p[f"b{n}"]))
        return h

    def features(self, x: Tensor, p: dict[str, Tensor], groups: int = 1,
                 context: Tensor | None = None, hold_others: bool = False) -> Tensor:
        """f(x) (K, N, F) for effective parameters ``p``, minibatch features appended. The batch
        of a point, for minibatch discrimination: by default x splits into ``groups`` batches
        of N/groups consecutive points (real and fake in one pass); with ``context``
        (K, R, dim), each x_i is scored as a member of {x_i} ∪ context (chunked: grid points in
        a batch of fakes); with ``hold_others`` the batch is x, the other members entering as
        constants (their dependence on D's parameters kept), so ∇_{x_i} Σ_j D(x_j) is the
        per-sample ∂D(x_i)/∂x_i the penalties need."""
        f = self.body(x, p)
        if not self.minibatch:
            return f
        K, N = f.shape[:2]

        def kernels(h: Tensor) -> Tensor:
            return torch.bmm(h, p["T"]).view(K, h.shape[1], MBD_KERNELS, MBD_KERNEL_DIM)

        m = kernels(f)
        if context is not None:
            o = _context_closeness(m, kernels(self.body(context, p)))
        elif hold_others:
            o = _closeness(m, kernels(self.body(x.detach(), p)), skip_self=True)
        else:
            mg = m.view(K, groups, N // groups, MBD_KERNELS, MBD_KERNEL_DIM)
            o = (_closeness(mg, mg) - 1.0).view(K, N, MBD_KERNELS)  # −1: the term j = i
        return torch.cat([f, o], -1)

    def logits(self, f: Tensor, p: dict[str, Tensor]) -> Tensor:
        """Output layer: features (K, N, F) → logits (K, N)."""
        return _linear(f, p["W_out"], p["b_out"])[..., 0]

    def __call__(self, x: Tensor, p: dict[str, Tensor], **batch) -> Tensor:
        """Logits (K, N) of points (K, N, dim); ``batch`` as in ``features``."""
        return self.logits(self.features(x, p, **batch), p)
