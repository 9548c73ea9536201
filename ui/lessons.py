"""Live check marks for a preset run: each promised effect of the lesson, ticked on the run's
own history (the checks are ``gandemo.lessons``, the same ones tests/test_presets.py asserts).

``lesson_checks(preset_name, histories, lang)`` is self-contained: call it wherever the preset's
explanation is shown (sidebar or main stage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from gandemo import lessons
from gandemo.i18n import t
from gandemo.presets import PRESETS

COLORS = {True: "green", False: "red", None: "gray"}


def mark(passed: bool | None, finished: bool, lang: str) -> str:
    """✓ / ✗ not yet / ✗ not in this run / … as coloured Markdown."""
    if passed is None:
        key = "lesson.mark.wait"
    elif passed:
        key = "lesson.mark.pass"
    else:
        key = "lesson.mark.fail_final" if finished else "lesson.mark.fail"
    return f":{COLORS[passed]}[{t(key, lang)}]"


def lines(preset_name: str, histories: Mapping | Sequence, lang: str,
          finished: bool = False) -> list[str]:
    """One Markdown line per check of the preset (empty for an unknown preset)."""
    if preset_name not in PRESETS:
        return []
    return [f"{mark(r.passed, finished, lang)} {_escape(r.text)}"
            for r in lessons.evaluate(preset_name, histories, lang)]


def _escape(text: str) -> str:
    """Our own texts, but Markdown must not read ``*``, ``_``, ``[`` or ``$`` in them."""
    for ch in "\\*_[]$":
        text = text.replace(ch, "\\" + ch)
    return text


def lesson_checks(preset_name: str, histories: Mapping | Sequence, lang: str,
                  finished: bool = False) -> None:
    """Render the preset's checks on ``histories`` (variant order, or label -> arrays in variant
    order, as ``run.history()`` gives); ``finished``: a failed check reads "not in this run"
    instead of "not yet"."""
    rows = lines(preset_name, histories, lang, finished)
    if not rows:
        return
    with st.container():
        st.markdown(f"**{t('lesson.title', lang)}**")
        st.markdown("\n".join(f"- {row}" for row in rows))
        st.caption(t("lesson.caption", lang))
