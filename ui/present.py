"""Presentation mode: a lecture hall reads the app from the back row.

On with the sidebar toggle or with ``?present=1`` in the URL (``?present=720`` for a 1280×720
projector; ``1`` and ``1080`` mean 1920×1080), so a teacher can bookmark it. It

* collapses the sidebar and enlarges the page's own text (root font size per screen),
* draws every live figure in ``figures.PRESENT`` (ticks ≥ 20 px, titles and legends ≥ 22 px,
  thicker lines, larger markers, darker grid) at heights that keep the main figure on one
  projector screen without scrolling (``SIZES``),
* puts the explanation of the loaded preset on the main stage, beside the plots (``stage``).

Exports keep their own sizes and the normal style. State: ``st.session_state["present"]``
(bool) and ``["present_screen"]`` ("1080" / "720"), mirrored into the URL by ``sync_url``.
"""

from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

from gandemo.figures import Style, style_for

from .common import tr, tr_or

PARAM = "present"  # URL query parameter
ON_KEY = "present"  # st.session_state: presentation mode on?
SCREEN_KEY = "present_screen"  # st.session_state: "1080" or "720"
SCREENS = ("1080", "720")
TRUE_WORDS = {"1", "true", "on", "yes", "1080"}
# Per projector height (px of the browser's viewport): the page's root font size and the heights
# of the figures, chosen so the controls, the status line and the main figure fit one screen.
SIZES = {
    "1080": {"root": 20, "frame_1d": 600, "frame_2d": 720, "curves": 400, "div": 520,
             "tile_1d": 430, "tile_2d": 460, "cmp_curve": 420},
    "720": {"root": 16, "frame_1d": 380, "frame_2d": 470, "curves": 330, "div": 430,
            "tile_1d": 330, "tile_2d": 330, "cmp_curve": 330},
}
SIDE_RATIO = (2.6, 1)  # plots : explanation on the stage


def parse(value: str | None) -> str | None:
    """A ``?present=`` value -> the screen ("1080" / "720"), or None for off / unknown."""
    text = (value or "").strip().lower()
    if text == "720":
        return "720"
    return "1080" if text in TRUE_WORDS else None


def init() -> None:
    """Once per session (before the sidebar is drawn): presentation mode from the URL."""
    if ON_KEY not in st.session_state:
        screen = parse(st.query_params.get(PARAM))
        st.session_state[ON_KEY] = screen is not None
        st.session_state[SCREEN_KEY] = screen or "1080"


def is_on() -> bool:
    return bool(st.session_state.get(ON_KEY, False))


def screen() -> str:
    value = st.session_state.get(SCREEN_KEY, "1080")
    return value if value in SCREENS else "1080"


def size(name: str) -> int:
    """A figure height (px) of ``SIZES`` for the current screen."""
    return SIZES[screen()][name]


def style() -> Style:
    """The figure style of this session: ``figures.PRESENT`` or the normal one."""
    return style_for(is_on())


def sidebar_toggle() -> None:
    """The toggle (and, when on, the projector size) in the shared sidebar."""
    st.toggle(tr("present.toggle"), key=ON_KEY, help=tr("present.toggle.help"))
    if is_on():
        st.radio(tr("present.screen"), SCREENS, key=SCREEN_KEY, horizontal=True,
                 format_func=lambda s: "1920 × 1080" if s == "1080" else "1280 × 720")


def sync_url() -> None:
    """``?present=1`` (1080) / ``?present=720`` while on; no parameter while off."""
    want = ("1" if screen() == "1080" else "720") if is_on() else None
    if want is None:
        if PARAM in st.query_params:
            del st.query_params[PARAM]
    elif st.query_params.get(PARAM) != want:
        st.query_params[PARAM] = want


PAGE_CSS = """<style>
html {{ font-size: {root}px; }}
[data-testid="stMainBlockContainer"] {{ padding-top: 3.6rem; padding-bottom: 1rem;
  padding-left: 2rem; padding-right: 2rem; max-width: 100%; }}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {{
  color: #262626 !important; font-size: 0.95rem; }}
.st-key-present_stage p, .st-key-present_stage li {{ font-size: 1.05rem; line-height: 1.45;
  color: #111111; }}
.st-key-present_stage h3 {{ font-size: 1.3rem; }}
[class*="st-key-title_"] p {{ margin-bottom: 0 !important; }}
[data-testid="stMainBlockContainer"] h1 {{ font-size: 1.6rem; padding: 0 0 0.2rem 0; }}
[data-testid="stMain"] [data-stale="true"] {{ opacity: 1 !important; transition: none !important; }}
</style>"""


def apply() -> None:
    """On: collapse the sidebar (a fresh browser; one where the user has opened or closed the
    sidebar by hand keeps that choice — Streamlit stores it) and enlarge the page's text."""
    if not is_on():
        return
    st.set_page_config(initial_sidebar_state="collapsed")
    st.html(PAGE_CSS.format(root=SIZES[screen()]["root"]))


@contextmanager
def stage(preset: str | None):
    """The main area: in presentation mode with a preset loaded, the plots (the ``with`` body)
    on the left and the preset's explanation on the right; otherwise the body alone."""
    explain = tr_or(f"preset.{preset}.explain", "") if preset else ""
    if not (is_on() and explain):
        yield
        return
    plots, side = st.columns(SIDE_RATIO, gap="large")
    with side, st.container(key="present_stage"):
        st.subheader(tr_or(f"preset.{preset}.title", preset))
        st.markdown(explain)
    with plots:
        yield
