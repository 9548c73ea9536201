"""The one live run view (ui/run_view.py) in a real browser, on both pages: Start, Pause (by a
fast double-click that must not undo itself), Resume, Step (exactly one iteration) and Reset.

Runs against the real server (``streamlit_server``) in Debian's Chromium, both from conftest.
Every wait is a bounded poll on what the page shows; nothing asserts on speed.
"""

from __future__ import annotations

import re
import time

import pytest
from conftest import click_until_visible, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

STATUS = re.compile(r"(?:step|进度) (\d+) / (\d+)")
WAIT_MS = 60_000
PAGES = {  # page -> (path and query, widget-key prefix, status-line container key)
    "train": ("/?target=bimodal&steps=20000", "", "status_line"),
    "compare": ("/compare?cmp_target=bimodal&cmp_steps=20000&cmp_losses=minimax"
                "&cmp_losses=hinge&cmp_levels=balanced", "cmp_", "cmp_status"),
}


@pytest.fixture()
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


class View:
    """The controls and status line of one page's run view."""

    def __init__(self, page, prefix: str, status_key: str):
        self.page, self.prefix, self.status_key = page, prefix, status_key

    def button(self, name: str):
        return self.page.locator(f".st-key-{self.prefix}{name}").get_by_role("button").first

    def status(self) -> str:
        line = self.page.locator(f".st-key-{self.status_key} [data-testid='stMarkdownContainer']")
        return line.first.inner_text(timeout=WAIT_MS)

    def step(self) -> int:
        match = STATUS.search(self.status())
        assert match, f"no 'step N / TOTAL' in {self.status()!r}"
        return int(match.group(1))

    def wait(self, predicate, what: str, timeout_s: float = WAIT_MS / 1000) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, f"{what}; status: {self.status()!r}"
            self.page.wait_for_timeout(100)


@pytest.mark.parametrize("name", list(PAGES))
def test_start_pause_resume_step_reset(page, streamlit_server, name):
    path, prefix, status_key = PAGES[name]
    page.goto(streamlit_server + path)
    wait_for_app(page, WAIT_MS)
    view = View(page, prefix, status_key)
    view.wait(lambda: STATUS.search(view.status()) is not None, "no status line")
    assert view.step() == 0 and "Ready" in view.status()

    view.button("start").click()
    view.wait(lambda: view.step() > 0, "Start did not train")
    first = view.step()
    view.wait(lambda: view.step() > first, "the status line stopped counting")

    # Two fast clicks on Pause (a double-click, then one more a moment later when the button
    # may already read Resume): within the debounce neither may resume the run.
    view.button("pause").dblclick()
    page.wait_for_timeout(250)
    view.button("pause").click()
    view.wait(lambda: "Paused" in view.status(), "Pause did not pause")
    paused_at = view.step()
    page.wait_for_timeout(2500)  # longer than the debounce and many refreshes
    assert "Paused" in view.status() and view.step() == paused_at, "the pause undid itself"
    assert view.button("pause").inner_text().strip().endswith("Resume")

    view.button("step").click()
    view.wait(lambda: view.step() == paused_at + 1, "Step did not take exactly one iteration")
    page.wait_for_timeout(1500)
    assert view.step() == paused_at + 1 and "Paused" in view.status()

    click_until_visible(view.button("pause"), page.get_by_text(re.compile("Running")).first,
                        then_ms=WAIT_MS)  # Resume
    view.wait(lambda: view.step() > paused_at + 1, "Resume did not train on")

    click_until_visible(view.button("pause"), page.get_by_text(re.compile("Paused")).first,
                        then_ms=WAIT_MS)
    view.button("reset").click()
    view.wait(lambda: view.step() == 0 and "Ready" in view.status(), "Reset did not reset")
    assert view.button("reset").is_disabled()
