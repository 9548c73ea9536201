"""Tiny translation layer: flat dotted keys in ``locales/<lang>/*.json``, merged per language.

Each area of the app keeps its own file (``figures.json``, ``train.json``, …). ``t()`` never
raises: an unknown key comes back as itself, a missing translation falls back to English.
"""

from __future__ import annotations

import json
import string
from functools import cache
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANG = "en"
LOCALES_DIR = Path(__file__).parent / "locales"


@cache
def load_files(lang: str, root: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """``{file name: {key: text}}`` for one language, files in name order (cached)."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted((Path(root) / lang).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: top level must be an object of key -> text")
        out[path.name] = {str(k): str(v) for k, v in data.items()}
    return out


@cache
def catalog(lang: str, root: Path = LOCALES_DIR) -> dict[str, str]:
    """All keys of one language merged into one dict (cached)."""
    merged: dict[str, str] = {}
    for entries in load_files(lang, root).values():
        merged.update(entries)
    return merged


def reload() -> None:
    """Forget the cached catalogs (after editing a JSON file)."""
    load_files.cache_clear()
    catalog.cache_clear()


def t(key: str, lang: str = DEFAULT_LANG, **fmt: object) -> str:
    """Translate ``key`` into ``lang`` and ``str.format`` it; never raises."""
    text = catalog(lang).get(key) if lang in LANGUAGES else None
    if text is None:
        text = catalog(DEFAULT_LANG).get(key, key)
    if not fmt:
        return text
    try:
        return text.format(**fmt)
    except (KeyError, IndexError, ValueError):
        return text


def placeholders(text: str) -> set[str]:
    """Names of the ``str.format`` fields in ``text`` (``"{step}"`` -> ``{"step"}``)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<malformed>"}


def missing_keys(root: Path = LOCALES_DIR) -> dict[str, set[str]]:
    """Per language, the keys some other language has and this one lacks."""
    keys = {lang: set(catalog(lang, root)) for lang in LANGUAGES}
    every = set().union(*keys.values())
    return {lang: every - own for lang, own in keys.items()}


def duplicate_keys(root: Path = LOCALES_DIR) -> dict[str, set[str]]:
    """Per language, the keys defined twice: in two files, or twice within one file."""
    out: dict[str, set[str]] = {}
    for lang in LANGUAGES:
        seen: set[str] = set()
        dups: set[str] = set()
        for path in sorted((Path(root) / lang).glob("*.json")):
            for key in _raw_keys(path):
                (dups if key in seen else seen).add(key)
        out[lang] = dups
    return out


def _raw_keys(path: Path) -> list[str]:
    """Every key of a JSON file in order, repeats included (``json.loads`` would hide them)."""
    text = path.read_text(encoding="utf-8")
    return json.loads(text, object_pairs_hook=lambda pairs: [k for k, _ in pairs])
