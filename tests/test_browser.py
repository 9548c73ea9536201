"""The Train page in a real browser: Start streams live, a refresh re-attaches, screenshots.

Runs against the real server (``streamlit_server``) in Debian's Chromium (``chromium``), both
from conftest. Screenshots of a 1D and a 2D (ring8) run go to test-artifacts/ (gitignored).
Every wait is a bounded poll on what the page shows; nothing asserts on speed.
"""

from __future__ import annotations

import re
import time

import pytest
from conftest import click_until_visible, full_page_screenshot, wait_for_app
from playwright.sync_api import Error as PlaywrightError

pytestmark = pytest.mark.browser

STATUS = re.compile(r"(?:step|进度) (\d+) / (\d+)")
WAIT_MS = 90_000  # generous: the machine may be busy


@pytest.fixture()
def page(chromium):
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def status_numbers(page) -> tuple[int, int]:
    """N and TOTAL of ``step N / TOTAL`` in the status line."""
    line = page.locator("[data-testid='stMarkdownContainer']").filter(has_text=STATUS).first
    match = STATUS.search(line.inner_text(timeout=WAIT_MS))
    assert match, "no status line"
    return int(match.group(1)), int(match.group(2))


def status_step(page) -> int:
    return status_numbers(page)[0]


def wait_step(page, above: int, timeout_s: float = WAIT_MS / 1000) -> int:
    """Poll the status line until its step exceeds ``above``; returns the step seen."""
    deadline = time.monotonic() + timeout_s
    step = status_step(page)
    while step <= above and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        step = status_step(page)
    assert step > above, f"the status line stayed at step {step}"
    return step


def button(page, key: str):
    return page.locator(f".st-key-{key}").get_by_role("button").first


def chart_png(page) -> bytes:
    """Pixels of the density chart. The live chart is re-mounted on every refresh, so shoot the
    page region where it is (retrying if it was replaced while being measured)."""
    chart = page.locator(".st-key-panel_frame .js-plotly-plot").filter(visible=True).first
    for _ in range(50):
        try:
            chart.wait_for(timeout=WAIT_MS)
            box = chart.bounding_box(timeout=2000)
            if box and box["width"] > 0:
                return page.screenshot(clip=box, animations="disabled")
        except PlaywrightError:
            pass
        page.wait_for_timeout(100)
    raise AssertionError("the density chart never settled long enough to be captured")


def open_train(page, base: str, query: str = "") -> None:
    page.goto(f"{base}/{query}")
    wait_for_app(page, WAIT_MS)
    page.get_by_text(STATUS).first.wait_for(timeout=WAIT_MS)


def test_start_streams_steps_and_plots_live(page, streamlit_server, artifacts_dir):
    open_train(page, streamlit_server, "?target=bimodal&steps=20000")
    assert status_step(page) == 0
    before = chart_png(page)

    button(page, "start").click()
    first = wait_step(page, 0)
    # The link's settings survive the first click, even for the first visitor of a new server.
    assert status_numbers(page)[1] == 20000
    assert "target=bimodal" in page.url
    page.get_by_text("two Gaussians").first.wait_for(timeout=WAIT_MS)  # the target's caption
    later = wait_step(page, first)  # the status line keeps counting without any interaction
    assert later > first
    page.wait_for_timeout(1500)
    assert chart_png(page) != before, "the density chart did not change while training"
    assert "run=" in page.url  # the URL carries the run id ...
    full_page_screenshot(page, artifacts_dir / "train_1d_bimodal.png")

    page.reload()  # ... so a refresh re-attaches to the same background run
    wait_for_app(page, WAIT_MS)
    assert wait_step(page, later) > later

    pause_and_wait(page, re.compile(r"Paused"))
    button(page, "reset").click()
    page.get_by_text(re.compile(r"step 0 / 20000")).first.wait_for(timeout=WAIT_MS)


def pause_and_wait(page, paused_text) -> None:
    click_until_visible(button(page, "pause"), page.get_by_text(paused_text).first,
                        then_ms=WAIT_MS)


def test_ring8_run_in_chinese(page, streamlit_server, artifacts_dir):
    open_train(page, streamlit_server, "?target=ring8&steps=20000&lang=zh")
    assert button(page, "start").inner_text().strip().endswith("开始")
    button(page, "start").click()
    wait_step(page, 50)
    assert "lang=zh" in page.url and "run=" in page.url
    assert button(page, "pause").inner_text().strip().endswith("暂停")  # still Chinese
    pause_and_wait(page, "已暂停")
    page.locator(".st-key-dl_png").first.wait_for(timeout=WAIT_MS)  # replay + downloads now
    chart = page.locator(".st-key-panel_frame .js-plotly-plot").filter(visible=True)
    chart.first.wait_for(timeout=WAIT_MS)
    full_page_screenshot(page, artifacts_dir / "train_2d_ring8_zh.png")
