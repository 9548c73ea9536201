"""Immutable records the trainer publishes and everything downstream reads.

A ``Snapshot`` is the heavy picture of one moment (densities and D on a grid, samples);
``History`` is the light per-step log (scalars). Both are plain NumPy, safe to hand across threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Columns logged for every recorded step (metrics.csv carries them in this order).
SCALAR_COLUMNS = (
    "step",
    "d_loss",  # the plain D loss (penalties in d_penalty), last of the k D steps
    "g_loss",  # the plain G loss (historical averaging in g_penalty)
    "d_penalty",  # λ·GP + (γ/2)·R1 + historical averaging added to d_loss for D's update
    "g_penalty",  # historical averaging term added to g_loss for G's update
    "g_grad_norm",  # ‖∇θ_G L_G‖₂
    "d_grad_norm",  # ‖∇θ_D L_D‖₂
    "x_grad_norm",  # mean over fakes of ‖∇ₓ L_G‖ (× batch size): the signal G receives
    "js",  # JS(p_r‖p_g), nats, in [0, ln 2]
    "kl_rg",  # KL(p_r‖p_g)
    "kl_gr",  # KL(p_g‖p_r)
    "w1",  # Wasserstein-1 (1D exact from samples; 2D sliced)
    "v_opt",  # V(G, D*) = 2·JS − 2·ln 2
    "modes_covered",  # mixtures only (NaN otherwise)
    "hq_share",  # share of samples within 3σ of a mode (NaN for non-mixtures)
    "wall_s",  # seconds since the run started
)


@dataclass(frozen=True)
class Snapshot:
    """One heavy frame. 1D: ``axes=(x,)`` and grid arrays of shape (nx,).
    2D: ``axes=(x, y)`` and grid arrays of shape (ny, nx) (row = y, as Plotly heatmaps expect)."""

    step: int
    dim: int
    axes: tuple[np.ndarray, ...]
    p_r: np.ndarray  # exact (or reference) density of the target on the grid
    p_g: np.ndarray  # binned estimate of the generator's density on the grid
    d_out: np.ndarray  # the discriminator's displayed output on the grid (see Loss.output)
    d_star: np.ndarray | None  # optimal discriminator in the same space, None where no closed form
    real: np.ndarray  # (n, dim) real samples for display
    fake: np.ndarray  # (n, dim) generated samples for display
    fake_push: np.ndarray  # (n, dim) −∇ₓ L_G at each fake: where G is pushed to move it
    metrics: dict[str, float] = field(default_factory=dict)  # the latest scalar row
    js: float = float("nan")  # JS estimate of this frame (metrics.divergences, as the curves)


@dataclass
class History:
    """Columnar scalar log: ``columns[name]`` is a list with one value per recorded step."""

    columns: dict[str, list[float]] = field(
        default_factory=lambda: {c: [] for c in SCALAR_COLUMNS}
    )

    def append(self, row: dict[str, float]) -> None:
        for c in SCALAR_COLUMNS:
            self.columns[c].append(float(row.get(c, np.nan)))

    def __len__(self) -> int:
        return len(self.columns["step"])

    def last(self) -> dict[str, float]:
        return {c: v[-1] for c, v in self.columns.items()} if len(self) else {}

    def downsample(self) -> None:
        """Keep every other row (and always the last): halves memory, keeps the whole time span."""
        n = len(self)
        keep = list(range(0, n - 1, 2)) + [n - 1] if n else []
        self.columns = {c: [v[i] for i in keep] for c, v in self.columns.items()}

    def copy(self) -> History:
        return History({c: list(v) for c, v in self.columns.items()})

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {c: np.asarray(v, dtype=float) for c, v in self.columns.items()}
