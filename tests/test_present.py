"""Presentation mode and readability: the figure style, colour contrast, log axes, the 2D view,
light HTML, the page toggle, Start again vs Resume, and (browser) the rendered font sizes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_figures import BOUNDS_1D, BOUNDS_2D, make_history, make_snapshot_1d, make_snapshot_2d

from gandemo import export, report
from gandemo import figures as F
from gandemo.i18n import t
from ui import present

APP = str(Path(__file__).resolve().parents[1] / "app.py")
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


# --------------------------------------------------------------------------- figures


def _figures(style: F.Style, lang: str = "en") -> dict:
    """Every figure the app draws from a run, built in ``style``."""
    s1, s2, hist = make_snapshot_1d(), make_snapshot_2d(), make_history()
    common = {"d_label": "D(x)", "d_range": (0.0, 1.0), "lang": lang, "style": style}
    frames = [("a", s1), ("b", make_snapshot_1d(shift=1.0))]
    grid_kw = {"d_labels": {}, "d_ranges": {"a": (0, 1), "b": None}, "caption": "x",
               "lang": lang, "style": style}
    return {
        "density": F.density_panel(s1, bounds=BOUNDS_1D, **common),
        "samples": F.samples_panel(s2, bounds=BOUNDS_2D, **common),
        "loss": F.loss_curves(hist, lang, style=style),
        "grad": F.grad_norm_curves(hist, lang, style=style),
        "div": F.divergence_curves(hist, lang, style=style),
        "grid_1d": F.comparison_grid(frames, {"a": hist, "b": hist}, bounds=BOUNDS_1D,
                                     **grid_kw),
        "grid_2d": F.comparison_grid([("a", s2), ("b", make_snapshot_2d(seed=1))],
                                     {"a": hist}, bounds=BOUNDS_2D, **grid_kw),
        **{f"variant_{i}": fig for i, fig in enumerate(report.variant_curve_figures(
            {"a": hist, "b": hist}, ["a", "b"], ["JS", "W1", "grad"], lang, style=style))},
    }


def test_present_style_sizes_and_default_unchanged():
    assert (F.STYLE.tick, F.STYLE.legend, F.STYLE.title) == (14, 13, 18)  # the normal look
    assert F.PRESENT.tick >= 20 and F.PRESENT.legend >= 22 and F.PRESENT.title >= 22
    assert F.PRESENT.panel_title >= 22 and F.PRESENT.line > 1 and F.PRESENT.marker > 1
    assert F.style_for(True) is F.PRESENT and F.style_for(False) is F.STYLE


@pytest.mark.parametrize("name", ["density", "samples", "loss", "grad", "div", "grid_1d"])
def test_present_figures_are_large(name):
    normal, big = _figures(F.STYLE)[name], _figures(F.PRESENT)[name]
    lay = big.layout
    assert lay.font.size >= 20 and lay.legend.font.size >= 22 and lay.title.font.size >= 22
    assert normal.layout.font.size == 14 and normal.layout.title.font.size == 18
    widths = [(a.line.width, b.line.width) for a, b in zip(normal.data, big.data, strict=True)
              if getattr(a, "line", None) is not None and a.line.width]
    assert widths and all(b > a for a, b in widths)
    sizes = [(a.marker.size, b.marker.size) for a, b in zip(normal.data, big.data, strict=True)
             if a.type == "scatter" and isinstance(a.marker.size, (int, float))]
    assert all(b > a for a, b in sizes)
    titles = [a for a in lay.annotations if a.font is not None and a.font.size]
    assert all(a.font.size >= 20 for a in titles)  # subplot and panel titles


def test_contrast_ratio_matches_wcag():
    assert F.contrast_ratio("#000000") == pytest.approx(21.0)
    assert F.contrast_ratio("#ffffff") == pytest.approx(1.0)
    assert F.contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)  # the AA grey
    assert F.contrast_ratio("#777777") < 4.5


def test_text_color_darkens_only_what_it_must():
    assert F.text_color("#000000") == "#000000"
    for hue in (*F.OKABE_ITO.values(), *F.VARIANT_COLORS, "#bcbd22", "#cccccc"):
        shade = F.text_color(hue)
        assert F.contrast_ratio(shade) >= F.MIN_CONTRAST, (hue, shade)
        assert F.contrast_ratio(F.text_color(hue)) < F.MIN_CONTRAST + 1.5 or shade == hue


def _text_colors(node, path="") -> list[tuple[str, str]]:
    """Every ``font.color`` / ``tickfont.color`` in a figure's JSON (path, colour)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("font", "tickfont", "textfont") and isinstance(value, dict) \
                    and isinstance(value.get("color"), str):
                found.append((f"{path}.{key}", value["color"]))
            found += _text_colors(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _text_colors(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("style", [F.STYLE, F.PRESENT], ids=["normal", "present"])
def test_every_text_colour_has_aa_contrast_on_white(style):
    for name, fig in _figures(style).items():
        spec = fig.to_plotly_json()
        spec["layout"].pop("template", None)
        colors = _text_colors(spec)
        assert any(p.endswith("title.font") for p, _ in colors), name
        for path, color in colors:
            assert HEX.match(color), (name, path, color)
            assert F.contrast_ratio(color) >= 4.5, (name, path, color, F.contrast_ratio(color))
    for i in range(len(F.VARIANT_COLORS)):  # tile titles and the summary table's names
        assert F.contrast_ratio(F.variant_text_color(i)) >= 4.5


def test_palette_is_okabe_ito():
    okabe = {c.lower() for c in F.OKABE_ITO.values()}
    for key in ("real", "fake", "d", "x_grad", "js"):
        assert F.COLORS[key].lower() in okabe
    assert len(set(F.VARIANT_COLORS)) == 8
    assert sum(c.lower() in okabe for c in F.VARIANT_COLORS) == 7


def test_log_axes_label_whole_decades_only():
    wide = F.log_axis(np.logspace(-4, 1, 50))
    assert wide["dtick"] == 1 and wide["exponentformat"] == "power"
    assert wide["minor"]["dtick"] == "D1" and "showticklabels" not in wide["minor"]
    narrow = F.log_axis([0.2, 0.5, 0.9])  # within a decade: Plotly's own few labels
    assert "dtick" not in narrow and narrow["type"] == "log"
    grad = F.grad_norm_curves(make_history())
    assert grad.layout.yaxis.type == "log" and grad.layout.yaxis.dtick in (1, None)


def test_modebar_stands_upright_clear_of_titles():
    fig = F.loss_curves(make_history())
    assert fig.layout.modebar.orientation == "v" and fig.layout.title.x < 0.1
    assert "lasso2d" in F.PLOTLY_CONFIG["modeBarButtonsToRemove"]


def _with_fakes(snap, extra):
    """``snap`` with ``extra`` generated samples (pushed nowhere) appended."""
    extra = np.asarray(extra, dtype=float)
    return dataclasses.replace(snap, fake=np.vstack([snap.fake, extra]),
                               fake_push=np.vstack([snap.fake_push, np.zeros_like(extra)]))


def test_2d_view_grows_to_show_the_fakes():
    snap = make_snapshot_2d()
    view, outside = F.sample_view(BOUNDS_2D, snap.fake)
    assert view == [(-3.0, 3.0), (-3.0, 3.0)] and outside == 0
    far = _with_fakes(snap, [[4.0, 0.0], [0.0, -20.0]])
    view, outside = F.sample_view(BOUNDS_2D, far.fake)
    assert view == [(-9.0, 9.0), (-9.0, 9.0)] and outside == 1  # ×3 is the largest view
    fig = F.samples_panel(far, d_label="D", d_range=(0, 1), bounds=BOUNDS_2D)
    assert list(fig.layout.xaxis.range) == [-9.0, 9.0]
    assert fig.layout.annotations[-1].text == t("fig.samples.outside", "en", n=1)
    assert any(tr.name == t("fig.samples.frame", "en") for tr in fig.data)  # the D area
    near = _with_fakes(snap, [[4.0, 0.0]])
    fig = F.samples_panel(near, d_label="D", d_range=(0, 1), bounds=BOUNDS_2D)
    assert list(fig.layout.xaxis.range) == [-4.5, 4.5] and not fig.layout.annotations


def test_light_html_loads_plotly_from_the_cdn():
    fig = F.loss_curves(make_history())
    light, offline = export.figure_html(fig, offline=False), export.figure_html(fig)
    assert 'src="https://cdn.plot.ly/plotly-' in light and "cdn.plot.ly/plotly-" not in offline
    assert len(light.encode()) < 150_000 < 3_000_000 < len(offline.encode())
    assert t("fig.loss.title", "en") in light  # the figure itself is in both


def test_cli_writes_light_and_offline_html(tmp_path):
    fig = F.loss_curves(make_history())
    from gandemo.cli import write_figure

    write_figure(fig, tmp_path)
    light = (tmp_path / "figure.html").read_text()
    assert "cdn.plot.ly" in light
    assert (tmp_path / "figure_offline.html").stat().st_size > 3_000_000


# --------------------------------------------------------------------------- the page


@pytest.mark.parametrize("value,screen", [("1", "1080"), ("true", "1080"), ("720", "720"),
                                          ("0", None), ("", None), ("bogus", None)])
def test_present_parameter(value, screen):
    assert present.parse(value) == screen


def _open(at: AppTest, **params) -> AppTest:
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_url_turns_presentation_mode_on_and_back_off():
    at = _open(AppTest.from_file(APP, default_timeout=60), present="720")
    assert not at.exception
    assert at.toggle(key="present").value is True and at.radio(key="present_screen").value == "720"
    assert at.query_params["present"] in ("720", ["720"])
    at.toggle(key="present").set_value(False).run()
    assert "present" not in at.query_params and not at.exception
    plain = _open(AppTest.from_file(APP, default_timeout=60))
    assert plain.toggle(key="present").value is False


def test_paused_run_offers_resume_and_start_again():
    from gandemo.runner import PAUSED, get_scheduler

    at = _open(AppTest.from_file(APP, default_timeout=60), steps="5")
    at.button(key="step").click().run()  # one iteration: a paused run
    run = get_scheduler().get(at.session_state["run_id"])
    assert run.state == PAUSED
    start, resume = at.button(key="start"), at.button(key="pause")
    assert start.label == t("ui.controls.start_again", "en") and resume.label == "Resume"
    assert resume.proto.type == "primary" and start.proto.type == "secondary"
    import time

    time.sleep(1.1)  # past the duplicate-click guard
    at.button(key="start").click().run()  # Reset + Start: a new run from step 0
    again = get_scheduler().get(at.session_state["run_id"])
    assert again is not run and get_scheduler().get(run.id) is None
    get_scheduler().remove(again)


# --------------------------------------------------------------------------- browser

STATUS = re.compile(r"(?:step|进度) (\d+) / (\d+)")
FONT_SIZES_JS = """() => {
  const px = (sel) => [...document.querySelectorAll(sel)]
      .filter((e) => e.getBoundingClientRect().width > 0 && e.textContent.trim())
      .map((e) => parseFloat(getComputedStyle(e).fontSize));
  const main = '[data-testid="stMain"] ';
  return {
    ticks: px(main + '.js-plotly-plot .xtick text, ' + main + '.js-plotly-plot .ytick text'),
    legend: px(main + '.js-plotly-plot .legendtext'),
    titles: px(main + '.js-plotly-plot .gtitle, ' + main + '[class*="st-key-title_"] p'),
  };
}"""


@pytest.mark.browser
def test_presentation_mode_font_sizes_in_the_rendered_svg(chromium, streamlit_server):
    from conftest import wait_for_app

    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        page.goto(f"{streamlit_server}/?present=1&target=bimodal&steps=20000")
        wait_for_app(page, 90_000)
        page.get_by_text(STATUS).first.wait_for(timeout=90_000)
        page.locator(".st-key-start").get_by_role("button").first.click()
        page.locator(".st-key-panel_div .js-plotly-plot .xtick").first.wait_for(timeout=90_000)
        page.locator(".st-key-pause").get_by_role("button").first.click()
        page.get_by_text("Resume").first.wait_for(timeout=90_000)
        page.wait_for_timeout(1500)
        sizes = page.evaluate(FONT_SIZES_JS)
        assert len(sizes["ticks"]) > 20 and len(sizes["legend"]) >= 5 and sizes["titles"]
        assert min(sizes["ticks"]) >= 20, sizes
        assert min(sizes["legend"]) >= 22 and min(sizes["titles"]) >= 22, sizes
        box = page.locator(".st-key-panel_frame .js-plotly-plot").first.bounding_box()
        assert box["y"] + box["height"] <= 1080  # the main figure fits the projector
        right = page.evaluate("() => document.querySelector('[data-testid=\\'stSidebar\\']')"
                              ".getBoundingClientRect().right")
        assert right <= 10, right  # the sidebar is collapsed (slid out to the left)
        print(f"font sizes px: ticks min {min(sizes['ticks'])}, legend min "
              f"{min(sizes['legend'])}, titles min {min(sizes['titles'])}")
    finally:
        context.close()
