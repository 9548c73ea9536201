"""The Theory page through AppTest: renders, shows theory.py's numbers, reacts, speaks Chinese."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gandemo import figures as F
from gandemo import theory as T
from gandemo.i18n import t
from ui import present

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "views" / "theory.py")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture()
def page():
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at) -> dict[str, str]:
    """label -> value of every st.metric (labels are unique on the page except KL(p‖q), which
    the explorer and the cross-entropy row both show with the same number)."""
    return {m.label: m.value for m in at.metric}


def explorer_numbers(at, lang="en") -> list[str]:
    return [metrics(at)[t(f"theory.num.{k}", lang)] for k in ("kl_pq", "kl_qp", "js", "w1", "tv")]


def expected(p_dist: T.Dist, q_dist: T.Dist) -> list[str]:
    table = T.divergence_table(T.density(p_dist), T.density(q_dist))
    return [T.fmt(v) for v in (table.kl_pq, table.kl_qp, table.js, table.w1, table.tv)]


DEFAULT_P = T.Dist.make("gaussian", mu=0.0, sigma=1.0)
DEFAULT_Q = T.Dist.make("gaussian", mu=2.0, sigma=0.6)


def test_renders_every_section_with_five_figures(page):
    assert page.title[0].value == t("theory.title", "en")
    headers = [h.value for h in page.header]
    for key in ("explorer", "f", "opt", "bce", "myth"):
        assert t(f"theory.{key}.header", "en") in headers
    charts = page.get("plotly_chart")
    assert len(charts) == 5
    spec = json.loads(charts[0].proto.spec)
    assert spec["layout"]["template"]["layout"]["paper_bgcolor"] == "white"
    assert spec["layout"]["font"]["size"] >= 13 and spec["layout"]["height"] > 0
    assert len(page.get("latex")) >= 8  # formulas are typeset, not written out


def chart_fonts(at) -> list[tuple[int, int, int]]:
    """(tick, title, legend) font sizes of every figure on the page."""
    specs = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]
    return [(s["font"]["size"], s["title"]["font"]["size"], s["legend"]["font"]["size"])
            for s in specs]


def test_presentation_mode_draws_every_figure_large(page):
    normal = (F.STYLE.tick, F.STYLE.title, F.STYLE.legend)
    assert chart_fonts(page) == [normal] * 5
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state[present.ON_KEY] = True  # what ?present=1 or the sidebar toggle sets
    at.run()
    assert not at.exception, at.exception
    assert chart_fonts(at) == [(F.PRESENT.tick, F.PRESENT.title, F.PRESENT.legend)] * 5
    assert explorer_numbers(at) == explorer_numbers(page)  # same numbers, larger words


def test_metrics_are_theory_numbers(page):
    m = metrics(page)
    assert explorer_numbers(page) == expected(DEFAULT_P, DEFAULT_Q)
    table = T.divergence_table(T.density(DEFAULT_P), T.density(DEFAULT_Q))
    js_metric = next(x for x in page.metric if x.label == t("theory.num.js", "en"))
    assert js_metric.delta == t("theory.unit.bits_value", "en", value=T.fmt(table.js_bits))
    opt = T.optimal_view(T.density(DEFAULT_P), T.density(DEFAULT_Q))
    assert m[t("theory.opt.v", "en")] == m[t("theory.opt.two_js", "en")] == T.fmt(opt.v_opt, 6)
    view = T.f_view("kl", T.density(DEFAULT_P), T.density(DEFAULT_Q))
    assert m[t("theory.f.d_f", "en")] == T.fmt(view.d_f) == T.fmt(table.kl_pq)
    bce = T.bce_view(0.3, 1.0)
    assert m[t("theory.bce.bce", "en")] == T.fmt(bce["bce"]) == m[t("theory.bce.kl", "en")]
    assert m[t("theory.bce.h_t", "en")] == "0.0000"
    sweep = T.shift_sweep(DEFAULT_P, [1.0])
    assert m[t("theory.sweep.js", "en")] == T.fmt(sweep["js"][0])
    assert m[t("theory.sweep.w1", "en")] == "1.0000"


def test_moving_sliders_changes_the_numbers(page):
    before = explorer_numbers(page)
    page.slider(key="th_q_gaussian_mu").set_value(0.5).run()
    page.slider(key="th_p_gaussian_sigma").set_value(0.5).run()
    after = explorer_numbers(page)
    assert after != before
    assert after == expected(T.Dist.make("gaussian", mu=0.0, sigma=0.5),
                             T.Dist.make("gaussian", mu=0.5, sigma=0.6))
    # the sweep: far apart, JS is ln 2 and W1 the separation
    page.slider(key="th_shift").set_value(9.0).run()
    m = metrics(page)
    assert m[t("theory.sweep.js", "en")] == T.fmt(math.log(2))
    assert m[t("theory.sweep.w1", "en")] == "9.0000"
    assert m[t("theory.sweep.slope_js", "en")] == "0.0000"


def test_family_switch_and_disjoint_uniforms_show_infinite_kl(page):
    page.selectbox(key="th_p_family").set_value("uniform").run()
    page.selectbox(key="th_q_family").set_value("uniform").run()
    page.slider(key="th_p_uniform_ab").set_value((-3.0, -1.0)).run()
    page.slider(key="th_q_uniform_ab").set_value((1.0, 2.0)).run()
    assert not page.exception
    kl_pq, kl_qp, js, w1, tv = explorer_numbers(page)
    assert kl_pq == kl_qp == "∞" and js == T.fmt(math.log(2)) and tv == "1.0000"
    assert w1 == T.fmt(3.5)  # means −2 and 1.5
    captions = [c.value for c in page.caption]
    assert t("theory.explorer.kl_inf", "en") in captions
    assert t("theory.explorer.kl_inf_mass", "en", kl=t("theory.num.kl_pq", "en"),
             mass="1") in captions  # the reason: all of p's mass lies where q = 0
    page.selectbox(key="th_p_family").set_value("gaussian").run()  # N(0, 1) vs U(1, 2): ∞
    assert explorer_numbers(page)[0] == "∞" and explorer_numbers(page)[1] != "∞"
    page.selectbox(key="th_q_family").set_value("mixture").run()
    assert {s.key for s in page.slider} >= {"th_q_mixture_mu1", "th_q_mixture_w"}


def test_f_divergence_choice(page):
    page.radio(key="th_f").set_value("hellinger").run()
    view = T.f_view("hellinger", T.density(DEFAULT_P), T.density(DEFAULT_Q))
    m = metrics(page)
    assert m[t("theory.f.d_f", "en")] == T.fmt(view.d_f) == m[t("theory.f.bound", "en")]
    page.radio(key="th_f").set_value("pearson").run()
    assert metrics(page)[t("theory.f.d_f", "en")] == "∞"  # q's tails are too thin under p
    page.radio(key="th_integrand").set_value("w1").run()
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    assert any(T.fmt(2.0) in (a.get("text") or "") for a in spec["layout"]["annotations"])


def test_chinese_labels_same_numbers(page):
    en_numbers = explorer_numbers(page)
    page.session_state["lang"] = "zh"
    page.run()
    assert not page.exception
    assert page.title[0].value == t("theory.title", "zh") and CJK.search(page.title[0].value)
    assert explorer_numbers(page, "zh") == en_numbers
    assert all(CJK.search(h.value) for h in page.header)
    labels = [m.label for m in page.metric]
    assert t("theory.num.kl_pq", "zh") in labels and "nats" not in " ".join(labels)
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    assert CJK.search(spec["layout"]["title"]["text"])
    assert not any("Myth" in m.value for m in page.markdown)


def test_page_inside_the_app_navigation():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("views/theory.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == t("theory.title", "en")
    assert explorer_numbers(at) == expected(DEFAULT_P, DEFAULT_Q)
