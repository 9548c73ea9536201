"""What one run may cost this server, predicted from its settings before it starts.

* ``Cost`` (``predict(cfg)``): seconds of one training step and of one snapshot (the frame the
  pages draw) on one busy core, and megabytes a run keeps (``resident_mb``: nets, optimizer
  state, evaluation buffers, history, replay frames) and needs on top while it computes
  (``working_mb``: activations, minibatch-discrimination distances, the snapshot's grid pass).
* ``Limits``: the server's caps (``GANDEMO_*`` environment variables, see docs/deploy.md).
  ``check(cfg)`` refuses a configuration whose sizes or predicted costs exceed them, with one
  ``ConfigError`` naming the setting to lower and the cap.

The model (parameter counts n_G, n_D; batch B; k D steps; u unrolled steps; one pass is a
forward and backward through both nets; grid size m; evaluation samples e every L steps):

    passes  = k + 1 + 3u
    step_s  = passes·(a₀ + a₁·B·(n_G + n_D) + [mbd]·B²·K·C·(a₂ + a₃·B/256))
              + a₄·[gp or R1]·k·B·n_D + (b₀ + b₁·e·n_G + b₂·e + b₃·m) / L
    snap_s  = c₀ + c₁·e·n_G + c₂·e·dim + c₃·m·n_D + c₄·[mbd]·m·B·K·C + c₅·S·(n_G + n_D)
              + c₆·[mbd]·S²·K·C

(the B³ term: the (B, B, K·C) distances outgrow the caches beyond B ≈ 256), where K·C = 32
minibatch features (8 kernels × 4 dims) and S = 300 displayed samples. Minibatch
discrimination's display path scores the grid in chunks against a fixed batch of B − 1 fakes
(trainer), so its snapshot term is linear in m. The coefficients are seconds per unit, fitted on
this project's 2-core development machine by ``bench/cost_model.py --fit`` (which also prints
predicted vs measured seconds for a spread of configurations).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .config import ConfigError, RunConfig

MB_FEATURES = 8 * 4  # minibatch discrimination: kernels × kernel dims (nets)
DISPLAY_SAMPLES = 300  # samples drawn (and pushed) in a frame (trainer.DISPLAY_SAMPLES)
GRID_POINTS = {1: 400, 2: 64 * 64}  # points where D and the densities are drawn (trainer)
HISTORY_COLUMNS = 20  # scalar columns in a history row (snapshot.SCALAR_COLUMNS, rounded up)
# Resident memory of one worker process before its runs (torch, scipy, the estimators; measured
# 250-330 MiB here and in the container) plus the freed heap it keeps for the next steps (up to
# tuning.TRIM_THRESHOLD; +15-18 MB measured after three presets): kept out of the default
# memory budget for runs.
WORKER_RESIDENT_MB = 360

# Seconds per unit of each feature (see ``features``); fitted by bench/cost_model.py --fit.
STEP_COEF = {"pass": 1.3e-3, "mac": 1.1e-10, "mbd": 3.8e-9, "mbd_big": 1.6e-8,
             "penalty": 1.8e-9, "eval_fixed": 0.0, "eval_mac": 1.0e-10, "eval_sample": 8.7e-7,
             "eval_grid": 5.5e-6}
SNAP_COEF = {"snap_fixed": 1.1e-3, "snap_eval_mac": 4.5e-11, "snap_eval_sample": 7.0e-7,
             "snap_grid_mac": 8.5e-11, "snap_mbd": 1.5e-9, "snap_push": 8.7e-11,
             "snap_push_mbd": 1.1e-8}
# Which setting to lower when a term is too large (named in the refusal).
_DRIVER = {"mbd": "batch", "mbd_big": "batch", "eval_mac": "eval_samples",
           "eval_sample": "eval_samples", "eval_grid": "log_every", "snap_eval_mac": "eval_samples",
           "snap_eval_sample": "eval_samples", "snap_mbd": "batch", "snap_push_mbd": "batch"}


def _env_int(name: str, default: int) -> int:
    """A positive integer from the environment; garbage falls back to ``default``."""
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def _env_flag(name: str, default: bool) -> bool:
    """On/off from the environment: "0", "false", "no" or "off" is off; unset gives ``default``."""
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in ("0", "false", "no", "off")


def _dim(cfg: RunConfig) -> int:
    from .targets import get_target

    return get_target(cfg.target).dim


def param_counts(cfg: RunConfig) -> tuple[int, int]:
    """(n_G, n_D): weights and biases of the generator and the discriminator MLPs."""
    dim = _dim(cfg)

    def mlp(n_in: int, width: int, depth: int, n_out: int) -> int:
        sizes = [n_in] + [width] * depth
        hidden = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        return hidden + (width + 1) * n_out

    n_g = mlp(cfg.noise_dim, cfg.g_width, cfg.g_depth, dim)
    n_d = mlp(dim, cfg.d_width, cfg.d_depth, 1)
    if cfg.minibatch_disc:
        n_d += cfg.d_width * MB_FEATURES + 8
    return n_g, n_d


@dataclass(frozen=True)
class Cost:
    """Predicted cost of one run (seconds on one busy core; megabytes)."""

    step_s: float  # one training step, the metrics amortised over log_every steps
    snapshot_s: float  # one published frame
    resident_mb: float  # kept while the run exists (grows to this as frames accumulate)
    working_mb: float  # extra while one of its slices computes (a step or a snapshot)
    terms: dict  # seconds of each term of step_s and snapshot_s (which setting dominates)

    @property
    def need_mb(self) -> float:
        return self.resident_mb + self.working_mb


def features(cfg: RunConfig) -> dict[str, float]:
    """The model's inputs for ``cfg`` (units of the coefficients)."""
    n_g, n_d = param_counts(cfg)
    b, k, u = cfg.batch, cfg.d_steps, cfg.unrolled
    mbd = 1.0 if cfg.minibatch_disc else 0.0
    penalty = 1.0 if (cfg.effective_gp() > 0 or cfg.r1_gamma > 0) else 0.0
    m, e, s = GRID_POINTS[_dim(cfg)], cfg.eval_samples, min(DISPLAY_SAMPLES, cfg.eval_samples)
    passes = k + 1 + 3 * u  # an unrolled step: a D step and its differentiable replay
    return {
        "pass": passes, "mac": passes * b * (n_g + n_d), "mbd": mbd * passes * b * b * MB_FEATURES,
        "mbd_big": mbd * passes * b * b * MB_FEATURES * b / 256,
        "penalty": penalty * k * b * n_d,
        "eval_fixed": 1 / cfg.log_every, "eval_mac": e * n_g / cfg.log_every,
        "eval_sample": e / cfg.log_every, "eval_grid": m / cfg.log_every,
        "snap_fixed": 1.0, "snap_eval_mac": e * n_g, "snap_eval_sample": e * _dim(cfg),
        "snap_grid_mac": m * n_d, "snap_mbd": mbd * m * b * MB_FEATURES,
        "snap_push": s * (n_g + n_d), "snap_push_mbd": mbd * s * s * MB_FEATURES,
    }


