"""What each classroom preset promises, as checks on its runs' histories (no Streamlit here).

A preset (``gandemo.presets``) trains variants side by side; its lesson is a list of ``Check``s,
each a small function of the variants' histories (``History.as_arrays()``: column -> array, rows
at the logged steps) that answers

* ``True``: the promised effect shows in these numbers,
* ``False``: it does not (yet: a live run may still get there),
* ``None``: not decidable yet (the run has not reached the step the claim is about),

together with the live numbers behind the answer. The same checks are drawn as check marks on
the Compare page (``ui/lessons.py``), asserted by ``tests/test_presets.py`` on short seeded runs
and listed with their outcome on the full runs in ``docs/presets.md``
(``scripts/preset_docs.py``). Texts: ``lesson.<preset>.<check>.claim`` (the promise, no numbers)
and ``.now`` (the numbers) in ``locales/<lang>/lessons.json``.

Histories may be downsampled (every other row dropped on long runs), so checks read steps, never
row indices. "Pinned" means JS ≥ ln 2 − 0.01, the ceiling of JS for disjoint supports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .config import RunConfig
from .i18n import t
from .presets import PRESETS, get_preset

LN2 = math.log(2)
CEILING = LN2 - 0.01  # JS at or above this reads "≈ ln 2": pinned
Hist = Mapping[str, np.ndarray]
Verdict = tuple[bool | None, dict[str, str]]


# --------------------------------------------------------------------------- reading histories


def last_step(h: Hist | None) -> int:
    """The last logged step (0 for no history)."""
    return int(h["step"][-1]) if h is not None and len(h.get("step", ())) else 0


def value_at(h: Hist, column: str, step: int) -> float | None:
    """``column`` in the last row logged at or before ``step``; None until the run reaches
    ``step`` (or when no row is that early)."""
    steps = np.asarray(h["step"])
    if last_step(h) < step:
        return None
    i = int(np.searchsorted(steps, step, side="right")) - 1
    return float(h[column][i]) if i >= 0 else None


def latest(h: Hist, column: str) -> float:
    return float(h[column][-1])


def first_step(h: Hist, mask: np.ndarray) -> int | None:
    """The first logged step where ``mask`` holds (None if it never does)."""
    hit = np.flatnonzero(mask)
    return int(h["step"][hit[0]]) if len(hit) else None


def pinned_until(h: Hist) -> int | None:
    """First logged step with JS below the ceiling ln 2 − 0.01 (None while still pinned)."""
    return first_step(h, np.asarray(h["js"]) < CEILING)


def js_below(h: Hist, level: float) -> int | None:
    """First logged step with JS < ``level``."""
    return first_step(h, np.asarray(h["js"]) < level)


def rows_from(h: Hist, column: str, step: int) -> np.ndarray:
    """``column`` at every logged step ≥ ``step``."""
    return np.asarray(h[column])[np.asarray(h["step"]) >= step]


# --------------------------------------------------------------------------- numbers as text


def num(x: float | None) -> str:
    """3 significant digits; ∞ and missing values as symbols."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def times(a: float, b: float) -> str:
    """a/b as "570×" (integers with thousands separators from 10 on)."""
    r = a / b if b else math.inf
    return num(r) + "×" if r < 10 else f"{r:,.0f}×"


def step_text(step: int | None) -> str:
    return "—" if step is None else str(step)


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """One promised effect: ``test(*histories of variants ``needs``) -> (passed, numbers)``."""

    key: str
    needs: tuple[int, ...]
    test: Callable[..., Verdict]


@dataclass(frozen=True)
class Result:
    key: str
    passed: bool | None
    text: str  # the claim, and " — " + the live numbers once there are any
    values: dict[str, str] = field(default_factory=dict)


def _modes(h: Hist, step: int | None = None) -> float | None:
    return latest(h, "modes_covered") if step is None else value_at(h, "modes_covered", step)


# vanishing-gradient: 0 minimax, 1 non-saturating (G frozen, the same D)
def _vg_frozen(mm: Hist, ns: Hist) -> Verdict:
    js = np.concatenate([mm["js"], ns["js"]])
    return bool(np.all(js >= CEILING)), {"js": f"{js.min():.4f}–{js.max():.4f}"}


def _vg_gap(mm: Hist, ns: Hist) -> Verdict:
    a, b = latest(mm, "g_grad_norm"), latest(ns, "g_grad_norm")
    return b >= 100 * a, {"mm": num(a), "ns": num(b), "ratio": times(b, a)}


