"""The Train page through Streamlit's AppTest: widgets, controls, errors, language, URL round trip.

AppTest runs the real app script in-process (no browser, no auto-refresh); the runs it starts
live in the process-wide scheduler, which every test shuts down again, checking that no
``gandemo-worker`` thread survives.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import stop_all_runs, wait_until
from streamlit.testing.v1 import AppTest

from gandemo.config import RunConfig, field_specs, to_query
from gandemo.i18n import t
from gandemo.presets import PRESETS
from gandemo.runner import ACTIVE_STATES, DIVERGED, PAUSED, get_scheduler

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
STATUS = re.compile(r"(?:step|进度) (\d+) / (\d+)")
BUTTONS = ("start", "pause", "step", "reset")



@pytest.fixture()
def app():
    """A fresh session on the Train page; afterwards every run is stopped and the workers gone."""
    at = AppTest.from_file(APP, default_timeout=30)
    yield at
    stop_all_runs()


def open_page(at: AppTest, **params: str) -> AppTest:
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def status(at: AppTest) -> tuple[str, int, int]:
    """The status line and its ``step N / TOTAL`` numbers."""
    for md in at.markdown:
        m = STATUS.search(md.value)
        if m:
            return md.value, int(m.group(1)), int(m.group(2))
    raise AssertionError("no status line with 'step N / TOTAL'")


def click(at: AppTest, key: str) -> AppTest:
    # AppTest clicks faster than a person; forget the last clicks so the duplicate-dispatch
    # guard (ui.run_session.DEBOUNCE_S) does not swallow a deliberate second click.
    at.session_state["_control_clicks"] = {}
    at.button(key=key).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def the_run(at: AppTest):
    run = get_scheduler().get(at.session_state["run_id"])
    assert run is not None
    return run


def widget_keys(at: AppTest) -> set[str]:
    kinds = ("selectbox", "number_input", "slider", "checkbox")
    return {w.key for kind in kinds for w in at.get(kind) if w.key}


def upload(at: AppTest, content: bytes, name: str = "config.json") -> AppTest:
    at.get("file_uploader")[0].upload(name, content, "application/json")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_train_page_has_every_setting_and_the_controls(app):
    open_page(app)
    assert set(field_specs()) <= widget_keys(app)  # one widget per RunConfig field
    assert [b.key for b in app.button if b.key in BUTTONS] == list(BUTTONS)
    assert app.button(key="start").label == "Start" and not app.button(key="start").disabled
    assert app.button(key="reset").disabled  # nothing to reset yet
    text, step, total = status(app)
    assert "Ready" in text and (step, total) == (0, RunConfig().steps)
    assert app.get("bidi_component"), "the untrained model should be drawn (ui/live_chart)"
    assert app.selectbox(key="lang").value == "en"
    assert not app.error


def test_start_creates_a_background_run_and_pause_stops_it(app):
    open_page(app, steps="50000")
    click(app, "start")
    run = the_run(app)
    assert run.state in ACTIVE_STATES and run.cfg.steps == 50_000
    assert app.query_params["run"] == run.id  # a refresh re-attaches through the URL
    assert app.button(key="pause").label == "Pause" and app.button(key="start").disabled
    assert wait_until(lambda: run.step > 0), "the run never trained"

    click(app, "pause")
    assert run.state == PAUSED and app.button(key="pause").label == "Resume"
    assert wait_until(lambda: not run.train_lock.locked(), 10)
    frozen = run.step
    time.sleep(0.5)
    assert run.step == frozen
    app.run()
    text, step, _ = status(app)
    assert "Paused" in text and step == frozen
    assert app.get("download_button"), "a paused run offers its downloads"


def test_step_on_a_fresh_run_is_exactly_one_iteration(app):
    open_page(app)
    click(app, "step")
    run = the_run(app)
    assert (run.step, run.state) == (1, PAUSED)
    text, step, total = status(app)
    assert (step, total) == (1, run.cfg.steps) and "step 1 / " in text
    click(app, "step")
    assert run.step == 2 and status(app)[1] == 2
    app.button(key="step").click().run()  # a second dispatch right after: a duplicate
    assert run.step == 2


def test_reset_removes_the_run(app):
    open_page(app)
    click(app, "start")
    run_id = the_run(app).id
    click(app, "reset")
    assert get_scheduler().get(run_id) is None
    assert "run_id" not in app.session_state and "run" not in app.query_params
    assert status(app)[1] == 0
    assert app.button(key="reset").disabled


def test_refresh_reattaches_to_the_run_in_the_url(app):
    open_page(app)
    click(app, "step")
    run = the_run(app)
    again = AppTest.from_file(APP, default_timeout=30)  # a new session: the page was refreshed
    open_page(again, run=run.id)
    assert again.session_state["run_id"] == run.id and status(again)[1] == 1
    gone = AppTest.from_file(APP, default_timeout=30)
    open_page(gone, run="no-such-run")
    assert "run" not in gone.query_params and status(gone)[1] == 0
    assert any("has ended" in i.value for i in gone.info)


def test_invalid_url_value_shows_an_error_and_does_not_crash(app):
    open_page(app, lr_g="5", seed="12")
    errors = " ".join(e.value for e in app.error)
    assert "lr_g" in errors and "[0, 1]" in errors, errors
    assert app.number_input(key="lr_g").value == field_specs()["lr_g"]["default"]
    assert app.number_input(key="seed").value == 12  # the rest of the link still applies
    assert not app.button(key="start").disabled


def test_invalid_uploaded_config_shows_an_error(app):
    open_page(app)
    upload(app, json.dumps({"lr_d": 7}).encode())
    errors = " ".join(e.value for e in app.error)
    assert "lr_d" in errors and "[0, 1]" in errors, errors
    upload(app, b"{not json", name="broken.json")
    assert any("not valid JSON" in e.value for e in app.error)
    upload(app, json.dumps({"g_width": 512}).encode(), name="big.json")
    assert any("g_width" in e.value and "at most" in e.value for e in app.error)
    assert app.number_input(key="g_width").value == field_specs()["g_width"]["default"]


def test_language_switch_changes_the_labels(app):
    open_page(app)
    app.selectbox(key="lang").set_value("zh").run()
    assert not app.exception
    assert app.session_state["lang"] == "zh" and app.query_params["lang"] == "zh"
    assert app.button(key="start").label == t("ui.controls.start", "zh") != "Start"
    assert app.number_input(key="lr_g").label == t("field.lr_g.label", "zh")
    assert app.title[0].value == t("train.title", "zh")
    assert status(app)[1] == 0  # the contract text stays parseable in Chinese
    zh = AppTest.from_file(APP, default_timeout=30)  # ?lang=zh in a link works too
    open_page(zh, lang="zh")
    assert zh.button(key="start").label == t("ui.controls.start", "zh")
    zh.selectbox(key="lang").set_value("en").run()
    assert zh.button(key="start").label == "Start" and "lang" not in zh.query_params
    assert zh.selectbox(key="lang").value == "en"


def test_url_round_trip_restores_the_config(app):
    cfg = RunConfig(target="ring8", loss="hinge", d_steps=3, lr_g=5e-4, g_depth=3, seed=7,
                    spectral_norm=True, gp_lambda=2.5, activation="tanh", steps=900)
    open_page(app)
    upload(app, json.dumps({k: getattr(cfg, k) for k in to_query(cfg)}).encode())
    assert any("Loaded" in s.value for s in app.success)
    params = dict(app.query_params)
    assert {k: params.get(k) for k in to_query(cfg)} == to_query(cfg), params

    reopened = AppTest.from_file(APP, default_timeout=30)
    open_page(reopened, **params)
    assert not reopened.error
    restored = {k: reopened.session_state[k] for k in field_specs()}
    assert RunConfig(**restored) == cfg
    click(reopened, "step")
    assert the_run(reopened).cfg == cfg


def test_changing_settings_does_not_kill_the_running_run(app):
    open_page(app, steps="50000")
    click(app, "start")
    run = the_run(app)
    app.number_input(key="seed").set_value(5).run()
    assert any("Settings changed" in w.value for w in app.warning)
    assert run.state in ACTIVE_STATES and the_run(app) is run
    assert app.button(key="start").label == t("ui.controls.restart", "en")
    click(app, "start")  # applies them: a new run with the new seed
    assert the_run(app) is not run and the_run(app).cfg.seed == 5
    assert get_scheduler().get(run.id) is None


def test_diverged_run_shows_the_step_and_keeps_its_plots(app):
    open_page(app, loss="fgan-kl", opt_d="sgd", opt_g="sgd", lr_d="1.0", lr_g="1.0", seed="3")
    click(app, "start")
    run = the_run(app)
    assert wait_until(lambda: run.state == DIVERGED), run.state
    app.run()
    text, step, _ = status(app)
    assert "Diverged" in text
    assert any(f"Diverged at step {run.diverged_at}" in e.value for e in app.error)
    assert app.get("bidi_component")  # the live charts (ui/live_chart)


def test_preset_loads_its_settings_and_explains_itself(app):
    name, preset = next((n, p) for n, p in PRESETS.items() if p.config.target != "gaussian")
    open_page(app)
    app.selectbox(key="preset").set_value(name).run()
    assert not app.exception
    expected = preset.configs()[0]
    assert RunConfig(**{k: app.session_state[k] for k in field_specs()}) == expected
    assert app.query_params["preset"] == name
    assert app.query_params["target"] == expected.target  # the link carries the settings
    title = t(f"preset.{name}.title", "en")
    explain = t(f"preset.{name}.explain", "en")
    shown = " ".join(i.value for i in app.info)
    assert (explain if explain != f"preset.{name}.explain" else
            title if title != f"preset.{name}.title" else preset.title) in shown


def test_queued_run_shows_its_place_in_line(app):
    limits = get_scheduler().limits
    saved = limits.max_running
    limits.max_running = 0  # every run waits: this session's is first in line
    try:
        open_page(app)
        click(app, "start")
        run = the_run(app)
        assert run.state == "queued" and get_scheduler().position(run) == 1
        text, step, _ = status(app)
        assert "Queued" in text and "1st in line" in text and step == 0
        assert any("1st in line" in i.value for i in app.info)
        assert app.button(key="pause").label == "Pause"
    finally:
        limits.max_running = saved


UI_FILES = [ROOT / "views" / "train.py", ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py"))]


def test_every_locale_key_the_train_page_uses_exists_in_both_languages():
    from gandemo.i18n import catalog
    from gandemo.losses import LOSSES
    from gandemo.runner import DIVERGED, ERROR, FINISHED, PAUSED, QUEUED, RUNNING, STOPPED
    from gandemo.targets import TARGETS
    from ui.config_form import GROUPS

    literal = re.compile(r"""\btr(?:_or)?\(\s*["']([a-z][\w.]*[\w])["']""")
    used = {key for path in UI_FILES for key in literal.findall(path.read_text("utf-8"))}
    used |= {f"field.{n}.{part}" for n in field_specs() for part in ("label", "help")}
    used |= {f"target.{n}.desc" for n in TARGETS} | {f"loss.{n}.summary" for n in LOSSES}
    used |= {f"ui.form.group.{g}{s}" for g, _ in GROUPS if g for s in ("", ".caption")}
    used |= {f"ui.form.error.{s}" for s in ("url", "upload", "form")}
    used |= {f"ui.export.kind.{k}" for k in ("frame", "loss", "grad", "div")}
    used |= {f"ui.status.state.{s}" for s in ("ready", RUNNING, QUEUED, PAUSED, FINISHED,
                                               DIVERGED, STOPPED, ERROR, "queued_pos")}
    used |= {f"ui.common.ordinal.{s}" for s in ("1", "2", "3", "n")}
    used |= {f"page.{p}" for p in ("train", "compare", "theory", "status")}
    assert len(used) > 150
    for lang in ("en", "zh"):
        missing = sorted(used - set(catalog(lang)))
        assert not missing, (lang, missing)
