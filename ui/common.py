"""Language of the current session and translation shortcuts for the pages."""

from __future__ import annotations

import streamlit as st

from gandemo.i18n import DEFAULT_LANG, LANGUAGES, t

LANG_KEY = "lang"  # widget key, session-state key and URL query parameter


def lang() -> str:
    """The session's language code (``en`` / ``zh``), as chosen in the shared sidebar."""
    code = st.session_state.get(LANG_KEY, DEFAULT_LANG)
    return code if code in LANGUAGES else DEFAULT_LANG


def tr(key: str, **fmt: object) -> str:
    """``key`` translated into the session's language."""
    return t(key, lang(), **fmt)


def labeler(prefix: str = "", fallback: dict[str, str] | None = None):
    """A ``format_func`` for option widgets, bound to the language of this script run.

    Streamlit may call a ``format_func`` outside the script run (AppTest does, to serialise the
    widget state), where session state is unavailable; a closure over the language is safe."""
    code = lang()
    fallback = fallback or {}

    def fmt(option: object) -> str:
        key = f"{prefix}{option}"
        text = t(key, code)
        return fallback.get(str(option), text) if text == key else text

    return fmt


def tr_or(key: str, fallback: str, **fmt: object) -> str:
    """Like ``tr``, but ``fallback`` where no locale file has ``key``."""
    text = tr(key, **fmt)
    return fallback if text == key else text


def ordinal(n: int) -> str:
    """"1st", "2nd", … / "第 1 位", … from the locale files."""
    if lang() == "en" and n % 100 not in (11, 12, 13) and n % 10 in (1, 2, 3):
        return tr(f"ui.common.ordinal.{n % 10}", n=n)
    return tr("ui.common.ordinal.n", n=n)
