"""Names a class can read for the variants of a comparison.

A variant is named by what sets it apart from the others, in words ("WGAN-GP + k = 5",
"label smoothing 0.1", "plain"), never by a raw ``name=value`` string and never cut mid-value.
Words come from the locale files (``name.*`` keys in ``locales/<lang>/naming.json``), so Chinese
gets Chinese names. A preset may name its variants itself (``Preset.names``: ``variant.<slug>``
keys). The full settings stay available for hover texts and exports (``settings_text``).

Rules: a setting is named only when it differs between the variants, and then only for the
variants that differ from the usual value (the value most variants share, when one value
clearly does); the
loss is always named when losses differ; a switched-off trick (False, 0) gets no words, so the
variant without any trick reads "plain"; a discriminator-strength level (k, D width and lr_D set
together, see ``compare.STRENGTHS``) is named as the level; identical variants get "#n".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .config import RunConfig, to_dict
from .i18n import t

# Settings that never name a variant on their own (they follow from others or are bookkeeping).
_SILENT = {"log_every", "eval_samples", "noise_anneal", "unroll_lr"}
# Order in which differing settings appear in a name: the objective first, then D's strength,
# then the tricks, then everything else in field order.
_FIRST = ("loss", "d_steps", "spectral_norm", "gp_lambda", "clip", "r1_gamma")


def _number(v: float) -> str:
    """Short decimal: 0.1, 5e-05 → 5·10⁻⁵ stays compact but exact enough to tell apart."""
    return f"{v:g}"


def _phrase(name: str, cfg: RunConfig, lang: str) -> str | None:
    """The words for one setting of one variant, or None when it says nothing (trick off)."""
    value = getattr(cfg, name)
    if name == "loss":  # a loss without words of its own goes by its registry name
        words = t(f"name.loss.{value}", lang)
        return value if words == f"name.loss.{value}" else words
    if isinstance(value, bool):
        return t(f"name.{name}", lang) if value else None
    if value is None:
        return None
    if name in ("label_smoothing", "instance_noise", "historical_avg", "r1_gamma", "unrolled",
                "gp_lambda", "clip") and not value:
        return None
    if isinstance(value, str):
        shown = t(f"name.value.{value}", lang)
        shown = value if shown == f"name.value.{value}" else shown
    else:
        shown = _number(value) if isinstance(value, float) else str(value)
    text = t(f"name.{name}", lang, v=shown)
    if text == f"name.{name}":  # no words for it: the field's own label and the value
        text = f"{t(f'field.{name}.label', lang)} {shown}"
    if name == "instance_noise" and cfg.noise_anneal:
        text += t("name.noise_anneal", lang, v=cfg.noise_anneal)
    return text


def _order(names: list[str]) -> list[str]:
    first = [n for n in _FIRST if n in names]
    return first + [n for n in names if n not in first]


def variant_names(configs: Sequence[RunConfig], lang: str = "en",
                  preset_names: Sequence[str] | None = None) -> list[str]:
    """A short human name per config: the preset's own names when given (``variant.<slug>``),
    else the settings in which the configs differ, in words, joined by " + "."""
    if preset_names is not None and len(preset_names) == len(configs):
        names = [t(f"variant.{slug}", lang) for slug in preset_names]
    else:
        names = _by_difference(list(configs), lang)
    counts, seen = Counter(names), Counter()
    for i, label in enumerate(names):
        if counts[label] > 1:
            seen[label] += 1
            names[i] = f"{label} #{seen[label]}"
    return names


def _strength_level(cfg: RunConfig) -> str | None:
    """The named strength level whose k, D width and lr_D/lr_G this config has, if any."""
    from .compare import STRENGTHS

    for level, s in STRENGTHS.items():
        if (cfg.d_steps, cfg.d_width) == (s["d_steps"], s["d_width"]) and \
                abs(cfg.lr_d - min(1.0, cfg.lr_g * s["lr_ratio"])) <= 1e-12:
            return level
    return None


def _by_difference(configs: list[RunConfig], lang: str) -> list[str]:
    dicts = [to_dict(c) for c in configs]
    if not dicts:
        return []
    differ = _order([k for k in dicts[0] if k not in _SILENT
                     and any(d[k] != dicts[0][k] for d in dicts)])
    levels = [_strength_level(c) for c in configs]
    strength = {"d_steps", "d_width", "lr_d"}
    if all(levels) and len(set(levels)) > 1 and strength & set(differ):
        differ = [k for k in differ if k not in strength]
    else:
        levels = [None] * len(configs)
    usual = {}
    for k in differ:
        ranked = Counter(repr(d[k]) for d in dicts).most_common(2)
        (value, count), runner_up = ranked[0], ranked[1][1] if len(ranked) > 1 else 0
        if k != "loss" and count > max(1, runner_up):  # a clear majority, not a tie
            usual[k] = value
    names = []
    for cfg, d, level in zip(configs, dicts, levels):
        words = [p for k in differ if usual.get(k) != repr(d[k]) and (p := _phrase(k, cfg, lang))]
        if level:
            words.append(t(f"name.strength.{level}", lang))
        names.append(" + ".join(words) if words else t("name.plain", lang))
    return names


def settings_text(cfg: RunConfig, base: RunConfig | None = None) -> str:
    """The full settings for a hover text: every field that differs from ``base`` (default: the
    RunConfig defaults), as ``name = value`` lines."""
    ref = to_dict(base or RunConfig())
    own = to_dict(cfg)
    return "\n".join(f"{k} = {v}" for k, v in own.items() if v != ref[k]) or "defaults"
