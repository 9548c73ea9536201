"""The Compare page in a real browser: a 4 losses × 2 strengths grid streams live on bimodal and
on ring8, the report PNG downloads, screenshots go to test-artifacts/compare/.

Runs against the real server (``streamlit_server``) in Debian's Chromium (``chromium``), both from
conftest. Every wait is a bounded poll on what the page shows; nothing asserts on speed.
"""

from __future__ import annotations

import io
import re
import time

import pytest
from conftest import click_until_visible, full_page_screenshot, wait_for_app
from playwright.sync_api import Error as PlaywrightError

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]  # 8 variants on a busy machine

STATUS = re.compile(r"(?:step|进度) (\d+) / (\d+)")
WAIT_MS = 240_000  # generous: the machine may be busy
LOSSES = ("minimax", "nonsaturating", "wgan-gp", "hinge")
LEVELS = ("weak", "strong")


@pytest.fixture()
def page(chromium):
    context = chromium.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture()
def shots(artifacts_dir):
    out = artifacts_dir / "compare"
    out.mkdir(exist_ok=True)
    return out


def query(target: str, steps: int) -> str:
    parts = [f"cmp_target={target}", f"cmp_steps={steps}"]
    parts += [f"cmp_losses={loss}" for loss in LOSSES] + [f"cmp_levels={lv}" for lv in LEVELS]
    return "?" + "&".join(parts)


def open_compare(page, base: str, q: str) -> None:
    page.goto(f"{base}/compare{q}")
    wait_for_app(page, WAIT_MS)
    page.get_by_text(STATUS).first.wait_for(timeout=WAIT_MS)


def status_step(page) -> int:
    line = page.locator(".st-key-cmp_status [data-testid='stMarkdownContainer']").first
    match = STATUS.search(line.inner_text(timeout=WAIT_MS))
    assert match, "no status line"
    return int(match.group(1))


def wait_step(page, above: int, timeout_s: float = WAIT_MS / 1000) -> int:
    deadline = time.monotonic() + timeout_s
    step = status_step(page)
    while step <= above and time.monotonic() < deadline:
        page.wait_for_timeout(150)
        step = status_step(page)
    assert step > above, f"the status line stayed at step {step}"
    return step


def button(page, key: str):
    return page.locator(f".st-key-{key}").get_by_role("button").first


def chart_png(page, panel: str) -> bytes:
    """Pixels of one live chart (re-mounted on refresh: retry while it is replaced)."""
    chart = page.locator(f".st-key-panel_{panel} .js-plotly-plot").last
    for _ in range(60):
        try:
            chart.wait_for(timeout=WAIT_MS)
            return chart.screenshot(timeout=3000, animations="disabled")
        except PlaywrightError:
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"chart {panel} never settled long enough to be captured")


def wait_changed(page, panel: str, before: bytes, timeout_s: float = WAIT_MS / 1000) -> None:
    """Poll one chart's pixels until they differ from ``before``."""
    deadline = time.monotonic() + timeout_s
    while chart_png(page, panel) == before:
        assert time.monotonic() < deadline, f"chart {panel} did not change while training"
        page.wait_for_timeout(500)


def test_bimodal_grid_streams_and_exports(page, streamlit_server, shots):
    open_compare(page, streamlit_server, query("bimodal", 20000))
    assert status_step(page) == 0
    assert page.locator("[data-testid='stExpander']").filter(has_text="(8)").count() == 1
    button(page, "cmp_start").click()
    first = wait_step(page, 0)
    tile, curve = chart_png(page, "cmp_tile_0"), chart_png(page, "cmp_curve_1")
    later = wait_step(page, first + 30)  # keeps counting without any interaction
    assert page.locator("[class*='st-key-panel_cmp_tile_']").count() >= 8
    wait_changed(page, "cmp_tile_0", tile)
    wait_changed(page, "cmp_curve_1", curve)
    assert chart_png(page, "cmp_tile_7") is not None
    assert later > first and "cmp=" in page.url
    page.wait_for_timeout(800)
    full_page_screenshot(page, shots / "compare_bimodal_4x2.png")

    click_until_visible(button(page, "cmp_pause"), page.get_by_text(re.compile(r"Paused")).first,
                        then_ms=WAIT_MS)
    png_button = page.locator(".st-key-cmp_dl_png").get_by_role("button").first
    png_button.wait_for(timeout=WAIT_MS)
    stated = page.get_by_text(re.compile(r"\d+ × \d+ px")).first.inner_text()
    width, height = map(int, re.search(r"(\d+) × (\d+) px", stated).groups())
    with page.expect_download(timeout=WAIT_MS) as info:
        png_button.click()
    download = info.value
    assert re.fullmatch(r"compare_bimodal_seed0_step\d+_grid\.png", download.suggested_filename)
    path = shots / "compare_bimodal_report.png"
    download.save_as(path)
    from PIL import Image

    assert Image.open(io.BytesIO(path.read_bytes())).size == (width, height)
    full_page_screenshot(page, shots / "compare_bimodal_paused.png")
    button(page, "cmp_reset").click()
    page.get_by_text(re.compile(r"step 0 / 20000")).first.wait_for(timeout=WAIT_MS)


def test_preset_tiles_show_whole_human_names_in_presentation_mode(page, streamlit_server):
    """Every tile of a preset is titled with its variant's human name, whole (inside its
    chart, not clipped) and never a raw ``name=value`` string, in presentation mode."""
    from gandemo.i18n import t
    from gandemo.naming import variant_names
    from gandemo.presets import PRESETS

    preset = PRESETS["lipschitz-tools"]
    names = variant_names(preset.configs(), "en", preset.names)
    page.set_viewport_size({"width": 1920, "height": 1080})
    open_compare(page, streamlit_server, "")
    page.locator(".st-key-cmp_preset").click(timeout=WAIT_MS)
    page.get_by_role("option", name=t("preset.lipschitz-tools.title")).first.click()
    wait_for_app(page, WAIT_MS)
    page.locator(".st-key-present label").first.click(timeout=WAIT_MS)  # presentation mode
    wait_for_app(page, WAIT_MS)
    page.locator(".st-key-cmp_start").get_by_role("button").first.click(timeout=WAIT_MS)
    wait_step(page, 0)
    page.locator(".st-key-panel_cmp_tile_2 .gtitle").first.wait_for(timeout=WAIT_MS)
    for i, name in enumerate(names):
        title = page.locator(f".st-key-panel_cmp_tile_{i} .gtitle").first
        text = title.text_content(timeout=WAIT_MS) or ""
        assert text.startswith(name), (text, name)
        assert not re.search(r"\b[a-z0-9]+_[a-z0-9_]+\s*=", text), text
        box = title.bounding_box(timeout=WAIT_MS)
        svg = page.locator(f".st-key-panel_cmp_tile_{i} svg.main-svg").first.bounding_box()
        assert box and svg and box["x"] >= svg["x"] - 1, (box, svg)
        assert box["x"] + box["width"] <= svg["x"] + svg["width"] + 1, (name, box, svg)
        size = page.evaluate("e => parseFloat(getComputedStyle(e).fontSize)",
                             title.element_handle())
        assert size >= 22, size  # presentation mode: titles a back row can read
