"""Regenerate docs/screenshots/present_*.png: the app in presentation mode at 1920×1080.

    .venv/bin/python scripts/screenshots.py [--lang en,zh] [--only train_bimodal,...]

Starts ``streamlit run app.py`` on a free local port, drives Debian's Chromium with Playwright
(``$GANDEMO_CHROMIUM``, default /usr/bin/chromium) and saves, per language:

* ``present_train_bimodal_<lang>.png`` — Train, ``lipschitz-tools`` preset on bimodal, mid-run;
* ``present_train_ring8_<lang>.png`` — Train, ring8 with its own starting settings
  (``Target.defaults``: what a newcomer gets by picking ring8), past the step where they cover
  all 8 modes;
* ``present_compare_lipschitz_<lang>.png`` / ``present_compare_ring8_<lang>.png`` — Compare
  with the ``lipschitz-tools`` and ``mode-collapse-ring8`` presets, mid-run and past the step
  from which their live checks decide (✓ / ✗ rather than "…");
* ``present_theory_<lang>.png`` — the Theory page, scrolled to its first figure.

Every wait is a bounded poll on what the page shows; a busy machine only makes it slower.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("GANDEMO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1920, "height": 1080}
STATUS = re.compile(r"(?:step|进度) (\d+) / (\d+)")
WAIT_MS = 120_000
SHOTS = ("train_bimodal", "train_ring8", "compare_lipschitz", "compare_ring8", "theory")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str, object]:
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base, log
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    log.seek(0)
    raise SystemExit("streamlit did not start:\n" + log.read()[-4000:])


def wait_app(page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']",
                           state="attached", timeout=WAIT_MS)
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=\"stSkeleton\"]').length == 0",
        timeout=WAIT_MS)


def step_now(page) -> int:
    text = page.locator("[data-testid='stMarkdownContainer']").filter(
        has_text=STATUS).first.inner_text(timeout=WAIT_MS)
    match = STATUS.search(text)
    return int(match.group(1)) if match else 0


def wait_step(page, at_least: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while step_now(page) < at_least and time.monotonic() < deadline:
        page.wait_for_timeout(500)


def click(page, key: str) -> None:
    page.locator(f".st-key-{key}").get_by_role("button").first.click(timeout=WAIT_MS)


def settle(page) -> None:
    """Let the live charts draw their latest data, then hide the mouse from the modebar."""
    page.wait_for_timeout(2500)
    page.mouse.move(5, 1075)
    page.wait_for_timeout(500)


def show_first_figure(page) -> None:
    """Scroll the page so its first figure ends at the bottom of the screen (with the numbers
    above it in view), as a teacher scrolls to it in class."""
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=WAIT_MS)
    chart.evaluate("el => el.scrollIntoView({block: 'end'})")


def shot(page, name: str, lang: str) -> Path:
    path = OUT / f"present_{name}_{lang}.png"
    page.screenshot(path=str(path), animations="disabled")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def train(page, base: str, lang: str, query: str, until: int) -> None:
    page.goto(f"{base}/?present=1&lang={lang}&{query}")
    wait_app(page)
    page.get_by_text(STATUS).first.wait_for(timeout=WAIT_MS)
    click(page, "start")
    wait_step(page, until)
    click(page, "pause")  # paused mid-run: Resume is the one primary button
    page.locator(".st-key-panel_frame .js-plotly-plot").first.wait_for(timeout=WAIT_MS)
    settle(page)


def compare(page, base: str, lang: str, preset: str, until: int) -> None:
    page.goto(f"{base}/compare?lang={lang}")
    wait_app(page)
    page.locator(".st-key-cmp_preset").click(timeout=WAIT_MS)
    from gandemo.i18n import t

    page.get_by_role("option", name=t(f"preset.{preset}.title", lang)).first.click()
    wait_app(page)
    page.locator(".st-key-present label").first.click(timeout=WAIT_MS)  # presentation mode on
    wait_app(page)
    click(page, "cmp_start")
    wait_step(page, until, timeout_s=600)  # four 2D variants train slowly on a busy machine
    page.locator(".st-key-cmp_tiles .js-plotly-plot").first.wait_for(timeout=WAIT_MS)
    settle(page)


def target_query(target: str) -> str:
    """The URL query of a run on ``target`` with its own starting settings, as the Train page
    writes it after the target is picked."""
    from urllib.parse import urlencode

    from gandemo.config import from_dict, to_query, with_target_defaults

    return urlencode(to_query(from_dict(with_target_defaults({"target": target}))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="en,zh")
    parser.add_argument("--only", default=",".join(SHOTS))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(","))
    proc, base, log = start_server()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for lang in args.lang.split(","):
                for name in SHOTS:
                    if name not in wanted:
                        continue
                    context = browser.new_context(viewport=VIEWPORT)
                    page = context.new_page()
                    if name == "train_bimodal":
                        train(page, base, lang, "preset=lipschitz-tools&target=bimodal"
                              "&steps=1500", 500)
                    elif name == "train_ring8":
                        train(page, base, lang, target_query("ring8"), 1200)
                    elif name == "compare_lipschitz":
                        compare(page, base, lang, "lipschitz-tools", 400)
                    elif name == "compare_ring8":
                        compare(page, base, lang, "mode-collapse-ring8", 720)
                    else:
                        page.goto(f"{base}/theory?present=1&lang={lang}")
                        wait_app(page)
                        show_first_figure(page)
                        settle(page)
                    shot(page, name, lang)
                    context.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


if __name__ == "__main__":
    main()
