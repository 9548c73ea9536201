"""RunConfig: every knob of a training run, validated against its allowed range.

One object, three spellings: Python (``RunConfig``), JSON (``to_json``/``from_json``) and a URL
query string (``to_query``/``from_query``, only values that differ from the defaults).
Invalid input raises ``ConfigError`` whose message names the setting and what is allowed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
NOISE_PRIORS = ("normal", "uniform")


class ConfigError(ValueError):
    """A setting is out of range or of the wrong type. ``str(err)`` is one line for the user."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name


def _spec(default, help, lo=None, hi=None, choices=None, optional=False):
    """A dataclass field carrying its allowed range/choices and a one-line help."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "help": help, "optional": optional}
    return field(default=default, metadata=meta)


def _target_names() -> tuple[str, ...]:
    from .targets import TARGETS

    return tuple(TARGETS)


def _loss_names() -> tuple[str, ...]:
    from .losses import LOSSES

    return tuple(LOSSES)


@dataclass(frozen=True)
class RunConfig:
    """A complete, validated description of one GAN run (see ``describe()`` for the help lines)."""

    target: str = _spec("gaussian", "real distribution p_r", choices=_target_names)
    loss: str = _spec("nonsaturating", "GAN objective (losses.py)", choices=_loss_names)
    steps: int = _spec(2000, "generator updates in the run", 1, 200_000)
    seed: int = _spec(0, "seed for weights, noise and data", 0, 2**31 - 1)
    batch: int = _spec(256, "samples per batch (real and fake)", 8, 4096)
    d_steps: int = _spec(1, "k: discriminator updates per generator update", 1, 100)
    g_width: int = _spec(64, "hidden units per generator layer", 2, 512)
    g_depth: int = _spec(2, "hidden layers in the generator", 1, 6)
    d_width: int = _spec(64, "hidden units per discriminator layer", 2, 512)
    d_depth: int = _spec(2, "hidden layers in the discriminator", 1, 6)
    activation: str = _spec("relu", "hidden activation of both networks", choices=ACTIVATIONS)
    noise: str = _spec("normal", "prior of z: N(0, I) or U(−1, 1)", choices=NOISE_PRIORS)
    noise_dim: int = _spec(2, "dimension of z", 1, 64)
    lr_g: float = _spec(2e-4, "generator learning rate (0 freezes G)", 0.0, 1.0)
    lr_d: float = _spec(2e-4, "discriminator learning rate (0 freezes D)", 0.0, 1.0)
    opt_g: str = _spec("adam", "generator optimizer", choices=OPTIMIZERS)
    opt_d: str = _spec("adam", "discriminator optimizer", choices=OPTIMIZERS)
    beta1: float = _spec(0.0, "Adam β₁ / SGD momentum", 0.0, 0.999)
    beta2: float = _spec(0.9, "Adam β₂ / RMSProp α", 0.0, 0.9999)
    clip: float | None = _spec(
        None, "weight clipping c on D after each step (empty: the loss's default)", 0.0, 10.0,
        optional=True,
    )
    gp_lambda: float | None = _spec(
        None, "gradient penalty λ·E(‖∇D(x̂)‖−1)² (empty: the loss's default)", 0.0, 1000.0,
        optional=True,
    )
    r1_gamma: float = _spec(0.0, "R1 penalty (γ/2)·E‖∇D(x_r)‖² on real data", 0.0, 1000.0)
    spectral_norm: bool = _spec(False, "spectral normalization on every D layer: W/σ_max(W)")
    label_smoothing: float = _spec(0.0, "one-sided: real target 1−s for D", 0.0, 0.5)
    instance_noise: float = _spec(0.0, "σ of N(0, σ²) added to D's inputs", 0.0, 5.0)
    noise_anneal: int = _spec(0, "steps to anneal instance noise linearly to 0 (0: constant)", 0,
                              200_000)
    feature_matching: bool = _spec(False, "G minimises ‖E f(x_r) − E f(G(z))‖² (f: D's last layer)")
    minibatch_disc: bool = _spec(False, "minibatch discrimination layer in D (Salimans 2016)")
    historical_avg: float = _spec(0.0, "λ·‖θ − mean of past θ‖² added to both players", 0.0, 100.0)
    vbn: bool = _spec(False, "virtual batch normalization in G (fixed reference batch)")
    unrolled: int = _spec(0, "unrolled D steps seen by the G update (Metz et al. 2017)", 0, 20)
    unroll_lr: float = _spec(0.05, "SGD step size of the unrolled D steps", 0.0, 1.0)
    log_every: int = _spec(10, "steps between logged metric rows", 1, 10_000)
    eval_samples: int = _spec(2000, "generator samples used for p_g and the metrics", 200, 50_000)

    def __post_init__(self):
        for f in fields(self):
            _check(f, getattr(self, f.name))

    # --- derived values -------------------------------------------------------------------
    def effective_clip(self) -> float:
        from .losses import get_loss

        return get_loss(self.loss).default_clip if self.clip is None else self.clip

    def effective_gp(self) -> float:
        from .losses import get_loss

        return get_loss(self.loss).default_gp if self.gp_lambda is None else self.gp_lambda

    def with_(self, **changes) -> RunConfig:
        """A validated copy with some fields changed."""
        return from_dict({**to_dict(self), **changes})


def _choices(f) -> tuple | None:
    c = f.metadata.get("choices")
    return c() if callable(c) else c


def _show(value) -> str:
    """repr of a user value, cut short: messages stay one readable line whatever came in."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed(f) -> str:
    """What a numeric field accepts, for messages: 'an integer in [1, 100]'."""
    kind = "an integer" if type(f.default) is int else "a number"
    empty = " (or empty)" if f.metadata["optional"] else ""
    return f"{kind} in [{f.metadata['lo']:g}, {f.metadata['hi']:g}]{empty}"


