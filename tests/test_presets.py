"""The classroom presets: valid, translated, and each one's effect on the metrics (seeded, short).

Every effect test trains the preset's own configs (seed 0) with fewer steps where the effect
already shows, each variant alone with ``Trainer`` (deterministic given the config). The numbers
of the full runs, and how they vary across seeds, are in docs/presets.md.
"""

from __future__ import annotations

import math
import re
from functools import cache

import numpy as np
import pytest
import torch

from gandemo.config import RunConfig, from_dict, to_dict
from gandemo.i18n import LANGUAGES, catalog
from gandemo.config import ConfigError
from gandemo.presets import PRESETS, Preset, get_preset
from gandemo.trainer import Trainer

pytestmark = pytest.mark.slow  # seeded preset runs of hundreds of steps each

LN2 = math.log(2)
CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER = re.compile(r"\d+\.\d+|\d{2,}")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@cache
def history(cfg: RunConfig) -> dict[str, np.ndarray]:
    trainer = Trainer(cfg)
    trainer.run()
    assert trainer.diverged_at is None, f"{cfg}: {trainer.status}"
    return trainer.history.as_arrays()


def runs(name: str, steps: int, *which: int) -> list[dict[str, np.ndarray]]:
    """Histories of the preset's variants (all, or those indexed by ``which``), ``steps`` long."""
    cfgs = PRESETS[name].configs()
    return [history(cfgs[i].with_(steps=steps)) for i in (which or range(len(cfgs)))]


def at(h: dict[str, np.ndarray], column: str, step: int) -> float:
    return float(h[column][int(np.argmin(np.abs(h["step"] - step)))])


def pinned_until(h: dict[str, np.ndarray]) -> int:
    """First logged step with JS below ln 2 − 0.01 (the run's last step if it never is)."""
    below = np.flatnonzero(h["js"] < LN2 - 0.01)
    return int(h["step"][below[0]]) if len(below) else int(h["step"][-1])


# ------------------------------------------------------------------ structure


def test_preset_registry():
    assert list(PRESETS) == ["vanishing-gradient", "vanishing-gradient-live", "js-blind-w1-not",
                             "mode-collapse-ring8", "d-strength", "lipschitz-tools",
                             "improved-techniques"]
    assert get_preset("d-strength") is PRESETS["d-strength"]
    with pytest.raises(ConfigError, match="allowed"):
        get_preset("nope")
    single = Preset("x", "x", RunConfig())
    assert single.configs() == [RunConfig()]


@pytest.mark.parametrize("name", list(PRESETS))
def test_configs_validate_and_differ(name):
    p = PRESETS[name]
    cfgs = p.configs()
    assert len(cfgs) == len(p.variants) >= 2
    for cfg in cfgs:
        assert from_dict(to_dict(cfg)) == cfg  # validates and round-trips
        assert cfg.steps <= 2000 and cfg.seed == 0
    assert len({tuple(sorted(to_dict(c).items())) for c in cfgs}) == len(cfgs)


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_title_and_explanation_in_every_language(name, lang):
    texts = catalog(lang)
    title, explain = texts.get(f"preset.{name}.title"), texts.get(f"preset.{name}.explain")
    assert title and explain and len(explain) > 200
    if lang == "zh":
        assert CJK.search(title) and CJK.search(explain)
    # the explanation reports measured numbers, and they are the same in both languages
    numbers = set(NUMBER.findall(explain))
    assert len(numbers) >= 4
    if lang != "en":
        assert numbers == set(NUMBER.findall(catalog("en")[f"preset.{name}.explain"]))


# ------------------------------------------------------------------ effects (seed 0)


def test_vanishing_gradient_frozen_generator():
    """G frozen, D trained: same D for both losses, so the G gradients differ only by the loss."""
    mm, ns = runs("vanishing-gradient", 200)
    np.testing.assert_allclose(mm["d_loss"], ns["d_loss"], rtol=1e-6)  # the very same D
    assert np.all(np.abs(mm["js"] - LN2) < 0.01)  # G never moves: JS pinned near ln 2
    assert ns["g_grad_norm"][-1] / mm["g_grad_norm"][-1] > 50
    assert mm["g_grad_norm"][-1] < mm["g_grad_norm"].max() / 5  # the saturating one collapses
    assert ns["g_grad_norm"][-1] > 20 * ns["g_grad_norm"][0]  # the non-saturating one grows


