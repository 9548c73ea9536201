"""Language of the current session and translation shortcuts for the pages."""

from __future__ import annotations

import re

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


# --------------------------------------------------------------------------- untrusted text

MAX_SHOWN = 200  # characters of one piece of user text shown in a message


def md_code(text: object) -> str:
    """Text from a user (a URL, a file name, an uploaded value) as an inline code span, the one
    Markdown construct whose content is shown literally: no link, autolink (GFM finds bare
    ``http://…`` even after backslash escapes), emphasis, HTML, ``:colour[…]``, emoji
    shortcode or ``$math$`` forms inside it. The fence is one backtick longer than any run of
    backticks in the text; control and bidi characters are shown as ``\\uXXXX``; the text is cut
    to MAX_SHOWN characters."""
    text = str(text)
    if len(text) > MAX_SHOWN:
        text = text[:MAX_SHOWN - 1] + "…"
    text = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"  # CommonMark strips one space each side


# --------------------------------------------------------------------------- URL screening
#
# A widget bound to the URL (``bind="query-params"``) reads its first value from the query string
# Streamlit received, before any page code can look at it, and a value its deserializer cannot
# handle crashes the page (``?seed=1e400``: OverflowError in number_input). The pages therefore
# screen their parameters first and rewrite what the widgets will read: an invalid value is
# removed (the widget shows its default), a valid one is written in the widget's own spelling.
# Streamlit keeps that first-read copy in ``QueryParams._initial_query_params`` (1.67); no
# public API reaches it, so it is touched here and nowhere else (tests/test_hostile_links.py
# fails if a Streamlit upgrade moves it).


def _query_params_state():
    from streamlit.runtime.state.session_state_proxy import get_session_state

    return get_session_state().query_params()


def url_params() -> dict[str, list[str]]:
    """Every query parameter the widgets will read, as lists of values (``?a=1&a=2``)."""
    with _query_params_state() as qp:
        initial = getattr(qp, "_initial_query_params", None)
        if isinstance(initial, dict):
            return {k: list(v) if isinstance(v, list) else [v] for k, v in initial.items()}
    return {k: st.query_params.get_all(k) for k in st.query_params}


def rewrite_url_params(changes: dict[str, list[str] | None]) -> None:
    """Before the bound widgets are drawn: replace each parameter's values (None: remove it)
    in what the widgets read and in the browser's URL."""
    if not changes:
        return
    with _query_params_state() as qp:
        initial = getattr(qp, "_initial_query_params", None)
        for key, values in changes.items():
            if isinstance(initial, dict):
                if values is None:
                    initial.pop(key, None)
                else:
                    initial[key] = list(values)
            if values is None:
                qp.discard_param_no_forward_msg(key)
            else:
                qp.set_with_no_forward_msg(key, values if len(values) > 1 else values[0])
        qp._send_query_param_msg()
