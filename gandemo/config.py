"""RunConfig: every knob of a training run, validated against its allowed range.

One object, three spellings: Python (``RunConfig``), JSON (``to_json``/``from_json``) and a URL
query string (``to_query``/``from_query``, only values that differ from the defaults).
A custom target is ``target="custom"`` with the points in ``data`` (userdata.py); the config
then names it ``custom-<digest of the points>`` and carries the points in its JSON (and in its
URL up to ``userdata.LINK_POINTS`` points).
Invalid input raises ``ConfigError`` whose message names the setting and what is allowed;
``parse_settings`` reads a whole mapping and returns every error at once (``ConfigErrors`` when
raised). Checks that involve several settings live in ``CROSS_CHECKS``.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
NOISE_PRIORS = ("normal", "uniform")


class ConfigError(ValueError):
    """A setting is out of range or of the wrong type. ``str(err)`` is one line for the user.

    ``combination`` marks an error of several settings together (each allowed on its own);
    ``errors`` is the list of single errors (``[self]`` here, several in ``ConfigErrors``)."""

    def __init__(self, name: str, message: str, *, combination: bool = False):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.combination = combination
        self.errors: list[ConfigError] = [self]

    @staticmethod
    def join(errors: list[ConfigError]) -> ConfigError:
        """One exception for a non-empty list: the error itself, or a ``ConfigErrors``."""
        return errors[0] if len(errors) == 1 else ConfigErrors(errors)


class ConfigErrors(ConfigError):
    """Several invalid settings at once; ``errors`` holds one ``ConfigError`` per problem and
    ``str()`` joins them on one line (``name`` is the first one's, for old callers)."""

    def __init__(self, errors: Iterable[ConfigError]):
        errors = [e for err in errors for e in err.errors]
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        ValueError.__init__(self, "; ".join(str(e) for e in errors))
        self.name = errors[0].name
        self.message = errors[0].message
        self.combination = all(e.combination for e in errors)
        self.errors = errors


def raise_all(errors: list[ConfigError]) -> None:
    """Raise nothing, the one error, or a ``ConfigErrors`` carrying all of them."""
    if errors:
        raise ConfigError.join(errors)


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

    target: str = _spec(
        "gaussian", "the real data G must learn to imitate; 1D targets show densities, 2D targets "
        "show samples", choices=_target_names,
    )
    loss: str = _spec("nonsaturating", "how D is trained and what G minimises", choices=_loss_names)
    steps: int = _spec(
        2000, "generator updates in the run (each one after k D updates)", 1, 200_000,
    )
    seed: int = _spec(
        0, "same seed + same settings = exactly the same run (weights, noise, data)", 0, 2**31 - 1,
    )
    batch: int = _spec(
        256, "real and fake samples per update; larger = smoother gradients but slower steps",
        8, 4096,
    )
    d_steps: int = _spec(
        1, "k discriminator updates before each generator update; larger k = stronger D", 1, 100,
    )
    g_width: int = _spec(64, "hidden units per generator layer", 2, 512)
    g_depth: int = _spec(2, "hidden layers in the generator", 1, 6)
    d_width: int = _spec(64, "hidden units per discriminator layer", 2, 512)
    d_depth: int = _spec(2, "hidden layers in the discriminator", 1, 6)
    activation: str = _spec(
        "relu", "hidden nonlinearity of both networks: relu = max(0, h), leaky_relu (small slope "
        "for h < 0), tanh, elu", choices=ACTIVATIONS,
    )
    noise: str = _spec(
        "normal", "z ~ N(0, I) (normal) or z ~ U(−1, 1)ᵈ (uniform)", choices=NOISE_PRIORS,
    )
    noise_dim: int = _spec(2, "G maps z ∈ ℝᵈ to one sample", 1, 64)
    lr_g: float = _spec(
        2e-4, "step size of G's optimizer: θ_G ← θ_G − η_G·(update direction); 0 freezes G",
        0.0, 1.0,
    )
    lr_d: float = _spec(
        2e-4, "step size of D's optimizer; η_D ≠ η_G is the two-time-scale rule (TTUR); "
        "0 freezes D", 0.0, 1.0,
    )
    opt_g: str = _spec("adam", "Adam, RMSProp, or SGD with momentum β₁", choices=OPTIMIZERS)
    opt_d: str = _spec("adam", "Adam, RMSProp, or SGD with momentum β₁", choices=OPTIMIZERS)
    beta1: float = _spec(
        0.0, "Adam: m ← β₁·m + (1 − β₁)·g; SGD: momentum β₁; GANs often use 0.5", 0.0, 0.999,
    )
    beta2: float = _spec(
        0.9, "Adam: v ← β₂·v + (1 − β₂)·g², how long the average of squared gradients remembers "
        "(RMSProp uses α = 0.99)", 0.0, 0.9999,
    )
    clip: float | None = _spec(
        None, "w ← clamp(w, −c, c) before every critic pass and after each D update; empty = the "
        "loss's default", 0.0, 10.0, optional=True,
    )
    gp_lambda: float | None = _spec(
        None, "adds λ·E(‖∇ₓD(x̂)‖ − 1)², x̂ on lines between real and fake samples; empty = the "
        "loss's default", 0.0, 1000.0, optional=True,
    )
    r1_gamma: float = _spec(
        0.0, "adds (γ/2)·E‖∇ₓD(x_r)‖² on real data: D stays flat around the data", 0.0, 1000.0,
    )
    spectral_norm: bool = _spec(
        False, "every D layer uses W / σ_max(W), so each linear layer is 1-Lipschitz and, with "
        "ReLU-like activations, so is D (not with minibatch discrimination: its similarity "
        "features are not 1-Lipschitz even with T normalised)",
    )
    label_smoothing: float = _spec(
        0.0, "D's target for real samples is 1 − s (fake samples stay 0)", 0.0, 0.5,
    )
    instance_noise: float = _spec(
        0.0, "adds N(0, σ²) noise to every input of D, real and fake", 0.0, 5.0,
    )
    noise_anneal: int = _spec(0, "σ_t = σ·max(0, 1 − t/T); 0 keeps σ constant", 0,
                              200_000)
    feature_matching: bool = _spec(
        False, "G minimises ‖E f(x_r) − E f(G(z))‖², f = D's last hidden layer",
    )
    minibatch_disc: bool = _spec(
        False, "D also sees how close each sample is to the rest of its batch "
        "(Salimans et al. 2016)",
    )
    historical_avg: float = _spec(
        0.0, "adds λ·‖θ − θ̄‖² to both players, θ̄ = mean of past parameters", 0.0, 100.0,
    )
    vbn: bool = _spec(False, "normalizes G's layers with the statistics of a fixed reference batch")
    unrolled: int = _spec(
        0, "G's update looks ahead through this many future D updates (Metz et al. 2017); slower",
        0, 20,
    )
    unroll_lr: float = _spec(
        0.05, "SGD step size of the look-ahead D updates: θ_D ← θ_D − η·∇L_D", 0.0, 1.0,
    )
    log_every: int = _spec(
        10, "a row of losses, gradient norms and JS/KL/W1 every n steps", 1, 10_000,
    )
    eval_samples: int = _spec(
        2000, "generator samples used to estimate p_g and the divergences", 200, 50_000,
    )
    # The points of a custom target (not a knob: no widget; see userdata.py for the caps).
    data: tuple[tuple[float, ...], ...] | None = field(default=None, repr=False, metadata={
        "lo": None, "hi": None, "choices": None, "optional": True, "points": True,
        "help": "points of target=custom: [x, …] (1D) or [[x, y], …] (2D)"})

    def __post_init__(self):
        errors = []
        for f in fields(self):
            try:
                _check(f, getattr(self, f.name))
            except ConfigError as err:
                errors.append(err)
        raise_all(errors)
        target, data, tgt = _custom_pair(self.target, self.data)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "_custom", tgt)  # keeps the custom target loaded

    # --- derived values -------------------------------------------------------------------
    def effective_clip(self) -> float:
        from .losses import get_loss

        return get_loss(self.loss).default_clip if self.clip is None else self.clip

    def effective_gp(self) -> float:
        from .losses import get_loss

        return get_loss(self.loss).default_gp if self.gp_lambda is None else self.gp_lambda

    def __reduce__(self):
        """Pickled as its fields and rebuilt through validation, so a custom target is loaded
        again from its points where the copy lands (a worker process: see gandemo/hosts.py)."""
        return (_rebuild, (to_dict(self),))

    def with_(self, **changes) -> RunConfig:
        """A validated copy with some fields changed."""
        return from_dict({**to_dict(self), **changes})