def test_vanishing_gradient_live_is_milder_and_hidden_by_adam():
    mm_adam, ns_adam, mm_sgd, ns_sgd = runs("vanishing-gradient-live", 60)
    # Adam: the raw gradients differ > 10× early on, the progress does not
    assert ns_adam["g_grad_norm"][:10].mean() > 10 * mm_adam["g_grad_norm"][:10].mean()
    assert abs(pinned_until(mm_adam) - pinned_until(ns_adam)) <= 10
    assert abs(at(mm_adam, "js", 60) - at(ns_adam, "js", 60)) < 0.1
    # plain SGD: the saturating generator stays stuck at JS ≈ ln 2, the other one is off
    assert pinned_until(ns_sgd) <= 20 and at(ns_sgd, "js", 60) < 0.2
    assert at(mm_sgd, "js", 60) > LN2 - 0.01 and at(mm_sgd, "w1", 60) > 1.8


def test_js_is_blind_w1_is_not():
    mm, wgp = runs("js-blind-w1-not", 60)
    start = Trainer(PRESETS["js-blind-w1-not"].configs()[1]).measure()
    assert start["js"] > LN2 - 0.01 and start["w1"] > 1.9
    # WGAN-GP moves G while JS still reads ≈ ln 2: W1 sees the progress, JS does not
    flat = wgp["js"] >= LN2 - 0.01
    assert flat[0] and start["w1"] - wgp["w1"][flat].min() > 0.2
    assert at(wgp, "w1", 60) < 0.5
    # the saturating GAN, same D, same SGD: still at the ceiling after 60 steps
    assert np.all(mm["js"] > LN2 - 0.01) and at(mm, "w1", 60) > 1.8


def test_lipschitz_tools():
    clip, gp, sn = runs("lipschitz-tools", 300)
    # x_grad_norm = mean |∂D/∂x| at the fakes: the critic's slope where G reads it
    assert np.median(clip["x_grad_norm"]) < 1e-2  # clipping at c = 0.01: slope ≪ 1
    assert 0.3 < np.median(gp["x_grad_norm"]) < 5  # the penalty holds it near 1
    assert np.max(sn["x_grad_norm"]) < 1.05  # spectral norm: a 1-Lipschitz bound
    assert at(clip, "w1", 300) > at(gp, "w1", 300) + 0.4  # clipping learns slowest
    assert abs(clip["d_loss"][-1]) < 0.01 < abs(gp["d_loss"]).max()


def test_d_strength_overpowered_critic_collapses():
    (k20,) = runs("d-strength", 200, 2)
    assert at(k20, "modes_covered", 200) <= 2 and at(k20, "w1", 200) > 1.0
    assert at(k20, "hq_share", 200) > at(k20, "hq_share", 100)  # sharpening on the few modes


def plain_ring8(steps: int = 1000) -> dict[str, np.ndarray]:
    """The plain ring8 run: the first variant of both mode-collapse-ring8 and improved-techniques
    (the same config, so it is trained once)."""
    first = PRESETS["mode-collapse-ring8"].configs()[0].with_(steps=steps)
    assert first == PRESETS["improved-techniques"].configs()[0].with_(steps=steps)
    return history(first)


def test_mode_collapse_on_ring8_and_wgan_gp_helps():
    plain = plain_ring8()
    late = plain["step"] >= 700
    assert plain["modes_covered"][late].max() <= 3 and plain["hq_share"][late].max() < 0.05
    (wgan_gp,) = runs("mode-collapse-ring8", 1000, 2)
    assert wgan_gp["modes_covered"][-5:].mean() >= 5 and at(wgan_gp, "js", 1000) < 0.1


def test_improved_techniques_label_smoothing_rescues_seed_0():
    plain = plain_ring8()
    (smooth,) = runs("improved-techniques", 1000, 1)
    late = smooth["step"] >= 800  # few samples are within 3σ yet: the mode count flickers
    assert smooth["modes_covered"][late].max() >= 7 and plain["modes_covered"][late].max() <= 3
    assert at(smooth, "js", 1000) < 0.1 and at(plain, "js", 1000) > 0.3
