"""The Compare page through AppTest (widgets, Start/Reset, the 12-variant cap, Chinese) and its
report export (PNG size as stated on the page, CSV rows per variant and logged step).

AppTest runs app.py (the st.navigation router) and switches to views/compare.py; there is no
auto-refresh, so tests wait on the run object and rerun. Every test shuts the scheduler down.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pandas as pd
import pytest
from conftest import wait_until
from streamlit.testing.v1 import AppTest

from gandemo import export, report
from gandemo.i18n import t
from gandemo.runner import ACTIVE_STATES, FINISHED, MAX_VARIANTS, ComparisonRun, get_scheduler

STATUS = re.compile(r"(?:step|进度) (\d+) / (\d+)")
CJK = re.compile(r"[\u4e00-\u9fff]")
BUTTONS = ("cmp_start", "cmp_pause", "cmp_reset")



def open_compare(at: AppTest, **params: str) -> AppTest:
    at.query_params.update(params)
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def status(at: AppTest) -> tuple[str, int, int]:
    for md in at.markdown:
        m = STATUS.search(md.value)
        if m:
            return md.value, int(m.group(1)), int(m.group(2))
    raise AssertionError("no status line with 'step N / TOTAL'")


def choose(at: AppTest, losses, levels, steps: int = 40, target: str | None = None) -> AppTest:
    at.multiselect(key="cmp_losses").set_value(list(losses))
    at.multiselect(key="cmp_levels").set_value(list(levels))
    at.number_input(key="cmp_steps").set_value(steps)
    if target:
        at.selectbox(key="cmp_target").set_value(target)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def the_run(at: AppTest) -> ComparisonRun:
    run = get_scheduler().get(at.session_state["cmp_run_id"])
    assert isinstance(run, ComparisonRun)
    return run


def test_widgets_and_status_line(at):
    open_compare(at)
    assert at.title[0].value == t("cmp.title", "en")
    for key in BUTTONS:
        assert at.button(key=key) is not None
    assert at.button(key="cmp_start").disabled is False
    assert at.button(key="cmp_pause").disabled and at.button(key="cmp_reset").disabled
    assert at.selectbox(key="cmp_target").value == "bimodal"
    assert at.selectbox(key="cmp_preset").value == ""
    assert {"minimax", "nonsaturating", "wgan-gp", "hinge"} <= set(
        at.multiselect(key="cmp_losses").options)
    assert len(at.multiselect(key="cmp_levels").options) == 4
    for key in ("cmp_seed", "cmp_steps", "cmp_batch", "cmp_w1"):
        assert at.number_input(key=key) is not None
    line, step, total = status(at)
    assert step == 0 and total == at.number_input(key="cmp_steps").value and "Ready" in line
    # every strength level is shown with the k, D width and lr ratio it sets
    ladder = next(md.value for md in at.markdown if "lr_D =" in md.value)
    for level in ("weak", "balanced", "strong", "overwhelming"):
        assert level in ladder
    assert "k = 20 · D width 128 · lr_D = 4 × lr_G = 0.0008" in ladder


def test_two_losses_by_two_levels_start_a_four_variant_run(at):
    open_compare(at)
    choose(at, ["minimax", "wgan-gp"], ["weak", "strong"], steps=40)
    assert t("cmp.variants.title", "en", n=4) in [e.label for e in at.expander]
    at.button(key="cmp_start").click().run()
    assert not at.exception
    run = the_run(at)
    assert len(run.labels) == 4 and len(set(run.labels)) == 4
    configs = run.configs
    assert {c.seed for c in configs} == {0} and {c.loss for c in configs} == {"minimax", "wgan-gp"}
    assert sorted({c.d_steps for c in configs}) == [1, 5]
    assert at.query_params["cmp"] in (run.id, [run.id])
    assert wait_until(lambda: run.state == FINISHED)
    at.run()
    line, step, total = status(at)
    assert (step, total) == (40, 40) and "Finished" in line
    assert len(at.get("bidi_component")) >= 4 + 3  # 4 tiles + 3 curve charts (live charts)
    keys = {d.key for d in at.get("download_button")}
    assert {"cmp_dl_png", "cmp_dl_svg", "cmp_dl_html", "cmp_dl_metrics", "cmp_dl_summary",
            "cmp_dl_config", "cmp_dl_zip"} <= keys
    summary = at.dataframe[-1].value
    assert len(summary) == 4


def test_more_than_twelve_variants_is_a_message_not_a_crash(at):
    open_compare(at)
    losses = at.multiselect(key="cmp_losses").options[:4]
    choose(at, losses, ["weak", "balanced", "strong", "overwhelming"])  # 16 variants
    assert not at.exception
    assert any(f"{MAX_VARIANTS}" in e.value and "16" in e.value for e in at.error)
    assert at.button(key="cmp_start").disabled
    choose(at, losses, ["weak"])
    assert not at.error and not at.button(key="cmp_start").disabled


def test_reset_removes_the_run(at):
    open_compare(at)
    choose(at, ["nonsaturating", "hinge"], ["balanced"], steps=5000)
    at.button(key="cmp_start").click().run()
    run = the_run(at)
    assert run.state in ACTIVE_STATES
    at.button(key="cmp_pause").click().run()
    assert run.state == "paused"
    at.button(key="cmp_reset").click().run()
    assert not at.exception
    assert get_scheduler().get(run.id) is None
    assert "cmp_run_id" not in at.session_state
    _, step, _ = status(at)
    assert step == 0 and at.button(key="cmp_reset").disabled


def test_preset_loads_its_variants(at):
    open_compare(at)
    at.selectbox(key="cmp_preset").set_value("d-strength").run()
    assert not at.exception
    assert at.selectbox(key="cmp_target").value == "ring8"
    assert t("cmp.variants.title", "en", n=3) in [e.label for e in at.expander]


def test_chinese_labels(at):
    open_compare(at, lang="zh")
    assert CJK.search(at.title[0].value)
    assert at.button(key="cmp_start").label == t("cmp.controls.start", "zh")
    assert at.button(key="cmp_reset").label == t("cmp.controls.reset", "zh")
    assert at.multiselect(key="cmp_losses").label == t("cmp.losses.label", "zh")
    line, step, _ = status(at)
    assert step == 0 and t("cmp.state.ready", "zh") in line


# --------------------------------------------------------------------------- report export


@pytest.mark.browser  # kaleido drives Debian's Chromium
def test_report_png_size_and_csv_rows(at):
    if export.find_browser() is None:
        pytest.skip("PNG export needs Chromium")
    open_compare(at)
    choose(at, ["minimax", "hinge"], ["weak", "strong"], steps=30)
    at.button(key="cmp_start").click().run()
    run = the_run(at)
    assert wait_until(lambda: run.state == FINISHED)
    at.run()
    stated = next(c.value for c in at.caption if "PNG" in c.value)
    width, height = map(int, re.search(r"(\d+) × (\d+) px", stated).groups())

    frames, hist = run.latest(), run.history()
    configs, labels = run.configs, run.labels
    fig = report.comparison_figure_from(frames, hist, configs, "en")
    from PIL import Image

    png = export.figure_png(fig, width=1600, scale=2)
    assert Image.open(io.BytesIO(png)).size == (width, height)

    summary = pd.read_csv(io.StringIO(report.summary_from_histories(
        hist, configs, labels, 0.2).to_csv(index=False)))
    assert list(summary["variant"]) == labels
    assert summary["final_w1"].notna().all()
    metrics = pd.read_csv(io.StringIO(report.long_metrics_from_histories(hist, labels)))
    for label in labels:
        assert list(metrics[metrics["variant"] == label]["step"]) == list(hist[label]["step"])
    assert len(metrics) == sum(len(hist[lb]["step"]) for lb in labels)
    cfg = json.loads(report.comparison_config_json(configs, labels))
    assert [v["label"] for v in cfg["variants"]] == labels
    bundle = export.bundle_zip({"figure.png": png, "summary.csv": "a", "metrics.csv": "b"})
    assert set(zipfile.ZipFile(io.BytesIO(bundle)).namelist()) == {
        "figure.png", "summary.csv", "metrics.csv"}


def test_summary_from_histories_reads_steps_divergence_and_speed_from_the_history():
    """Without per-variant values the summary reads them from the histories, and they equal
    what the finished trainers hold (steps, diverged_at, iterations per training second)."""
    from gandemo.compare import Comparison
    from gandemo.config import RunConfig

    configs = [RunConfig(target="ring8", loss=loss, steps=20, log_every=6, seed=3)
               for loss in ("nonsaturating", "hinge")]
    comp = Comparison(configs)
    comp.run()
    hist = {lb: tr.history.as_arrays() for lb, tr in zip(comp.labels, comp.trainers)}
    got = report.summary_from_histories(hist, configs, comp.labels)
    assert list(got["steps"]) == [tr.step_count for tr in comp.trainers] == [20, 20]
    assert list(got["diverged_at"]) == [tr.diverged_at for tr in comp.trainers]
    for speed, h in zip(got["iters_per_s"], hist.values()):
        assert speed == pytest.approx(20 / h["wall_s"][-1]) and speed > 0
    given = report.summary_from_histories(hist, configs, comp.labels, steps=[7, 8],
                                          diverged_at=[None, 5], iters_per_s=[1.0, 2.0])
    assert list(given["steps"]) == [7, 8] and list(given["iters_per_s"]) == [1.0, 2.0]
    assert given["diverged_at"].iloc[1] == 5


def test_replay_scrubber_shows_an_earlier_frame_of_every_tile(at):
    open_compare(at)
    choose(at, ["nonsaturating", "hinge"], ["balanced"], steps=40)
    for _ in range(2):
        at.session_state["_control_clicks"] = {}  # AppTest clicks faster than the debounce
        at.button(key="cmp_step").click().run()
    assert not at.exception, [e.message for e in at.exception]
    run = the_run(at)
    assert run.step == 2
    slider = next(s for s in at.select_slider if s.label == t("ui.replay.label", "en"))
    assert slider.options == ["step 0", "step 1", "step 2"] and slider.value == 2
    tile = lambda i: at.session_state["_cmp_figs"][("tile", i)][2]  # noqa: E731 (the drawn frame)
    assert [tile(i).step for i in range(2)] == [2, 2]
    slider.set_value(0).run()
    assert not at.exception, [e.message for e in at.exception]
    assert [tile(i).step for i in range(2)] == [0, 0]
    assert status(at)[1] == 2  # the run itself stays where it is


def test_before_start_every_variant_shows_its_untrained_frame_in_its_tile(at):
    """The tiles exist before Start (step 0 of each variant, in the run's places), so Start
    updates them in place; the tile of a variant shows that variant's settings."""
    open_compare(at)
    choose(at, ["nonsaturating", "wgan-gp", "hinge"], ["balanced"], steps=40, target="ring8")
    assert "cmp_run_id" not in at.session_state or not at.session_state["cmp_run_id"]
    figs = at.session_state["_cmp_figs"]
    drawn = [figs[("tile", i)] for i in range(3)]
    assert [snap.step for _, _, snap in drawn] == [0, 0, 0]
    assert all(snap.dim == 2 for _, _, snap in drawn)
    titles = [spec["layout"]["title"]["text"] for _, spec, _ in drawn]
    assert all("step 0" in title for title in titles), titles
    assert len({title for title in titles}) == 3  # each names its own variant
    at.button(key="cmp_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    run = the_run(at)
    wait_until(lambda: run.latest() and min(s.step for _, s in run.latest()) > 0, 60)
    at.session_state["_control_clicks"] = {}  # AppTest clicks faster than the debounce
    at.button(key="cmp_pause").click().run()  # paused: the tiles draw the latest frames
    assert not at.exception, [e.message for e in at.exception]
    steps = [figs_step for figs_step in (at.session_state["_cmp_figs"][("tile", i)][2].step
                                         for i in range(3))]
    assert min(steps) > 0, steps
