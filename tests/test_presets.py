"""The classroom presets: valid, translated, and each one's lesson shown by its seeded runs.

The effect tests assert the lesson checks of ``gandemo.lessons`` (the same ones the Compare page
ticks live) on the preset's own configs (seed 0), trained with fewer steps where the effect already
shows, each variant alone with ``Trainer`` (deterministic given the config; a comparison trains
the same numbers). Variants too slow for a test (minibatch discrimination, unrolled D, …) are left
out; their checks are evaluated on the full runs in docs/presets.md (scripts/preset_docs.py).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest

from gandemo.config import ConfigError, RunConfig, from_dict, to_dict
from gandemo.i18n import LANGUAGES, catalog
from gandemo.lessons import LESSONS, evaluate
from gandemo.presets import PRESETS, Preset, get_preset
from gandemo.trainer import Trainer

# seeded preset runs of hundreds of steps each, on one torch thread
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER = re.compile(r"\d+\.\d+|\d{2,}")




@cache
def history(cfg: RunConfig) -> dict[str, np.ndarray]:
    trainer = Trainer(cfg)
    trainer.run()
    assert trainer.diverged_at is None, f"{cfg}: {trainer.status}"
    return trainer.history.as_arrays()


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


# ------------------------------------------------------------------ lessons (seed 0)

# Per preset: steps to train per variant (variant index -> steps); untrained variants are None.
# A ring8 variant trained for 1000 steps is shared with every preset that has the same config.
SHORT: dict[str, dict[int, int]] = {
    "vanishing-gradient": {0: 200, 1: 200},
    "vanishing-gradient-live": {0: 60, 1: 60, 2: 60, 3: 60},
    "js-blind-w1-not": {0: 100, 1: 40, 2: 40},
    "mode-collapse-ring8": {0: 1000, 2: 1000},
    "d-strength": {0: 1000, 1: 500, 2: 200},
    "lipschitz-tools": {0: 300, 1: 300, 2: 300},
    # label smoothing: 6 modes at step 1000 (just the threshold), 8 from step 1420 on
    "improved-techniques": {0: 1000, 1: 1500},
}


def test_every_preset_is_tested():
    assert set(SHORT) == set(PRESETS)


@pytest.mark.parametrize("name", list(SHORT))
def test_lesson_shows_on_seed_0(name):
    """Every check whose variants this test trains passes on the short seeded runs."""
    cfgs = PRESETS[name].configs()
    hs = [history(cfgs[i].with_(steps=SHORT[name][i])) if i in SHORT[name] else None
          for i in range(len(cfgs))]
    results = evaluate(name, hs)
    tested = [r for r, c in zip(results, LESSONS[name]) if set(c.needs) <= set(SHORT[name])]
    assert tested
    for r in tested:
        assert r.passed is True, f"{name}.{r.key}: {r.text}"


def test_frozen_generator_sees_the_very_same_d():
    """vanishing-gradient: with G frozen both variants train the same D, so the G gradients
    differ only by the loss."""
    mm, ns = (history(c.with_(steps=200)) for c in PRESETS["vanishing-gradient"].configs())
    np.testing.assert_allclose(mm["d_loss"], ns["d_loss"], rtol=1e-6)
