"""Variant names a class can read: words for what differs, never raw ``name=value`` strings."""

from __future__ import annotations

import re

import pytest

from gandemo.compare import apply_strength
from gandemo.config import RunConfig
from gandemo.i18n import LANGUAGES, catalog, t
from gandemo.naming import settings_text, variant_names
from gandemo.presets import PRESETS

RAW = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\s*=|\bname\.|\bvariant\.")


@pytest.mark.parametrize("lang", list(LANGUAGES))
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_variant_has_a_short_translated_name(preset, lang):
    p = PRESETS[preset]
    names = variant_names(p.configs(), lang, p.names or None)
    assert len(names) == len(set(names)) == len(p.configs())
    for name in names:
        assert not RAW.search(name), name
        assert 0 < len(name) <= 40, name
    for slug in p.names:
        assert f"variant.{slug}" in catalog(lang)


def test_names_say_what_differs_in_words():
    base = RunConfig(target="ring8")
    names = variant_names([base, base.with_(label_smoothing=0.1), base.with_(minibatch_disc=True)])
    assert names == ["plain", "label smoothing 0.1", "minibatch discrimination"]
    losses = variant_names([base.with_(loss="wgan"), base.with_(loss="wgan-gp", d_steps=5),
                            base.with_(loss="hinge", spectral_norm=True)])
    assert losses == ["WGAN weight clipping", "WGAN-GP + k = 5", "hinge + spectral norm"]


def test_only_the_odd_one_out_names_the_usual_setting():
    base = RunConfig()
    names = variant_names([base, base.with_(d_steps=5), base.with_(unrolled=5)])
    assert names == ["plain", "k = 5", "unrolled D (5 steps)"]


def test_strength_levels_are_named_as_levels():
    base = RunConfig(loss="hinge")
    configs = [apply_strength(base.with_(loss=loss), level)
               for loss in ("hinge", "nonsaturating") for level in ("weak", "strong")]
    names = variant_names(configs)
    assert names == ["hinge + weak D", "hinge + strong D",
                     "non-saturating + weak D", "non-saturating + strong D"]
    zh = variant_names(configs, "zh")[1]
    assert zh == f"{t('name.loss.hinge', 'zh')} + {t('name.strength.strong', 'zh')}"


def test_values_are_never_cut_and_identical_twins_are_numbered():
    base = RunConfig()
    names = variant_names([base.with_(lr_d=0.00123456), base.with_(lr_d=0.002), base])
    assert names[0] == "D learning rate 0.00123456"
    assert variant_names([base, base]) == ["plain #1", "plain #2"]


def test_settings_text_lists_every_changed_setting():
    cfg = RunConfig(loss="hinge", spectral_norm=True, d_steps=5)
    text = settings_text(cfg)
    assert set(text.splitlines()) == {"loss = hinge", "spectral_norm = True", "d_steps = 5"}
    assert settings_text(RunConfig()) == "defaults"


def test_every_registered_loss_has_words_in_every_language():
    from gandemo.losses import LOSSES

    for lang in LANGUAGES:
        for loss in LOSSES:
            assert f"name.loss.{loss}" in catalog(lang), (lang, loss)