def _vg_collapse(mm: Hist, ns: Hist) -> Verdict:
    peak, now = float(np.max(mm["g_grad_norm"])), latest(mm, "g_grad_norm")
    first, ns_now = float(ns["g_grad_norm"][0]), latest(ns, "g_grad_norm")
    ok = now <= peak / 10 and ns_now >= 20 * first
    return ok, {"peak": num(peak), "now": num(now), "fall": times(peak, now),
                "ns0": num(first), "ns": num(ns_now)}


# vanishing-gradient-live: 0 minimax Adam, 1 non-saturating Adam, 2 minimax SGD, 3 NS SGD
EARLY_ROWS = 10


def _vgl_adam_hides(mm: Hist, ns: Hist) -> Verdict:
    if len(mm["step"]) < EARLY_ROWS or len(ns["step"]) < EARLY_ROWS:
        return None, {}
    a = float(np.mean(mm["g_grad_norm"][:EARLY_ROWS]))
    b = float(np.mean(ns["g_grad_norm"][:EARLY_ROWS]))
    pa, pb = pinned_until(mm), pinned_until(ns)
    values = {"mm": num(a), "ns": num(b), "ratio": times(b, a), "mm_at": step_text(pa),
              "ns_at": step_text(pb)}
    if pa is None or pb is None:
        return None, values
    return b >= 10 * a and abs(pa - pb) <= 10, values


def _vgl_sgd_shows(mm: Hist, ns: Hist) -> Verdict:
    pa, pb = pinned_until(mm), pinned_until(ns)
    values = {"mm_at": step_text(pa), "ns_at": step_text(pb)}
    if pb is None:
        return None, values
    # decided once minimax has been given 3× the time non-saturating needed
    if pa is None:
        return (True if last_step(mm) >= 3 * pb else None), values
    return pa >= 3 * pb, values


# js-blind-w1-not: 0 minimax, 1 non-saturating, 2 WGAN-GP (same D steps, same SGD generator)
BLIND_SPAN = 0.1


def _js_blind(*hs: Hist) -> Verdict:
    """Among all rows where JS reads ≈ ln 2, W1 spans ≥ BLIND_SPAN: JS cannot tell them apart."""
    w1 = np.concatenate([np.asarray(h["w1"])[np.asarray(h["js"]) >= CEILING] for h in hs])
    js = np.concatenate([np.asarray(h["js"])[np.asarray(h["js"]) >= CEILING] for h in hs])
    if len(w1) < 2:
        return None, {}
    values = {"hi": num(float(w1.max())), "lo": num(float(w1.min())),
              "js": f"{js.min():.3f}–{js.max():.3f}"}
    return float(w1.max() - w1.min()) >= BLIND_SPAN, values


def _escapes(h: Hist, other: Hist, level: float = 0.1) -> Verdict:
    """``h`` reaches JS < level while ``other`` still reads ≈ ln 2 at that step."""
    at = js_below(h, level)
    values = {"at": step_text(at)}
    if at is None:
        return None, values
    other_js = value_at(other, "js", at)
    if other_js is None:
        return None, values
    values["other"] = f"{other_js:.3f}"
    return other_js >= CEILING, values


def _js_ns_escapes(mm: Hist, ns: Hist) -> Verdict:
    return _escapes(ns, mm)


def _js_wgan_escapes(mm: Hist, wgp: Hist) -> Verdict:
    return _escapes(wgp, mm)


# mode-collapse-ring8 / improved-techniques / d-strength (ring8: 8 modes)
COLLAPSED = 3  # a ring8 run covering at most this many modes has collapsed
LATE = 700  # from this step on a collapse counts (before it every run is still finding modes)


def _collapsed(plain: Hist) -> Verdict:
    late = rows_from(plain, "modes_covered", LATE)
    values = {"modes": num(_modes(plain))}
    if not len(late):
        return None, values
    return bool(late.max() <= COLLAPSED), values


def _mc_helps(other: Hist) -> Verdict:
    """After step LATE the helped variant covers ≥ 6 of 8 modes (JS and W1 shown; JS on ring8
    is smoothed with h = 0.05 against modes of σ = 0.02 and stays high while the samples are
    still wider than the modes, so it does not decide)."""
    values = {"modes": num(_modes(other)), "js": num(latest(other, "js")),
              "w1": num(latest(other, "w1"))}
    if last_step(other) < LATE:
        return None, values
    return bool(_modes(other) >= 6), values


# d-strength: 0 k = 1, 1 k = 5, 2 k = 20
LOCK_FROM = 200