def _terms(f: dict[str, float]) -> dict[str, float]:
    """Seconds of each feature: coefficient × value (step terms, then snapshot terms)."""
    return {k: c * f[k] for k, c in (STEP_COEF | SNAP_COEF).items()}


def predict(cfg: RunConfig, max_frames: int = 120, max_rows: int = 4000) -> Cost:
    """Seconds and megabytes of one run of ``cfg`` (see the module docstring for the model).

    Memory, in float32 (4 B) unless noted: parameters × 4 copies (weights, gradient, two
    optimizer moments); evaluation buffers e·(noise_dim + dim); history max_rows × columns ×
    8 B × 2 (the log and the published arrays); frames max_frames × (3 grid arrays of 8 B +
    the fake samples e·dim + pushes). Working set: activations 2B·(widths·depths)·(1 + 2u + 2)
    and, with minibatch discrimination, the (B, B, K·C) distance tensor with its gradient
    (× 3); the snapshot's pass over the grid (m·d_width, or m·B·K·C per chunk of 256 points)."""
    f = features(cfg)
    terms = _terms(f)
    step_s = sum(terms[k] for k in STEP_COEF)
    snap_s = sum(terms[k] for k in SNAP_COEF)
    n_g, n_d = param_counts(cfg)
    dim, e, b, m = _dim(cfg), cfg.eval_samples, cfg.batch, GRID_POINTS[_dim(cfg)]
    mb = 2**20
    frame = 3 * m * 8 + e * dim * 4 + DISPLAY_SAMPLES * dim * 8 + 2048
    resident = (
        4 * 4 * (n_g + n_d) + e * (cfg.noise_dim + 2 * dim) * 4 + 4 * m * 8
        + max_rows * HISTORY_COLUMNS * 8 * 2 + max_frames * frame
    ) / mb + 1.0  # + ~1 MB of Python objects, modules' state per Trainer
    widths = cfg.g_width * cfg.g_depth + cfg.d_width * cfg.d_depth
    act = 4 * 2 * b * widths * (3 + 2 * cfg.unrolled)
    mbd = 3 * 4 * b * b * MB_FEATURES * (1 + cfg.unrolled) if cfg.minibatch_disc else 0
    snap = 4 * 3 * (m * cfg.d_width + e * cfg.g_width)
    if cfg.minibatch_disc:
        snap += 3 * 4 * max(min(256, m) * b, DISPLAY_SAMPLES ** 2) * MB_FEATURES
    working = max(act + mbd, snap) / mb
    return Cost(step_s, snap_s, resident, working, terms)


