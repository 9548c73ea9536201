"""The Dynamics page through AppTest: renders, its verdict follows the loss and regularizer,
its numbers are gandemo.dynamics' numbers, and it speaks Chinese."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gandemo import dynamics as Dy
from gandemo.i18n import t

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "views" / "dynamics.py")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture()
def page():
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def verdict(at) -> str:
    """The headline verdict: the first markdown that starts with a bold verdict word."""
    return next(m.value for m in at.markdown if m.value.startswith("**"))


def metric(at, key: str, lang: str = "en") -> str:
    return next(m.value for m in at.metric if m.label == t(key, lang))


def test_default_circles_with_the_papers_eigenvalues(page):
    assert page.title[0].value == t("dyn.title", "en")
    an = Dy.analyse(Dy.Setup())
    assert an.verdict == "circles"
    assert verdict(page) == t("dyn.verdict.circles", "en", eig="0.500i, −0.500i")
    assert metric(page, "dyn.metric.rho_sim") == f"{an.maps['sim'][1]:.4f}"
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    names = {tr.get("name") for tr in spec["data"]}
    assert {t("dyn.scheme.sim", "en"), t("dyn.scheme.alt", "en")} <= names
    assert spec["layout"]["font"]["size"] >= 13
    assert len(page.get("latex")) >= 4


def test_regularizer_and_loss_change_the_verdict(page):
    page.selectbox(key="dyn_reg").set_value("r1").run()
    assert not page.exception
    assert verdict(page).startswith("**Converges.")
    page.slider(key="dyn_strength_r1").set_value(3.0).run()
    an = Dy.analyse(Dy.Setup(reg="r1", strength=3.0))
    assert verdict(page) == t("dyn.verdict.converges", "en",
                              eig=", ".join(Dy.fmt_complex(z) for z in an.eig))
    page.selectbox(key="dyn_loss").set_value("wgan-gp").run()
    assert not page.exception
    assert verdict(page) == t("dyn.verdict.no_rest", "en")
    assert metric(page, "dyn.metric.rho_sim") == "—"
    page.selectbox(key="dyn_loss").set_value("lsgan").run()
    assert verdict(page).startswith("**Stalls.")
    page.selectbox(key="dyn_loss").set_value("wgan").run()
    page.selectbox(key="dyn_reg").set_value("noise").run()  # a straight loss: noise cannot help
    assert not page.exception and verdict(page).startswith("**Circles.")
    assert {s.key for s in page.slider} >= {"dyn_param_wgan", "dyn_strength_noise"}


def test_trajectory_numbers_follow_the_sliders(page):
    page.slider(key="dyn_eta").set_value(0.5).run()
    page.slider(key="dyn_k").set_value(3).run()
    page.slider(key="dyn_theta0").set_value(-1.5).run()
    setup = Dy.Setup(eta=0.5, k=3)
    end = Dy.trajectory(setup, (-1.5, 1.0), 300, "alt").radius[-1]
    assert metric(page, "dyn.metric.end_alt") == f"{end:.3g}"
    rho = Dy.analyse(setup).maps["alt"][1]
    assert metric(page, "dyn.metric.rho_alt") == f"{rho:.4f}"


def test_blow_up_is_reported_not_raised(page):
    page.selectbox(key="dyn_loss").set_value("wasserstein").run()
    page.slider(key="dyn_eta").set_value(1.0).run()
    page.slider(key="dyn_steps").set_value(1000).run()
    assert not page.exception
    assert any(w.value == t("dyn.blewup", "en", scheme=t("dyn.scheme.sim", "en"))
               for w in page.warning)


def test_chinese(page):
    page.session_state["lang"] = "zh"
    page.run()
    assert not page.exception
    assert CJK.search(page.title[0].value) and CJK.search(verdict(page))
    assert all(CJK.search(h.value) for h in page.header)
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    assert CJK.search(spec["layout"]["title"]["text"])


def test_page_inside_the_app_navigation():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("views/dynamics.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == t("dyn.title", "en")
