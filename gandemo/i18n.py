"""Tiny translation layer: flat dotted keys in ``<root>/<lang>/*.json``, merged per language.

Two kinds of roots: the engine's own ``gandemo/locales`` (figures, exports, lessons, variant
names, the words of the registries) and any folder a front end registers with ``add_root`` (the
Streamlit app's page strings in ``ui/locales``, registered by ``ui/__init__.py``). Each area keeps
its own file (``figures.json``, ``compare.json``, …); a key lives in exactly one file of one root.

The registries are the English catalog of what they name: ``field.<name>.help`` is RunConfig's
help line and ``loss.<name>.summary`` is ``Loss.summary``; the English locale files do not repeat
them, other languages translate them under the same keys.

``t()`` never raises: an unknown key comes back as itself, a missing translation falls back to
English.
"""

from __future__ import annotations

import json
import string
from functools import cache
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANG = "en"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
_ROOTS: list[Path] = [LOCALES_DIR]


def add_root(path: str | Path) -> None:
    """Merge the locale folder ``path`` (``<path>/<lang>/*.json``) into every catalog; adding a
    folder twice does nothing."""
    root = Path(path).resolve()
    if root not in _ROOTS:
        _ROOTS.append(root)
        reload()


def roots() -> tuple[Path, ...]:
    """The locale folders merged by ``catalog()``: the engine's first, then those added."""
    return tuple(_ROOTS)


@cache
def registry_text() -> dict[str, str]:
    """English owned by the registries: ``field.<name>.help`` (RunConfig), ``loss.<name>.summary``
    and ``name.loss.<name>`` (LOSSES: summary, title). Imported on first use: the registries
    need torch."""
    from .config import field_specs
    from .losses import LOSSES

    return {**{f"field.{name}.help": spec["help"] for name, spec in field_specs().items()},
            **{f"loss.{name}.summary": loss.summary for name, loss in LOSSES.items()},
            **{f"name.loss.{name}": loss.title for name, loss in LOSSES.items()}}


@cache
def load_files(lang: str, root: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """``{file name: {key: text}}`` of one root for one language, files in name order (cached)."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted((Path(root) / lang).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: top level must be an object of key -> text")
        out[path.name] = {str(k): str(v) for k, v in data.items()}
    return out


@cache
def catalog(lang: str, root: Path | None = None) -> dict[str, str]:
    """All keys of one language merged into one dict (cached). ``root=None``: every registered
    root, and for English the registry text underneath; a given root: that folder alone."""
    merged = dict(registry_text()) if root is None and lang == DEFAULT_LANG else {}
    for folder in roots() if root is None else (root,):
        for entries in load_files(lang, folder).values():
            merged.update(entries)
    return merged


def reload() -> None:
    """Forget the cached catalogs (after editing a JSON file or adding a root)."""
    load_files.cache_clear()
    catalog.cache_clear()
    registry_text.cache_clear()


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


def missing_keys(root: Path | None = None) -> dict[str, set[str]]:
    """Per language, the keys some other language has and this one lacks (``root=None``: every
    registered root, English including the registry text)."""
    keys = {lang: set(catalog(lang, root)) for lang in LANGUAGES}
    every = set().union(*keys.values())
    return {lang: every - own for lang, own in keys.items()}


def duplicate_keys(root: Path | None = None) -> dict[str, set[str]]:
    """Per language, the keys defined twice: in two files (of one root or of two), or twice
    within one file."""
    out: dict[str, set[str]] = {}
    for lang in LANGUAGES:
        seen: set[str] = set()
        dups: set[str] = set()
        for folder in roots() if root is None else (root,):
            for path in sorted((Path(folder) / lang).glob("*.json")):
                for key in _raw_keys(path):
                    (dups if key in seen else seen).add(key)
        out[lang] = dups
    return out


def _raw_keys(path: Path) -> list[str]:
    """Every key of a JSON file in order, repeats included (``json.loads`` would hide them)."""
    text = path.read_text(encoding="utf-8")
    return json.loads(text, object_pairs_hook=lambda pairs: [k for k, _ in pairs])