def _choices(f) -> tuple | None:
    c = f.metadata.get("choices")
    return c() if callable(c) else c


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 2, 4, 4
MAX_TEXT = 40  # longest number text read (a 40-digit integer is already far out of any range)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def _show(value) -> str:
    """repr of a user value, cut short: messages stay one readable line whatever came in
    (control and bidi characters escaped; a 400-digit integer shown by its length)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}<an integer of about {digits} digits>"
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # an exotic object whose repr fails
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


show_value = _show


def show_name(key) -> str:
    """A key as given by the user, safe to print: itself if a plain ASCII name, else its repr."""
    text = str(key)
    return text if text.isascii() and text.isidentifier() and len(text) <= 40 else _show(text)


def _fmt(f, x) -> str:
    """A bound for messages: exact digits for an integer field ('2147483647'), %g otherwise."""
    return str(int(x)) if type(f.default) is int else f"{x:g}"


def _allowed(f, cap=None) -> str:
    """What a numeric field accepts, for messages: 'an integer in [1, 100]' (a server ``cap``
    below the field's own upper bound is named as such)."""
    kind = "an integer" if type(f.default) is int else "a number"
    empty = " (or empty)" if f.metadata["optional"] else ""
    hi = f.metadata["hi"] if cap is None else min(cap, f.metadata["hi"])
    limit = f" (this server allows at most {_fmt(f, hi)})" if hi < f.metadata["hi"] else ""
    return f"{kind} in [{_fmt(f, f.metadata['lo'])}, {_fmt(f, hi)}]{limit}{empty}"


def _check(f, value, cap=None) -> None:
    """Raise ConfigError unless ``value`` is allowed for field ``f`` (at most ``cap``, if any)."""
    meta = f.metadata
    if value is None and meta["optional"]:
        return
    if meta.get("points"):
        from .userdata import check_points

        check_points(value)
        return
    choices = _choices(f)
    if f.name == "target" and _is_custom(value):
        return  # its points are checked with ``data`` (_custom_pair)
    if choices is not None:
        if not isinstance(value, str) or value not in choices:
            raise ConfigError(f.name, f"must be one of {', '.join(choices)}; got {_show(value)}")
        return
    kind = type(f.default) if f.default is not None else float
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f.name, f"must be true or false; got {_show(value)}")
        return
    lo, hi = meta["lo"], meta["hi"] if cap is None else min(cap, meta["hi"])
    ok_type = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if (isinstance(value, bool) or not ok_type
            or isinstance(value, float) and not math.isfinite(value) or not lo <= value <= hi):
        raise ConfigError(f.name, f"must be {_allowed(f, cap)}; got {_show(value)}")