def memory_budget_mb(reserve_mb: int = 0) -> int:
    """Memory the scheduler may give runs: ``GANDEMO_MEMORY_MB``, else 3/4 of what is available
    now (the smaller of free RAM and the container's cgroup limit minus its usage) less
    ``reserve_mb`` (the worker processes, not started yet)."""
    if os.environ.get("GANDEMO_MEMORY_MB"):
        return _env_int("GANDEMO_MEMORY_MB", 2048)
    import psutil

    avail = psutil.virtual_memory().available
    try:  # cgroup v2: a container's --memory limit, which psutil does not see
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(64, int(0.75 * avail / 2**20) - reserve_mb)


# The reference step (1 unit of step_work): RunConfig's defaults, 2×64 MLPs, batch 256, k = 1.
_REFERENCE = RunConfig(target="gaussian", batch=256, g_width=64, d_width=64, g_depth=2,
                       d_depth=2, d_steps=1, eval_samples=2000, log_every=10)


def step_work(cfg: RunConfig) -> float:
    """Predicted seconds of one step of ``cfg`` over those of the reference step (1.0)."""
    return predict(cfg).step_s / predict(_REFERENCE).step_s


def _culprit(cfg: RunConfig, terms: dict[str, float], keys) -> str:
    """The setting to lower first: the driver of the largest of ``keys``' terms."""
    top = max(keys, key=terms.__getitem__)
    if top in _DRIVER:
        return _DRIVER[top]
    if cfg.d_steps + 2 * cfg.unrolled > 8 and top in ("pass", "mac", "penalty"):
        return "d_steps"  # k and unrolled steps multiply the passes (the message names both)
    if top in ("pass", "snap_fixed"):
        return "d_steps"
    return "d_width" if cfg.d_width * cfg.d_depth >= cfg.g_width * cfg.g_depth else "g_width"


