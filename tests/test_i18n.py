"""Translations: every key in every language, real Chinese, matching placeholders, safe t()."""

from __future__ import annotations

import json
import re

import pytest

from gandemo import i18n
from gandemo.i18n import LANGUAGES, catalog, duplicate_keys, missing_keys, placeholders, t

# Values that are the same in every language on purpose: symbols and formulas with a
# two-letter name. (Text without any 2+ letter word, like "x" or "{dim}D", and text that
# already contains Chinese, like "Language / 语言", counts as language-neutral anyway.)
SAME_IN_ALL = {"JS(p_r‖p_g)", "KL(p_r‖p_g)", "KL(p_g‖p_r)", "JS", "KL", "Adam", "RMSProp", "SGD"}
WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
FIELD = re.compile(r"\{[^{}]*\}")


def test_languages():
    assert LANGUAGES == {"en": "English", "zh": "简体中文"}


def test_every_file_parses_to_flat_strings():
    for lang in LANGUAGES:
        for path in sorted((i18n.LOCALES_DIR / lang).glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            assert isinstance(data, dict), path
            bad = {k: v for k, v in data.items() if not isinstance(v, str) or not v.strip()}
            assert not bad, f"{path}: values must be non-empty strings: {bad}"


def test_the_same_files_exist_in_every_language():
    names = {lang: {p.name for p in (i18n.LOCALES_DIR / lang).glob("*.json")}
             for lang in LANGUAGES}
    assert all(n == names["en"] for n in names.values()), names


def test_no_key_is_missing_in_any_language():
    missing = {lang: sorted(keys) for lang, keys in missing_keys().items() if keys}
    assert not missing, f"keys without a translation: {missing}"


def test_no_key_is_defined_twice():
    dups = {lang: sorted(keys) for lang, keys in duplicate_keys().items() if keys}
    assert not dups, f"keys defined in two places: {dups}"


def _needs_translation(text: str) -> bool:
    """Has an English word outside the format fields, and no Chinese yet."""
    return bool(WORD.search(FIELD.sub("", text))) and not CJK.search(text)


def test_chinese_is_actually_translated():
    en, zh = catalog("en"), catalog("zh")
    untranslated = sorted(
        key for key, text in en.items()
        if zh.get(key) == text and _needs_translation(text) and text not in SAME_IN_ALL
    )
    assert not untranslated, f"zh text identical to en: {untranslated}"


@pytest.mark.parametrize(("text", "needed"), [
    ("step {step}", True), ("{dim}D · {text}", False), ("x", False), ("W1", False),
    ("Language / 语言", False), ("{label} ∈ [{lo}, {hi}]", False), ("D loss", True),
])
def test_what_counts_as_needing_translation(text, needed):
    assert _needs_translation(text) is needed


def test_placeholders_match_between_languages():
    en, zh = catalog("en"), catalog("zh")
    diff = {k: (placeholders(en[k]), placeholders(zh[k])) for k in en.keys() & zh.keys()
            if placeholders(en[k]) != placeholders(zh[k])}
    assert not diff, f"format fields differ: {diff}"
    assert all("<malformed>" not in placeholders(v) for c in (en, zh) for v in c.values())


def test_t_looks_up_formats_and_never_raises():
    assert t("fig.density.title", "en", step=7) == "Densities and discriminator · step 7"
    assert CJK.search(t("fig.density.title", "zh", step=7)) and "7" in t(
        "fig.density.title", "zh", step=7)
    assert t("no.such.key") == "no.such.key"
    assert t("no.such.key", "zh", step=1) == "no.such.key"
    assert t("fig.density.title", "en") == "Densities and discriminator · step {step}"
    assert t("fig.density.title", "en", wrong=1) == "Densities and discriminator · step {step}"
    assert t("fig.loss.title", "xx") == t("fig.loss.title", "en")  # unknown language -> English


def test_helpers_on_a_scratch_locale_tree(tmp_path):
    for lang, files in {
        "en": {"a.json": {"k.one": "One {n}", "k.two": "Two"}, "b.json": {"k.one": "again"}},
        "zh": {"a.json": {"k.one": "一 {n}"}},
    }.items():
        (tmp_path / lang).mkdir()
        for name, data in files.items():
            (tmp_path / lang / name).write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    (tmp_path / "zh" / "c.json").write_text('{"k.x": "1", "k.x": "2"}', "utf-8")
    try:
        assert missing_keys(tmp_path) == {"en": {"k.x"}, "zh": {"k.two"}}
        assert duplicate_keys(tmp_path) == {"en": {"k.one"}, "zh": {"k.x"}}
        assert catalog("en", tmp_path)["k.one"] == "again"  # later file wins, and is reported
    finally:
        i18n.reload()


@pytest.mark.parametrize(("text", "fields"), [
    ("a {x} b {y:.2f}", {"x", "y"}), ("{{literal}}", set()), ("plain", set()),
    ("broken {", {"<malformed>"}),
])
def test_placeholders(text, fields):
    assert placeholders(text) == fields