def field_specs() -> dict[str, dict[str, Any]]:
    """Name -> {default, lo, hi, choices, help, optional}: for UIs and docs. The settings a
    widget or flag sets; the points of a custom target (``data``) are not among them."""
    return {
        f.name: {**f.metadata, "default": f.default, "choices": _choices(f)}
        for f in fields(RunConfig) if not f.metadata.get("points")
    }


def _is_custom(value) -> bool:
    from .targets import is_custom

    return is_custom(value)


def _custom_pair(target: str, data, uploaded: tuple[int, str] | None = None):
    """(target name, data rows, custom Target or None) for a valid pair: a built-in target
    without points, or a custom one with its points (``custom`` and any ``custom-…`` are
    renamed after the points' digest; without points, a loaded ``custom-<digest>`` supplies
    them). ConfigError otherwise; ``uploaded``: (N, name) of a link's ``uploaded-N-<digest>``."""
    from .targets import TARGETS, custom_target, find_custom
    from .userdata import as_rows

    if not _is_custom(target):
        if data is not None:
            raise ConfigError("data", f"points are used only with target=custom; got target="
                                      f"{_show(target)}")
        return target, None, None
    if data is None:
        found = find_custom(uploaded[1] if uploaded else target)
        if found is None:
            why = (f"the link names {uploaded[0]} uploaded points but does not carry them (a link "
                   "holds small sets only); upload the file again" if uploaded is not None else
                   "needs its points in data (upload a CSV of 1 or 2 columns, draw them, or "
                   "pass --data FILE.csv)")
            raise ConfigError("target", f"{_show(target)}: {why}; or choose one of "
                                        f"{', '.join(TARGETS)}")
        return found.name, tuple(map(tuple, found.means.tolist())), found
    tgt = custom_target(data)
    return tgt.name, as_rows(tgt.means), tgt


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


def _rebuild(values: dict[str, Any]) -> RunConfig:
    return RunConfig(**values)