def _k20_locks(k20: Hist) -> Verdict:
    """From step LOCK_FROM on ≤ 2 modes, and a larger share of sharp samples than at half that."""
    late = rows_from(k20, "modes_covered", LOCK_FROM)
    hq0, hq = value_at(k20, "hq_share", LOCK_FROM // 2), latest(k20, "hq_share")
    values = {"modes": num(_modes(k20)), "hq0": num(hq0), "hq": num(hq)}
    if not len(late) or hq0 is None:
        return None, values
    return bool(late.max() <= 2 and hq > hq0), values


def _k5_covers(k1: Hist, k5: Hist) -> Verdict:
    a, b = _modes(k1, 500), _modes(k5, 500)
    values = {"k1": num(a), "k5": num(b)}
    if a is None or b is None:
        return None, values
    return bool(b >= 6 and b > a), values


# lipschitz-tools: 0 WGAN weight clipping, 1 WGAN-GP, 2 spectral norm + hinge (equal lr)
def _lip_slopes(clip: Hist, gp: Hist, sn: Hist) -> Verdict:
    """Median critic slope at the fakes: clipping ≪ 1, GP around 1, SN at most 1."""
    c, g = float(np.median(clip["x_grad_norm"])), float(np.median(gp["x_grad_norm"]))
    s = float(np.max(sn["x_grad_norm"]))
    values = {"clip": num(c), "gp": num(g), "sn": num(s)}
    return bool(c < 0.05 and 0.3 < g < 5 and s <= 1.05), values


def _lip_all_learn(clip: Hist, gp: Hist, sn: Hist) -> Verdict:
    """At step 300 all three have cut W1 below 1, within 0.3 of each other."""
    w = [value_at(h, "w1", 300) for h in (clip, gp, sn)]
    values = {k: num(v) for k, v in zip(("clip", "gp", "sn"), w)}
    if any(v is None for v in w):
        return None, values
    return bool(max(w) < 1 and max(w) - min(w) < 0.3), values


LESSONS: dict[str, list[Check]] = {
    "vanishing-gradient": [
        Check("frozen", (0, 1), _vg_frozen),
        Check("gap", (0, 1), _vg_gap),
        Check("collapse", (0, 1), _vg_collapse),
    ],
    "vanishing-gradient-live": [
        Check("adam", (0, 1), _vgl_adam_hides),
        Check("sgd", (2, 3), _vgl_sgd_shows),
    ],
    "js-blind-w1-not": [
        Check("blind", (0, 1, 2), _js_blind),
        Check("ns", (0, 1), _js_ns_escapes),
        Check("wgan", (0, 2), _js_wgan_escapes),
    ],
    "mode-collapse-ring8": [
        Check("plain", (0,), _collapsed),
        Check("minibatch", (1,), _mc_helps),
        Check("wgan", (2,), _mc_helps),
        Check("unrolled", (3,), _mc_helps),
    ],
    "d-strength": [
        Check("k5", (0, 1), _k5_covers),
        Check("k20", (2,), _k20_locks),
    ],
    "lipschitz-tools": [
        Check("slopes", (0, 1, 2), _lip_slopes),
        Check("equal", (0, 1, 2), _lip_all_learn),
    ],
    "improved-techniques": [
        Check("plain", (0,), _collapsed),
        Check("smoothing", (1,), _mc_helps),
    ],
}


# --------------------------------------------------------------------------- evaluation


def _as_list(histories, n: int) -> list[Hist | None]:
    """Histories in variant order: a sequence, or a mapping label/index -> arrays (in order)."""
    if isinstance(histories, Mapping):
        if all(isinstance(k, int) for k in histories):
            return [histories.get(i) for i in range(n)]
        histories = list(histories.values())
    out = list(histories)[:n]
    return out + [None] * (n - len(out))


def evaluate(preset: str, histories, lang: str = "en") -> list[Result]:
    """Every check of ``preset`` on ``histories`` (variant order; None for a variant not run)."""
    checks = LESSONS.get(get_preset(preset).name, [])
    hs = _as_list(histories, len(PRESETS[preset].configs()))
    out = []
    for check in checks:
        args = [hs[i] for i in check.needs]
        if any(h is None or not len(h.get("step", ())) for h in args):
            passed, values = None, {}
        else:
            passed, values = check.test(*args)
        base = f"lesson.{preset}.{check.key}"
        text = t(f"{base}.claim", lang)
        if values:
            text += " — " + t(f"{base}.now", lang, **values)
        out.append(Result(check.key, passed, text, values))
    return out


def matches(preset: str, configs: Sequence[RunConfig]) -> bool:
    """Whether ``configs`` are the preset's variants (seed, steps and batch may differ): only
    then do its checks speak about the run."""
    own = get_preset(preset).configs()
    if len(configs) != len(own):
        return False
    return all(c.with_(seed=o.seed, steps=o.steps, batch=o.batch) == o
               for c, o in zip(configs, own))