def _check(f, value) -> None:
    """Raise ConfigError unless ``value`` is allowed for field ``f``."""
    meta = f.metadata
    if value is None and meta["optional"]:
        return
    choices = _choices(f)
    if choices is not None:
        if value not in choices:
            raise ConfigError(f.name, f"must be one of {', '.join(choices)}; got {_show(value)}")
        return
    kind = type(f.default) if f.default is not None else float
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f.name, f"must be true or false; got {_show(value)}")
        return
    lo, hi = meta["lo"], meta["hi"]
    allowed = _allowed(f)
    ok_type = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise ConfigError(f.name, f"must be {allowed}; got {_show(value)}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(f.name, f"must be {allowed}; got {_show(value)}")


def field_specs() -> dict[str, dict[str, Any]]:
    """Name -> {default, lo, hi, choices, help, optional}: for UIs and docs."""
    return {
        f.name: {**f.metadata, "default": f.default, "choices": _choices(f)}
        for f in fields(RunConfig)
    }


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


def _coerce(f, value):
    """Loose input (JSON numbers, URL strings) -> the field's type, or ConfigError."""
    if value is None or (f.metadata["optional"] and value == ""):
        return None if f.metadata["optional"] else value
    kind = type(f.default) if f.default is not None else float
    if _choices(f) is not None or kind is bool and isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            if kind is bool:
                return {"true": True, "1": True, "false": False, "0": False}[text]
            number = float(text)
        except (KeyError, ValueError):
            what = "true or false" if kind is bool else _allowed(f)
            raise ConfigError(f.name, f"cannot read {_show(value)}: must be {what}") from None
        value = number
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig; unknown keys are an error (a typo must not pass silently)."""
    if not isinstance(data, dict):
        raise ConfigError("config", "must be a JSON object of settings")
    known = {f.name: f for f in fields(RunConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(unknown[0][:60], f"unknown setting; allowed: {', '.join(known)}")
    return RunConfig(**{k: _coerce(known[k], v) for k, v in data.items()})


def to_json(cfg: RunConfig) -> str:
    return json.dumps(to_dict(cfg), indent=2, ensure_ascii=False)


def from_json(text: str) -> RunConfig:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError("config", f"not valid JSON ({e.msg} at line {e.lineno})") from None
    except (RecursionError, ValueError):  # absurd nesting, numbers of thousands of digits
        raise ConfigError("config", "not a config file (nested too deep or huge numbers)") from None
    return from_dict(data)


def to_query(cfg: RunConfig) -> dict[str, str]:
    """Settings that differ from the defaults, as URL query strings."""
    default = RunConfig()
    out = {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if v != getattr(default, f.name):
            out[f.name] = "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
    return out


def from_query(params: dict[str, str]) -> RunConfig:
    """Inverse of ``to_query``; keys that are not settings are ignored (other app state)."""
    known = {f.name for f in fields(RunConfig)}
    return from_dict({k: v for k, v in params.items() if k in known})


def describe() -> list[str]:
    """One help line per setting: name, default, allowed values."""
    lines = []
    for name, s in field_specs().items():
        allowed = ", ".join(s["choices"]) if s["choices"] else (
            "true/false" if isinstance(s["default"], bool) else f"[{s['lo']:g}, {s['hi']:g}]"
        )
        lines.append(f"{name:<17} {s['help']} (default {s['default']}; allowed {allowed})")
    return lines


__all__ = [
    "RunConfig", "ConfigError", "from_dict", "to_dict", "to_json", "from_json", "to_query",
    "from_query", "field_specs", "describe", "replace",
]