@dataclass
class Limits:
    """Per-run and process-wide bounds (classroom safety), overridable by environment variables.

    Runs are time-sliced over ``workers`` workers (processes unless ``processes`` is off); a
    started run trains at once unless the memory ``memory_mb`` (or the count ``max_running``)
    is in use, then it waits in line with the reason. One step cannot be interrupted, so its
    cost is capped (``max_step_work`` in units of the reference step), as is a snapshot's
    (``max_snapshot_ms``)."""

    workers: int = field(default_factory=lambda: _env_int("GANDEMO_WORKERS", os.cpu_count() or 1))
    # train in worker processes (one per worker; 0 = in the server's own process): see hosts.py
    processes: bool = field(default_factory=lambda: _env_flag("GANDEMO_PROCESSES", True))
    max_running: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_RUNNING", 64))
    memory_mb: int = 0  # 0: memory_budget_mb(), less the worker processes' own memory
    max_steps: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_STEPS", 50_000))
    max_run_s: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_RUN_SECONDS", 900))
    max_width: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_WIDTH", 256))
    max_batch: int = field(default_factory=lambda: _env_int("GANDEMO_MAX_BATCH", 1024))
    max_rows: int = 4000  # history rows kept per run (then thinned by 2)
    max_frames: int = 120  # frames kept for replay per run (then thinned by 2)
    # snapshots published per second while running (fewer under load or when a frame is slow):
    # measured with bench/live_rate.py, 12 gives 9 visible updates/s on a 1D Train page (p90 gap
    # 180 ms) where 8 gave 4.9/s (p90 404 ms); 2D stays browser-bound at 4-4.7/s either way
    fps: float = 12.0
    slice_s: float = 0.05  # training time a run gets per turn on a worker
    heartbeat_s: float = field(default_factory=lambda: _env_int("GANDEMO_HEARTBEAT_SECONDS", 90))
    grace_s: float = field(default_factory=lambda: _env_int("GANDEMO_GRACE_SECONDS", 10))
    idle_s: float = field(default_factory=lambda: _env_int("GANDEMO_IDLE_SECONDS", 1800))
    max_step_work: float = field(
        default_factory=lambda: _env_int("GANDEMO_MAX_STEP_WORK", 250))
    max_snapshot_ms: float = field(
        default_factory=lambda: _env_int("GANDEMO_MAX_SNAPSHOT_MS", 100))

    def __post_init__(self):
        if self.memory_mb <= 0:
            self.memory_mb = memory_budget_mb(
                self.workers * WORKER_RESIDENT_MB if self.processes else 0)

    def cost(self, cfg: RunConfig) -> Cost:
        return predict(cfg, self.max_frames, self.max_rows)

    def check(self, cfg: RunConfig) -> Cost:
        """Refuse sizes or costs this server will not train (ConfigError naming the setting and
        the cap); return the predicted cost of an accepted config."""
        caps = {"steps": self.max_steps, "g_width": self.max_width, "d_width": self.max_width,
                "batch": self.max_batch}
        for name, cap in caps.items():
            value = getattr(cfg, name)
            if value > cap:
                raise ConfigError(name, f"this server allows at most {cap}; got {value}")
        cost = self.cost(cfg)
        work = step_work(cfg)
        if work > self.max_step_work:
            raise ConfigError(_culprit(cfg, cost.terms, STEP_COEF), (
                f"one step of these settings costs about {work:.0f}x the default step; this "
                f"server allows {self.max_step_work:g}x. Lower the batch, widths, depths, k or "
                "unrolled steps" + (" (minibatch discrimination grows with batch²)"
                                    if cfg.minibatch_disc else "")))
        if cost.snapshot_s * 1000 > self.max_snapshot_ms:
            raise ConfigError(_culprit(cfg, cost.terms, SNAP_COEF), (
                f"drawing one frame of these settings takes about {cost.snapshot_s * 1000:.0f} ms;"
                f" this server allows {self.max_snapshot_ms:g} ms. Lower eval_samples, d_width or"
                " the batch"))
        if cost.need_mb > self.memory_mb:
            raise ConfigError(_memory_culprit(cfg), (
                f"this run needs about {cost.need_mb:.0f} MB; this server's memory for training "
                f"is {self.memory_mb} MB"))
        return cost

    def check_all(self, configs: list[RunConfig]) -> Cost:
        """``check`` every variant of a comparison; the comparison costs their sum (one worker
        trains them in turn, one step of each per step) and must fit the memory alone."""
        costs = [self.check(c) for c in configs]
        terms: dict[str, float] = {}
        for c in costs:
            for k, v in c.terms.items():
                terms[k] = terms.get(k, 0.0) + v
        total = Cost(sum(c.step_s for c in costs), sum(c.snapshot_s for c in costs),
                     sum(c.resident_mb for c in costs), max(c.working_mb for c in costs), terms)
        if total.need_mb > self.memory_mb:
            raise ConfigError("variants", (
                f"these {len(configs)} variants need about {total.need_mb:.0f} MB together; this "
                f"server's memory for training is {self.memory_mb} MB"))
        return total


def _memory_culprit(cfg: RunConfig) -> str:
    if cfg.minibatch_disc:
        return "batch"
    return "eval_samples" if cfg.eval_samples > 10 * cfg.batch else "batch"


__all__ = ["Cost", "Limits", "predict", "features", "param_counts", "step_work",
           "memory_budget_mb", "GRID_POINTS", "DISPLAY_SAMPLES", "WORKER_RESIDENT_MB"]
