"""Translations: every key in every language, real Chinese, matching placeholders, safe t();
English written once (registries, then locale files); engine and page strings in their own roots."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import ui  # registers the pages' locale root, as the app does
from gandemo import i18n
from gandemo.config import field_specs
from gandemo.i18n import (
    LANGUAGES,
    catalog,
    duplicate_keys,
    missing_keys,
    placeholders,
    registry_text,
    roots,
    t,
)
from gandemo.losses import LOSSES

ROOT = Path(__file__).resolve().parents[1]
ENGINE_FILES = sorted((ROOT / "gandemo").rglob("*.py"))
PAGE_FILES = [ROOT / "app.py", *sorted((ROOT / "views").glob("*.py")),
              *sorted((ROOT / "ui").rglob("*.py"))]

# Values that are the same in every language on purpose: symbols and formulas with a
# two-letter name. (Text without any 2+ letter word, like "x" or "{dim}D", and text that
# already contains Chinese, like "Language / 语言", counts as language-neutral anyway.)
SAME_IN_ALL = {"JS(p_r‖p_g)", "KL(p_r‖p_g)", "KL(p_g‖p_r)", "JS", "KL", "Adam", "RMSProp", "SGD"}
WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
FIELD = re.compile(r"\{[^{}]*\}")


def test_languages():
    assert LANGUAGES == {"en": "English", "zh": "简体中文"}


def test_the_engine_and_the_pages_each_have_a_root():
    assert roots() == (i18n.LOCALES_DIR, ui.LOCALES_DIR.resolve())
    assert i18n.LOCALES_DIR.parent.name == "gandemo" and ui.LOCALES_DIR.parent.name == "ui"


def test_every_file_parses_to_flat_strings():
    for lang in LANGUAGES:
        for path in sorted(p for root in roots() for p in (root / lang).glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            assert isinstance(data, dict), path
            bad = {k: v for k, v in data.items() if not isinstance(v, str) or not v.strip()}
            assert not bad, f"{path}: values must be non-empty strings: {bad}"


@pytest.mark.parametrize("root", roots(), ids=lambda r: r.parent.name)
def test_the_same_files_exist_in_every_language(root):
    names = {lang: {p.name for p in (root / lang).glob("*.json")} for lang in LANGUAGES}
    assert names["en"] and all(n == names["en"] for n in names.values()), names


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


def test_add_root_merges_a_folder_once(tmp_path, monkeypatch):
    for lang, text in (("en", "Scratch"), ("zh", "草稿")):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "x.json").write_text(json.dumps({"scratch.key": text}), "utf-8")
    monkeypatch.setattr(i18n, "_ROOTS", list(roots()))
    try:
        assert t("scratch.key", "zh") == "scratch.key"
        i18n.add_root(tmp_path)
        i18n.add_root(tmp_path)
        assert roots()[-1] == tmp_path.resolve() and len(roots()) == 3
        assert t("scratch.key", "zh") == "草稿" and t("fig.loss.title") != "fig.loss.title"
    finally:
        monkeypatch.undo()
        i18n.reload()
    assert t("scratch.key", "zh") == "scratch.key"


# --------------------------------------------------------------------------- English written once


def _en_locale_entries() -> dict[str, str]:
    """Every English key -> text as written in the locale files of every root."""
    return {k: v for root in roots() for entries in i18n.load_files("en", root).values()
            for k, v in entries.items()}


def test_the_registries_are_the_english_text():
    """``field.<name>.help`` is RunConfig's help line, ``loss.<name>.summary`` and
    ``name.loss.<name>`` the registry's summary and title, for every field and loss; English reads
    them from there, Chinese translates them."""
    reg = registry_text()
    assert {f"field.{n}.help" for n in field_specs()} | {f"loss.{n}.summary" for n in LOSSES} \
        | {f"name.loss.{n}" for n in LOSSES} == set(reg)
    for name, loss in LOSSES.items():
        assert t(f"loss.{name}.summary", "en") == loss.summary
        assert t(f"name.loss.{name}", "en") == loss.title
        for key in (f"loss.{name}.summary", f"name.loss.{name}"):
            zh = t(key, "zh")
            assert zh != t(key, "en") and CJK.search(zh), key
    assert t("field.seed.help", "en") == field_specs()["seed"]["help"]
    assert CJK.search(t("field.seed.help", "zh"))


def test_no_english_locale_entry_repeats_a_registry_string():
    """A second English text beside the registry's drifts from it: the en files must not have
    these keys at all (an equal copy is dropped too; it would drift next time)."""
    reg = registry_text()
    repeated = {k: (v, reg[k]) for k, v in _en_locale_entries().items() if k in reg}
    assert not repeated, f"en locale text beside the registry's (locale, registry): {repeated}"


def test_every_registry_string_is_translated():
    untranslated = sorted(set(registry_text()) - set(catalog("zh")))
    assert not untranslated, f"registry text without a zh translation: {untranslated}"


def test_every_chinese_key_has_an_english_source():
    orphans = sorted(set(catalog("zh")) - set(_en_locale_entries()) - set(registry_text()))
    assert not orphans, f"zh keys with neither an en locale entry nor a registry string: {orphans}"


# --------------------------------------------------------------------------- engine vs pages


def _strings(path: Path) -> tuple[set[str], set[str]]:
    """(string constants, leading literal parts of f-strings) of one Python file."""
    consts, prefixes = set(), set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and "." in head.value:
                prefixes.add(head.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            consts.add(node.value)
    return consts, prefixes


def _page_only_keys() -> set[str]:
    return {k for lang in LANGUAGES for k in catalog(lang, ui.LOCALES_DIR.resolve())}


def test_the_engine_uses_no_page_string():
    """gandemo/ runs without the app: no string in it, and no f-string key prefix (``t(f"name.
    {x}")``), names a key that only ui/locales has."""
    page_only = _page_only_keys()
    assert len(page_only) > 300
    hits = {}
    for path in ENGINE_FILES:
        consts, prefixes = _strings(path)
        found = (consts & page_only) | {k for k in page_only for p in prefixes if k.startswith(p)}
        if found:
            hits[path.name] = sorted(found)
    assert not hits, f"engine modules using page-only keys: {hits}"


def test_the_engine_keys_resolve_without_the_pages():
    """Every literal ``t("…")`` key of the engine is in the engine root or the registries."""
    engine = set(catalog("en", i18n.LOCALES_DIR)) | set(registry_text())
    zh = set(catalog("zh", i18n.LOCALES_DIR))
    call = re.compile(r"""\bt\(\s*["']([a-z][\w.-]*\w)["']""")
    used = {k for path in ENGINE_FILES for k in call.findall(path.read_text("utf-8"))}
    assert len(used) > 50
    assert not sorted(used - engine), sorted(used - engine)
    assert not sorted(used - zh), sorted(used - zh)


def test_the_pages_keys_resolve():
    """Literal keys of ``t``/``tr``/``tr_or`` in app.py, views/ and ui/, and the keys a run slot
    builds (controls, states, status line, boxes), exist in English and Chinese."""
    from gandemo.runner import DIVERGED, ERROR, FINISHED, PAUSED, QUEUED, RUNNING, STOPPED
    from ui.run_session import COMPARE, TRAIN

    call = re.compile(r"""\b(?:t|tr|tr_or)\(\s*["']([a-z][\w.-]*\w)["']""")
    used = {k for path in PAGE_FILES for k in call.findall(path.read_text("utf-8"))}
    assert len(used) > 150
    controls = ("start", "restart", "start_again", "pause", "resume", "step", "reset")
    states = ("ready", RUNNING, QUEUED, PAUSED, FINISHED, DIVERGED, STOPPED, ERROR)
    boxes = ("ready", "queued", "finished", "error", "time_limit", "auto_paused")
    for slot in (TRAIN, COMPARE):
        used |= {slot.key(f"controls.{c}") for c in (*controls, "changed")}
        used |= {slot.key(f"controls.{c}.help") for c in controls if c != "resume"}
        used |= {slot.key(f"state.{s}") for s in states} | {slot.key("line"), slot.key("rate")}
        used |= {f"{slot.key('box')}.{b}" for b in boxes}
    for lang in LANGUAGES:
        missing = sorted(used - set(catalog(lang)))
        assert not missing, (lang, missing)