def _read_number(f, text: str) -> int | float:
    """A number typed by a person: plain ASCII decimal notation only (no 'nan', 'inf', '0x10',
    '1_000' or non-ASCII digits), at most MAX_TEXT characters; integers are read exactly."""
    text = text.strip()
    if len(text) > MAX_TEXT or not _NUMBER.fullmatch(text):
        raise ConfigError(f.name, f"cannot read {_show(text)}: must be {_allowed(f)}")
    if type(f.default) is int and text.lstrip("+-").isdigit():
        return int(text)
    return float(text)


def _coerce(f, value):
    """Loose input (JSON numbers, URL / CLI strings) -> the field's type, or ConfigError."""
    if value is None or (f.metadata["optional"] and value == ""):
        return None if f.metadata["optional"] else value
    if f.metadata.get("points"):  # URL text x,y;x,y;… or JSON rows -> checked rows
        from .userdata import as_rows, check_points, from_link

        return as_rows(from_link(value) if isinstance(value, str) else check_points(value))
    kind = type(f.default) if f.default is not None else float
    if _choices(f) is not None or kind is bool and isinstance(value, bool):
        return value
    if isinstance(value, str):
        if kind is bool:
            text = value.strip().lower()
            if text not in ("true", "1", "false", "0"):
                raise ConfigError(f.name, f"cannot read {_show(value)}: must be true or false")
            return text in ("true", "1")
        value = _read_number(f, value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and type(value) is int and abs(value) < 2**1000:  # bigger: out of range
        return float(value)
    return value


def parse_value(name: str, value, cap=None):
    """One setting from loose input (a URL / CLI string or a JSON value), validated against its
    range (and a server ``cap``); raises ConfigError naming it."""
    f = _FIELDS[name]
    parsed = _coerce(f, value)
    _check(f, parsed, cap)
    return parsed


# Checks that involve several settings. Each takes a RunConfig whose every value is valid on
# its own and returns (setting, message) pairs; every input path (URL, upload, CLI, from_dict)
# runs them through ``cross_field_errors``. Add a check by appending it here.
CROSS_CHECKS: list[Callable[[RunConfig], Iterable[tuple[str, str]]]] = []


def cross_field_errors(cfg: RunConfig) -> list[ConfigError]:
    """Every error of ``CROSS_CHECKS`` for ``cfg`` (``combination=True``)."""
    return [ConfigError(name, message, combination=True)
            for check in CROSS_CHECKS for name, message in check(cfg)]


MAX_UNKNOWN = 5  # unknown keys named one by one; beyond that, one summary error


def parse_settings(data, *, caps: Mapping[str, float] | None = None,
                   base: RunConfig | None = None,
                   ignore_unknown: bool = False) -> tuple[RunConfig, list[ConfigError]]:
    """Read a whole mapping of settings and collect EVERY error: returns the config built from
    ``base`` (default: the defaults) and the valid values, and one ConfigError per invalid
    setting (field order), unknown key (unless ``ignore_unknown``) and failed cross check.
    ``caps`` lowers upper bounds (the server's limits). Never raises for bad input."""
    base = base or RunConfig()
    if not isinstance(data, Mapping):
        return base, [ConfigError("config", "must be a JSON object of settings")]
    caps = caps or {}
    errors: list[ConfigError] = []
    if not ignore_unknown:
        unknown = [k for k in data if k not in _FIELDS]
        allowed = f"allowed: {', '.join(_FIELDS)}"
        errors += [ConfigError(show_name(k), f"unknown setting; {allowed}")
                   for k in unknown[:MAX_UNKNOWN]]
        if len(unknown) > MAX_UNKNOWN:
            errors.append(ConfigError("config", f"{len(unknown) - MAX_UNKNOWN} more unknown "
                                                f"settings; {allowed}"))
    values = to_dict(base)
    uploaded = _uploaded(data.get("data"))  # (N, name) of a large set named by a link
    for name in _FIELDS:
        if name in data and not (name == "data" and uploaded is not None):
            try:
                values[name] = parse_value(name, data[name], caps.get(name))
            except ConfigError as err:
                errors.append(err)
    if "data" in data and "target" not in data:
        values["target"] = "custom"  # points alone make the target
    if "target" in data and "data" not in data or uploaded is not None:
        values["data"] = None  # a new target does not inherit the base's points
    if any(e.name in ("target", "data") for e in errors):
        values["target"], values["data"] = base.target, base.data
    else:
        try:
            values["target"], values["data"], _ = _custom_pair(values["target"], values["data"],
                                                               uploaded)
        except ConfigError as err:
            errors.append(err)
            values["target"], values["data"] = base.target, base.data
    cfg = RunConfig(**values)
    return cfg, errors + cross_field_errors(cfg)


def _uploaded(value) -> tuple[int, str] | None:
    from .userdata import uploaded_ref

    return uploaded_ref(value)


def target_defaults(target) -> dict[str, Any]:
    """The settings a run on ``target`` starts from where they differ from RunConfig's defaults
    (the registry entry's ``defaults``); {} for a target without any, custom or unknown."""
    from .targets import TARGETS

    found = TARGETS.get(target) if isinstance(target, str) else None
    return dict(found.defaults) if found is not None else {}


def with_target_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` plus its target's ``target_defaults`` for every setting ``data`` does not give:
    what the user sets wins. The CLI reads its settings through this; a config's JSON and URL
    spell every value that differs from RunConfig's defaults, so they never need it."""
    if not isinstance(data, Mapping):
        return data
    return {**target_defaults(data.get("target")), **data}


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig; unknown keys are an error (a typo must not pass silently).
    Raises ConfigError, or ConfigErrors naming every invalid setting."""
    cfg, errors = parse_settings(data)
    raise_all(errors)
    return cfg


def load_json(text: str):
    """The JSON value of ``text``, or ConfigError('config', ...) for anything unreadable."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError("config", f"not valid JSON ({e.msg} at line {e.lineno})") from None
    except (RecursionError, ValueError):  # absurd nesting, numbers of thousands of digits
        raise ConfigError("config", "not a config file (nested too deep or huge numbers)") from None


def parse_json(text: str, **kw) -> tuple[RunConfig, list[ConfigError]]:
    """``parse_settings`` of a JSON text (a file that is not a JSON object: one error)."""
    try:
        data = load_json(text)
    except ConfigError as err:
        return kw.get("base") or RunConfig(), [err]
    return parse_settings(data, **kw)


def to_json(cfg: RunConfig) -> str:
    """Indented JSON of every setting; the points of a custom target one per line, last."""
    d = to_dict(cfg)
    if cfg.data is None:
        return json.dumps(d, indent=2, ensure_ascii=False)
    points = d.pop("data")
    text = json.dumps(d, indent=2, ensure_ascii=False)
    rows = ",\n    ".join(json.dumps(list(row)) for row in points)
    return text[:-2] + f',\n  "data": [\n    {rows}\n  ]\n}}'


def from_json(text: str) -> RunConfig:
    return from_dict(load_json(text))


def to_query(cfg: RunConfig) -> dict[str, str]:
    """Settings that differ from the defaults, as URL query strings (a custom target as
    ``target=custom`` and its points in ``data``)."""
    default = RunConfig()
    out = {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if v != getattr(default, f.name):
            out[f.name] = query_value(v)
    if cfg.data is not None:
        out["target"] = "custom"
    return out


def query_value(value) -> str:
    """A setting's value as the URL spells it (``to_query``): '' for None, 'true' / 'false';
    points as ``userdata.to_link`` writes them (``uploaded-N-<digest>`` for a large set)."""
    if isinstance(value, tuple):
        from .userdata import to_link

        return to_link(value)
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def from_query(params: dict[str, str]) -> RunConfig:
    """Inverse of ``to_query``; keys that are not settings are ignored (other app state)."""
    cfg, errors = parse_settings(params, ignore_unknown=True)
    raise_all(errors)
    return cfg


def describe() -> list[str]:
    """One help line per setting: name, default, allowed values."""
    lines = []
    for name, s in field_specs().items():
        f = _FIELDS[name]
        allowed = ", ".join(s["choices"]) if s["choices"] else (
            "true/false" if isinstance(s["default"], bool)
            else f"[{_fmt(f, s['lo'])}, {_fmt(f, s['hi'])}]"
        )
        lines.append(f"{name:<17} {s['help']} (default {s['default']}; allowed {allowed})")
    from .userdata import MAX_ABS, MAX_POINTS

    lines.append(f"{'data':<17} {_FIELDS['data'].metadata['help']} (with target=custom; 1 "
                 f"to {MAX_POINTS} points, values in [-{MAX_ABS:g}, {MAX_ABS:g}]; --data FILE)")
    return lines


_FIELDS = {f.name: f for f in fields(RunConfig)}

__all__ = [
    "RunConfig", "ConfigError", "ConfigErrors", "parse_settings", "parse_json", "parse_value",
    "cross_field_errors", "CROSS_CHECKS", "raise_all", "query_value", "show_name", "show_value",
    "load_json", "from_dict", "target_defaults", "with_target_defaults",
    "to_dict", "to_json", "from_json", "to_query", "from_query", "field_specs", "describe",
    "replace",
]
