"""Hostile links on every page, through Streamlit's AppTest (issue 10, problems 2-4).

A corpus of query strings — huge, tiny, NaN/Inf, 400-digit, non-ASCII, Markdown/HTML/script text
— opens each page. Each must answer with no exception element, one message naming EVERY invalid
setting with its range (the valid ones kept), and no user text rendered as Markdown: anything
that came from the link appears only inside a code span. A browser test checks the real DOM.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import wait_for_app
from streamlit.testing.v1 import AppTest

from gandemo.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
LINK = "**bold** [link](http://evil.example) www.evil.example"

# setting -> hostile value; every one is invalid.
BAD_TRAIN = {
    "seed": "9" * 400, "steps": "1e309", "batch": "-1e400", "lr_g": "nan", "lr_d": "inf",
    "target": LINK, "loss": "<script>alert('evil')</script>", "activation":
    "<img src=x onerror=alert('evil')>", "g_width": "٣٢", "d_depth": "1e-400",
    "noise_dim": "0x10", "clip": "http://evil.example", "gp_lambda": "`evil` $x$ :red[evil]",
    "spectral_norm": "yes", "unrolled": "2.5", "eval_samples": "1_000", "beta1": "\u202e1",
    "d_width": "99999",  # inside the field's range at most 512, above this server's cap
}
GOOD_TRAIN = {"d_steps": "3", "log_every": " 20 ", "noise": "uniform", "r1_gamma": "5e-1"}
BAD_COMPARE = {"cmp_seed": "1e400", "cmp_steps": "9" * 400, "cmp_batch": "nan",
               "cmp_target": LINK}
MARKDOWN_KINDS = ("markdown", "caption", "error", "warning", "info", "success", "title",
                  "header", "subheader", "toast")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.*?)(?<!`)\1(?!`)", re.S)
USER_MARKERS = ("evil", "<script", "<img", "onerror", "**bold**", ":red[", "\u202e")


@pytest.fixture()
def fresh():
    made: list[AppTest] = []

    def make(params: dict, lang: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        if lang:
            at.session_state["lang"] = lang
        at.query_params.update(params)
        made.append(at)
        return at

    yield make
    # Opening a page with a bad link must not start training (nothing to stop afterwards).
    assert not [t for t in threading.enumerate() if t.name.startswith("gandemo-worker")]


def bodies(at: AppTest) -> list[str]:
    """The Markdown source of every element that renders Markdown."""
    out = []
    for kind in MARKDOWN_KINDS:
        out += [str(getattr(e, "value", "")) for e in at.get(kind)]
    return out


def assert_safe(at: AppTest) -> None:
    """No exception element, and nothing from the link outside a code span."""
    assert not at.exception, [e.message for e in at.exception]
    for body in bodies(at):
        outside = CODE_SPAN.sub("", body)
        assert not any(m in outside for m in USER_MARKERS), body


def error_text(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def open_compare(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    at.switch_page("views/compare.py").run()
    return at


@pytest.mark.parametrize("params", [  # the three links of problem 2, each alone
    {"seed": "9" * 400}, {"steps": "1e309"}, {"seed": "1e400"},
])
def test_huge_numbers_in_a_link_are_answered_not_crashed(fresh, params):
    at = fresh(params).run()
    assert_safe(at)
    (name, _), = params.items()
    text = error_text(at)
    assert f"({name})" in text or f"“{at.number_input(key=name).label}”" in text, text
    assert ("[0, 2147483647]" if name == "seed" else "[1, ") in text
    assert "e+09" not in text
    assert at.number_input(key=name).value == getattr(RunConfig(), name)
    assert name not in at.query_params  # dropped from the URL, default shown


def test_markdown_in_a_link_is_shown_as_text(fresh):
    at = fresh({"target": "**bold** [link](http://evil)"}).run()
    assert_safe(at)
    text = error_text(at)
    assert "target" in text and "'**bold** [link](http://evil)'" in text  # shown as typed …
    spans = [m.group(2) for m in CODE_SPAN.finditer(text)]
    assert any("[link](http://evil)" in s for s in spans)  # … inside a code span only


def test_every_invalid_setting_of_a_link_is_named_and_the_valid_ones_kept(fresh):
    at = fresh({**BAD_TRAIN, **GOOD_TRAIN, "run": LINK, "preset": LINK, "lang": LINK}).run()
    assert_safe(at)
    text = error_text(at)
    assert f"{len(BAD_TRAIN)} invalid settings" in text, text
    for name in BAD_TRAIN:
        assert f"` {name} `" in text, name
    assert "[0, 2147483647]" in text and "[2, " in text and "allows at most" in text
    assert (at.session_state["d_steps"], at.session_state["log_every"]) == (3, 20)
    assert at.session_state["noise"] == "uniform" and at.session_state["r1_gamma"] == 0.5
    for name in BAD_TRAIN:
        assert at.session_state[name] == getattr(RunConfig(), name), name
        assert name not in at.query_params
    assert at.query_params.get("log_every") == "20"  # rewritten in the widget's spelling
    assert not at.button(key="start").disabled
    at.run()  # the next rerun: still fine, the message not repeated
    assert_safe(at)
    assert error_text(at).count("invalid settings") == 1


def test_the_compare_page_names_its_bad_parameters(fresh):
    params = {**BAD_COMPARE, "cmp_losses": ["hinge", "<script>evil</script>", "wgan-gp"],
              "cmp_levels": ["strong", "**evil**"], "cmp": LINK}
    at = open_compare(fresh(params))
    assert_safe(at)
    text = error_text(at)
    for name in [*BAD_COMPARE, "cmp_losses", "cmp_levels"]:
        assert f"` {name} `" in text, (name, text)
    assert "[0, 2147483647]" in text
    assert at.multiselect(key="cmp_losses").value == ["hinge", "wgan-gp"]
    assert at.multiselect(key="cmp_levels").value == ["strong"]
    assert at.number_input(key="cmp_seed").value == 0


def test_a_compare_link_made_in_english_works_in_chinese(fresh):
    at = open_compare(fresh({"cmp_levels": ["weak", "strong"]}, lang="zh"))
    assert_safe(at)
    assert at.multiselect(key="cmp_levels").value == ["weak", "strong"]
    assert not at.error


@pytest.mark.parametrize("page", ["views/theory.py", "views/status.py"])
def test_pages_without_settings_ignore_a_hostile_link(fresh, page):
    at = fresh({**BAD_TRAIN, **BAD_COMPARE}).run()
    at.switch_page(page).run()
    assert_safe(at)
    assert at.title


def test_uploaded_config_names_every_bad_setting_and_loads_the_rest(fresh):
    at = fresh({}).run()
    content = ('{"seed": 1e400, "steps": ' + "9" * 400 + ', "target": "' + LINK + '", '
               '"d_steps": 4, "<a href=evil>": 1}').encode()
    at.get("file_uploader")[0].upload("[x](http://evil).json", content, "application/json")
    at.run()
    assert_safe(at)
    text = error_text(at)
    for name in ("seed", "steps", "target"):
        assert f"` {name} `" in text, text
    assert "<a href=evil>" in text and "[x](http://evil).json" in text  # in code spans
    assert at.session_state["d_steps"] == 4 and at.session_state["steps"] == RunConfig().steps


@pytest.mark.browser
def test_the_real_page_has_no_link_or_markup_from_the_url(streamlit_server, chromium):
    """In Chromium: the error alert shows the link's text but no <a>, <strong> or <img> from it."""
    page = chromium.new_page()
    try:
        query = urlencode({"target": "**bold** [link](http://evil.example)",
                           "activation": "<img src=x onerror=alert(1)>", "seed": "1e400"})
        page.goto(f"{streamlit_server}/?{query}")
        wait_for_app(page)
        alert = page.locator("[data-testid='stAlertContentError']").first
        alert.wait_for(timeout=60_000)
        assert page.locator("a[href*='evil']").count() == 0
        assert "[link](http://evil.example)" in alert.inner_text()
        assert page.locator("[data-testid='stMain'] strong", has_text="bold").count() == 0
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()
