"""The live chart (ui/live_chart.py): what each rerun sends, and the chart in a real browser.

Python side: the first message carries the whole figure, later ones only the data arrays that
changed (a few kB), an unchanged figure resends the previous message verbatim, and a browser's
``need`` or a changed skeleton brings the whole figure again. Browser side (marked ``browser``):
on the Train page the chart element stays the same DOM node while its data changes, a user's
zoom survives updates, the modebar has Plotly's PNG button, and plotly.js is fetched once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import wait_for_app

from gandemo.config import RunConfig
from gandemo.figures import frame_panel, grad_norm_curves, loss_curves
from gandemo.losses import LOSSES
from gandemo.targets import TARGETS
from gandemo.trainer import Trainer
from ui import live_chart as lc


def _frames(target: str, steps: int = 5):
    """A 'before' and 'after' figure of one run (``steps`` training steps apart)."""
    cfg = RunConfig(target=target)
    trainer = Trainer(cfg)
    loss = LOSSES[cfg.loss]

    def fig():
        return frame_panel(trainer.snapshot(), d_label=loss.output_label,
                           d_range=loss.output_range, bounds=TARGETS[target].bounds)

    first = fig()
    for _ in range(steps):
        trainer.step()
    return first, fig()


def _size(msg: dict) -> int:
    return len(json.dumps(msg))


def test_split_keeps_every_data_array_out_of_the_skeleton():
    fig, _ = _frames("bimodal", 0)
    skeleton, arrays = lc.split_figure(fig)
    assert {"0.x", "0.y", "1.y", "2.y", "3.y"} <= set(arrays)  # p_r, p_g, D, D*
    assert all("x" not in tr and "y" not in tr for tr in skeleton["data"])
    assert skeleton["data"][1]["line"]["color"] == fig.data[1].line.color  # styles stay
    assert skeleton["layout"]["yaxis2"]["overlaying"] == "y"  # the builder's layout, untouched
    assert len(skeleton["data"]) == len(fig.data)


def test_arrays_round_trip_float32_and_16_bit_grids_with_nan():
    curve = np.array([1e-6, 0.5, np.nan, 3e4])
    back = lc.decode_array(lc.encode_array(curve))
    assert np.isnan(back[2])
    np.testing.assert_allclose(back[[0, 1, 3]], curve[[0, 1, 3]], rtol=1e-6)  # float32
    grid = np.linspace(-1, 2, 64 * 64).reshape(64, 64)
    grid[3, 5] = np.nan
    enc = lc.encode_array(grid)
    assert "u2" in enc and enc["shape"] == [64, 64]
    back = lc.decode_array(enc)
    assert back.shape == (64, 64) and np.isnan(back[3, 5])
    finite = np.isfinite(grid)
    assert np.max(np.abs(back[finite] - grid[finite])) <= 3 / 131070 + 1e-12
    assert len(enc["u2"]) < 0.6 * len(lc.encode_array(grid.ravel()[:999])["f4"]) * 4.1


@pytest.mark.parametrize(("target", "budget_kb"), [("bimodal", 10), ("ring8", 24)])
def test_after_the_first_message_only_changed_arrays_are_sent(target, budget_kb):
    before, after = _frames(target)
    first, state = lc.next_message(before, "k", None, uirevision="run1")
    assert first["full"]["layout"]["uirevision"] == "run1" and first["seq"] == 1
    assert set(first["arrays"]) == set(lc.split_figure(before)[1])
    delta, state2 = lc.next_message(after, "k", state, uirevision="run1")
    assert "full" not in delta and "config" not in delta
    assert delta["base"] == 1 and delta["seq"] == 2 and delta["rev"] == first["rev"]
    assert delta["arrays"], "the trained generator must change some array"
    # the real samples / p_r and the grid axes do not move: they are not sent again
    unchanged = {p for p, a in lc.split_figure(after)[1].items()
                 if np.array_equal(a, lc.split_figure(before)[1][p], equal_nan=True)}
    assert unchanged and not unchanged & set(delta["arrays"])
    assert _size(delta) < 0.7 * _size(first) and _size(delta) < budget_kb * 1024
    assert "step 5" in delta["patch"]["layout.title.text"]  # small skeleton changes: a patch
    # the browser, applying the delta on top of the first message, holds the new figure
    _, new_arrays = lc.split_figure(after)
    for path, enc in {**first["arrays"], **delta["arrays"]}.items():
        np.testing.assert_allclose(lc.decode_array(enc), new_arrays[path], rtol=2e-5,
                                   atol=1e-4 * (np.nanmax(np.abs(new_arrays[path])) + 1))
    same, state3 = lc.next_message(after, "k", state2, uirevision="run1")
    assert same == delta  # repeated verbatim: a browser that missed it can still apply it
    assert state3["seq"] == 2


def test_every_delta_applies_on_the_keyframe_alone():
    """A busy browser gets only the newest data of a component: skipping deltas must not matter."""
    cfg = RunConfig(target="gaussian")
    trainer, loss = Trainer(cfg), LOSSES[cfg.loss]
    figs = []
    for _ in range(4):
        figs.append(frame_panel(trainer.snapshot(), d_label=loss.output_label,
                                d_range=loss.output_range, bounds=TARGETS["gaussian"].bounds))
        for _ in range(3):
            trainer.step()
    first, state = lc.next_message(figs[0], "k", None, uirevision="r")
    for fig in figs[1:]:
        msg, state = lc.next_message(fig, "k", state, uirevision="r")
        assert "full" not in msg and msg["base"] == first["seq"]
    held = {p: lc.decode_array(enc) for p, enc in first["arrays"].items()}
    held.update({p: lc.apply_change(held.get(p), enc) for p, enc in msg["arrays"].items()})
    _, last = lc.split_figure(figs[-1])  # the keyframe plus only the last delta: the last figure
    for path, values in last.items():
        np.testing.assert_allclose(held[path], values, rtol=2e-5,
                                   atol=1e-4 * (np.nanmax(np.abs(values)) + 1))
    assert "step 9" in msg["patch"]["layout.title.text"]


def test_a_growing_history_sends_only_its_new_rows():
    steps = np.arange(0.0, 400.0, 10.0)
    hist = {"step": steps, "d_loss": np.cos(steps / 50), "g_loss": np.sin(steps / 50)}
    short = {k: v[:30] for k, v in hist.items()}
    first, state = lc.next_message(loss_curves(short), "k", None, uirevision="r")
    delta, _ = lc.next_message(loss_curves(hist), "k", state, uirevision="r")
    tails = {p: enc for p, enc in delta["arrays"].items() if "from" in enc}
    assert tails, "appended rows must travel as tails"
    _, held = lc.split_figure(loss_curves(short))
    _, now = lc.split_figure(loss_curves(hist))
    for path, enc in delta["arrays"].items():
        got = lc.apply_change(held.get(path), enc)
        np.testing.assert_allclose(got, now[path], rtol=2e-5, atol=1e-5)
    for enc in tails.values():  # 10 new rows each, not 40
        assert lc.decode_array(enc).size < now["0.x"].size
    with pytest.raises(ValueError, match="continues"):
        lc.apply_change(np.zeros(3), next(iter(tails.values())))
    # rows dropped (a downsampled history) or changed: the whole array again
    thinned = {k: v[::2] for k, v in hist.items()}
    again, _ = lc.next_message(loss_curves(thinned), "k", state, uirevision="r")
    assert again["arrays"] and not any("from" in enc for enc in again["arrays"].values())


def test_a_new_structure_or_a_browser_request_brings_the_whole_figure():
    hist = {"step": np.arange(10.0), "d_loss": np.linspace(1, 0.5, 10),
            "g_loss": np.linspace(0.7, 1.2, 10)}
    fig = loss_curves(hist)
    _, state = lc.next_message(fig, "k", None, uirevision="r")
    asked, state = lc.next_message(fig, "k", state, uirevision="r", need="abc:1:9")
    assert "full" in asked and asked["seq"] == 2
    again, state = lc.next_message(fig, "k", state, uirevision="r", need="abc:1:9")
    assert again == asked and again["seq"] == 2  # the same request is answered once
    zh, state = lc.next_message(loss_curves(hist, lang="zh"), "k", state, uirevision="r")
    assert "full" not in zh and not zh["arrays"]  # new words only: a patch, no data
    assert any("损失" in str(v) for v in zh["patch"].values())
    other, _ = lc.next_message(grad_norm_curves({**hist, "g_grad_norm": hist["d_loss"]}), "k",
                               state, uirevision="r")
    assert "full" in other and other["rev"] != zh["rev"]  # another structure: the whole figure


def test_after_a_new_structure_keyframes_repeat_before_deltas_resume():
    """A browser that skipped the keyframe of a new structure (the 2D view grew: one more
    trace) gets the next KEYFRAME_REPEAT changed figures whole, not deltas it cannot apply."""
    cfg = RunConfig(target="gaussian")
    trainer, loss = Trainer(cfg), LOSSES[cfg.loss]

    def fig(extra: bool):
        trainer.step()
        out = frame_panel(trainer.snapshot(), d_label=loss.output_label,
                          d_range=loss.output_range, bounds=TARGETS["gaussian"].bounds)
        return go_figure_with_marker(out) if extra else out

    _, state = lc.next_message(fig(False), "k", None, uirevision="r")
    delta, state = lc.next_message(fig(False), "k", state, uirevision="r")
    assert "full" not in delta  # the first keyframe is followed by deltas at once
    kinds = []
    for _ in range(lc.KEYFRAME_REPEAT + 2):
        msg, state = lc.next_message(fig(True), "k", state, uirevision="r")
        kinds.append("full" if "full" in msg else msg["base"])
    assert kinds[:lc.KEYFRAME_REPEAT + 1] == ["full"] * (lc.KEYFRAME_REPEAT + 1)
    assert kinds[-1] == state["seq"] - 1  # then deltas on the last keyframe


def test_assets_are_served_from_this_server():
    from streamlit.components.v2.component_manager import BidiComponentManager

    manager = BidiComponentManager()
    lc._register_assets(manager)
    assert (Path(manager.get_component_path(lc.NAME)) / "live_chart.js").is_file()
    assert (Path(manager.get_component_path(lc.PLOTLY_NAME)) / "plotly.min.js").is_file()


def test_train_page_mounts_the_live_chart_with_file_assets(at):
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    charts = [e.proto for e in at.get("bidi_component")]
    names = {p.component_name for p in charts}
    assert names == {lc.NAME}
    frame = next(p for p in charts if json.loads(p.json)["key"] == "chart_frame")
    assert frame.js_source_path == "live_chart.js" and not frame.js_content  # not resent inline
    msg = json.loads(frame.json)
    assert "full" in msg and msg["full"]["layout"]["uirevision"] == "preview"
    at.run()  # a rerun with nothing new repeats the message (a browser that drew it: nothing)
    again = next(json.loads(e.proto.json) for e in at.get("bidi_component")
                 if json.loads(e.proto.json)["key"] == "chart_frame")
    assert again == msg


# --------------------------------------------------------------------------- real browser

STATUS = re.compile(r"step (\d+) / (\d+)")
WAIT_MS = 90_000


@pytest.mark.browser
def test_live_chart_updates_in_place_in_the_browser(chromium, streamlit_server, artifacts_dir):
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    plotly_requests = []
    page.on("request", lambda r: plotly_requests.append(r.url) if "plotly.min.js" in r.url
            else None)
    try:
        page.goto(f"{streamlit_server}/?target=bimodal&steps=20000")
        wait_for_app(page, WAIT_MS)
        chart = page.locator(".st-key-panel_frame .js-plotly-plot")
        chart.first.wait_for(timeout=WAIT_MS)
        assert chart.count() == 1
        modebar = page.locator(".st-key-panel_frame .modebar-btn")
        assert modebar.locator("xpath=self::*[@data-title='Download plot as a PNG']").count() == 1
        assert modebar.locator("xpath=self::*[@data-attr='dragmode']").count() >= 2  # zoom, pan
        assert modebar.locator("xpath=self::*[contains(@data-title, 'Share')]").count() == 0
        node = chart.first.element_handle()
        page.locator(".st-key-start").get_by_role("button").first.click()
        # the user zooms in while it trains: a mouse drag across the middle of the plot area
        page.wait_for_function("el => el.data && el.data.length > 0", arg=node, timeout=WAIT_MS)
        box = page.locator(".st-key-panel_frame .nsewdrag").first.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 0.35 * box["width"], y)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.5 * box["width"], y + 2, steps=8)
        page.mouse.move(box["x"] + 0.65 * box["width"], y + 2, steps=8)
        page.mouse.up()
        zoomed = node.evaluate("el => el._fullLayout.xaxis.range")
        assert zoomed[1] - zoomed[0] < 5  # of the 10 units of the figure's fixed range
        seen = []
        for _ in range(4):
            previous = node.evaluate("el => Array.from(el.data[1].y).join(',')")  # p_g
            page.wait_for_function(
                "([el, old]) => Array.from(el.data[1].y).join(',') !== old",
                arg=[node, previous], timeout=WAIT_MS)
            seen.append(previous)
            assert node.evaluate("el => el.isConnected")  # the same node: never remounted
            assert chart.first.element_handle().evaluate("(el, n) => el === n", node)
        assert len(set(seen)) == 4
        xr = node.evaluate("el => el._fullLayout.xaxis.range")
        assert xr == pytest.approx(zoomed)  # the zoom survived the updates
        page.locator(".st-key-panel_frame").first.screenshot(
            path=str(artifacts_dir / "live_chart_mid_update.png"))
        assert len(plotly_requests) == 1  # plotly.js loaded once per page
        page.locator(".st-key-reset").get_by_role("button").first.click()
    finally:
        context.close()


@pytest.mark.browser
def test_a_keyframe_arriving_while_a_draw_is_queued_does_not_freeze_the_chart(chromium,
                                                                             monkeypatch):
    """live_chart.js alone in a page: keyframe A, then keyframe B (a new structure) before the
    animation frame that draws A, then a delta on B. The chart must end up showing the delta
    (it once kept B's copy of A's queued frame and never drew again)."""
    monkeypatch.setattr(lc, "KEYFRAME_REPEAT", 0)  # a delta right after B
    before, after = _frames("bimodal", steps=5)
    grown = go_figure_with_marker(before)
    a, state = lc.next_message(before, "k", None, uirevision="u")
    b, state = lc.next_message(grown, "k", state, uirevision="u")
    c, _ = lc.next_message(go_figure_with_marker(after), "k", state, uirevision="u")
    assert "full" in a and "full" in b and "full" not in c and c["base"] == b["seq"]
    assets = {"/gandemo.live_chart/live_chart.js": (lc.ASSETS / "live_chart.js", "text/javascript"),
              "/gandemo.plotlyjs/plotly.min.js": (
                  Path(lc.plotly.__file__).parent / "package_data" / "plotly.min.js",
                  "text/javascript"),
              "/index.html": (None, "text/html")}
    page_html = ("<div id=host style='width:800px'></div><script type=module>"
                 "import draw from '/gandemo.live_chart/live_chart.js';"
                 "window.liveChart = (data) => draw({data, parentElement: host,"
                 " setStateValue: (k, v) => window.asked = v});</script>")

    def serve(route):
        path, kind = assets[route.request.url.split("gandemo.test", 1)[1]]
        route.fulfill(status=200, content_type=kind,
                      body=page_html if path is None else path.read_bytes())

    context = chromium.new_context()
    page = context.new_page()
    try:
        page.route("http://gandemo.test/**", serve)
        page.goto("http://gandemo.test/index.html")
        page.wait_for_function("window.liveChart !== undefined")
        page.evaluate("([a, b]) => { liveChart(a); liveChart(b); }", [a, b])  # one frame apart
        page.wait_for_function("document.querySelector('#host .js-plotly-plot')?.data?.length")
        page.evaluate("(c) => liveChart(c)", c)
        want = lc.apply_change(None, c["arrays"]["1.y"]).astype(np.float32).tolist()
        page.wait_for_function(
            "(want) => { const gd = document.querySelector('#host .js-plotly-plot');"
            " return gd && gd.data.length === 6 && Array.from(gd.data[1].y).every("
            "(v, i) => Math.abs(v - want[i]) < 1e-6); }", arg=want, timeout=10_000)
        assert page.evaluate("window.asked === undefined")  # no whole figure was needed
    finally:
        context.close()


def go_figure_with_marker(fig):
    """``fig`` with one more trace: a new structure, so its first message is a keyframe."""
    out = type(fig)(fig)
    out.add_scatter(x=[0.0], y=[0.0], mode="markers", name="marker")
    return out
