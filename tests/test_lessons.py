"""The lesson checks (gandemo.lessons) on synthetic histories, their texts, and the generated docs.

Fast: no training. The checks on real seeded runs are asserted in tests/test_presets.py (slow).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from gandemo import lessons as L
from gandemo.i18n import LANGUAGES, catalog, placeholders
from gandemo.presets import PRESETS
from gandemo.snapshot import SCALAR_COLUMNS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "presets.md"
NUMBER = re.compile(r"\d+\.\d+|\d{2,}")


def hist(steps, **columns) -> dict[str, np.ndarray]:
    """A history with rows at ``steps``; given columns (scalars broadcast), the rest NaN."""
    steps = np.asarray(steps, dtype=float)
    out = {c: np.full(len(steps), np.nan) for c in SCALAR_COLUMNS}
    out["step"] = steps
    for name, value in columns.items():
        out[name] = np.broadcast_to(np.asarray(value, dtype=float), steps.shape).copy()
    return out


def verdicts(name, hs):
    return {r.key: r.passed for r in L.evaluate(name, hs)}


# ------------------------------------------------------------------ registry and texts


def test_every_preset_has_a_lesson_within_its_variants():
    assert set(L.LESSONS) == set(PRESETS)
    for name, checks in L.LESSONS.items():
        n = len(PRESETS[name].configs())
        assert checks and len({c.key for c in checks}) == len(checks)
        assert all(0 <= i < n for c in checks for i in c.needs), name


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_check_has_its_texts(lang):
    texts, en = catalog(lang), catalog("en")
    for name, checks in L.LESSONS.items():
        for check in checks:
            for part in ("claim", "now"):
                key = f"lesson.{name}.{check.key}.{part}"
                assert texts.get(key), key
                assert placeholders(texts[key]) == placeholders(en[key]), key
    for key in ("lesson.title", "lesson.mark.pass", "lesson.mark.fail", "lesson.mark.wait"):
        assert texts.get(key)


# ------------------------------------------------------------------ reading histories


def test_value_at_reads_steps_not_rows_and_waits_for_the_step():
    h = hist([10, 20, 40, 80], js=[0.69, 0.5, 0.2, 0.05])  # uneven: downsampled
    assert L.value_at(h, "js", 40) == 0.2
    assert L.value_at(h, "js", 50) == 0.2  # last row at or before step 50
    assert L.value_at(h, "js", 81) is None  # not reached yet
    assert L.value_at(h, "js", 5) is None  # no row that early
    assert L.pinned_until(h) == 20 and L.js_below(h, 0.1) == 80
    assert L.pinned_until(hist([10, 20], js=0.69)) is None


def test_numbers_as_text():
    assert L.num(0.0253) == "0.0253" and L.num(45.24) == "45.2" and L.num(math.inf) == "∞"
    assert L.num(None) == "—" and L.times(45.2, 0.0253) == "1,787×" and L.times(3, 2) == "1.5×"


# ------------------------------------------------------------------ the checks decide


def test_vanishing_gradient_checks():
    steps = np.arange(10, 210, 10)
    peak = np.where(steps == 50, 0.6, 0.05)
    mm = hist(steps, js=0.6897, g_grad_norm=peak)
    ns = hist(steps, js=0.6897, g_grad_norm=np.linspace(0.2, 20, len(steps)))
    assert verdicts("vanishing-gradient", [mm, ns]) == {"frozen": True, "gap": True,
                                                       "collapse": True}
    close = hist(steps, js=0.6897, g_grad_norm=np.linspace(0.2, 2.0, len(steps)))
    moved = hist(steps, js=np.linspace(0.69, 0.3, len(steps)), g_grad_norm=peak)
    assert verdicts("vanishing-gradient", [moved, close]) == {"frozen": False, "gap": False,
                                                             "collapse": False}


def test_checks_wait_for_missing_variants_and_for_their_step():
    steps = np.arange(20, 420, 20)
    k20 = hist(steps, modes_covered=2, hq_share=np.linspace(0.01, 0.5, len(steps)))
    got = verdicts("d-strength", [None, None, k20])
    assert got == {"k5": None, "k20": True}
    early = {k: v[:9] for k, v in k20.items()}  # up to step 180: before LOCK_FROM
    assert verdicts("d-strength", [None, None, early])["k20"] is None
    k1 = hist(steps * 2, modes_covered=3)
    k5 = hist(steps * 2, modes_covered=np.minimum(8, steps // 20))
    assert verdicts("d-strength", [k1, k5, k20])["k5"] is True
    assert verdicts("d-strength", [k5, k1, k20])["k5"] is False


def test_escape_needs_the_other_still_pinned():
    steps = np.arange(5, 105, 5)
    slow = hist(steps, js=np.where(steps < 90, 0.688, 0.05), w1=np.linspace(2.0, 1.8, 20))
    fast = hist(steps, js=np.where(steps < 30, 0.688, 0.05), w1=np.linspace(1.9, 0.1, 20))
    assert verdicts("js-blind-w1-not", [slow, fast, fast]) == {"blind": True, "ns": True,
                                                              "wgan": True}
    # both escape together: the saturating loss did not pin anything
    assert verdicts("js-blind-w1-not", [fast, fast, fast])["ns"] is False
    # nobody below 0.1 yet: undecided, not failed
    stuck = hist(steps, js=0.688, w1=2.0)
    assert verdicts("js-blind-w1-not", [stuck, stuck, stuck]) == {"blind": False, "ns": None,
                                                                 "wgan": None}


def test_mode_checks():
    steps = np.arange(100, 1100, 100)
    plain = hist(steps, modes_covered=[2, 3, 4, 3, 2, 1, 1, 1, 1, 0], js=0.5)
    good = hist(steps, modes_covered=8, js=0.05)
    assert verdicts("mode-collapse-ring8", [plain, good, good, plain]) == {
        "plain": True, "minibatch": True, "wgan": True, "unrolled": False}
    assert verdicts("improved-techniques", [good, plain, None, None, None]) == {
        "plain": False, "smoothing": False}
    young = {k: v[:5] for k, v in good.items()}  # step 500 < LATE
    assert verdicts("improved-techniques", [young, young])["smoothing"] is None


def test_lipschitz_checks():
    steps = np.arange(10, 310, 10)
    clip = hist(steps, x_grad_norm=3e-4, w1=np.linspace(2, 0.55, 30))
    gp = hist(steps, x_grad_norm=1.3, w1=np.linspace(2, 0.6, 30))
    sn = hist(steps, x_grad_norm=0.4, w1=np.linspace(2, 0.5, 30))
    assert verdicts("lipschitz-tools", [clip, gp, sn]) == {"slopes": True, "equal": True}
    slow = hist(steps, x_grad_norm=3e-4, w1=np.linspace(2, 1.5, 30))
    assert verdicts("lipschitz-tools", [slow, sn, gp]) == {"slopes": False, "equal": False}


def test_evaluate_accepts_label_mappings_and_formats_texts():
    steps = np.arange(10, 210, 10)
    mm = hist(steps, js=0.6897, g_grad_norm=0.01)
    ns = hist(steps, js=0.6897, g_grad_norm=np.linspace(1, 30, 20))
    by_label = {"minimax (saturating)": mm, "non-saturating": ns}
    for lang in LANGUAGES:
        results = L.evaluate("vanishing-gradient", by_label, lang)
        assert [r.passed for r in results] == [True, True, False]
        for r in results:
            assert "{" not in r.text and " — " in r.text
    assert "3,000×" in L.evaluate("vanishing-gradient", [mm, ns])[1].text


def test_matches_only_the_presets_own_variants():
    cfgs = PRESETS["d-strength"].configs()
    assert L.matches("d-strength", cfgs)
    assert L.matches("d-strength", [c.with_(seed=3, steps=200) for c in cfgs])
    assert not L.matches("d-strength", [c.with_(target="grid25") for c in cfgs])
    assert not L.matches("d-strength", cfgs[:2])


def test_ui_marks():
    from ui import lessons as ui

    steps = np.arange(10, 210, 10)
    mm = hist(steps, js=0.6897, g_grad_norm=0.01)
    ns = hist(steps, js=0.6897, g_grad_norm=np.linspace(1, 30, 20))
    live = ui.lines("vanishing-gradient", [mm, ns], "en")
    assert live[0].startswith(":green[✓]") and live[2].startswith(":red[✗ not yet:]")
    assert ui.lines("vanishing-gradient", [mm, ns], "en", finished=True)[2].startswith(
        ":red[✗ not in this run:]")
    assert ui.lines("vanishing-gradient", [], "zh")[0].startswith(":gray[…]")
    assert ui.lines("nope", [mm, ns], "en") == []


# ------------------------------------------------------------------ the generated docs


def here_part(text: str) -> str:
    return text[text.index("**Here"):]


def test_docs_are_generated_and_cover_every_preset():
    doc = DOCS.read_text(encoding="utf-8")
    assert "scripts/preset_docs.py" in doc.splitlines()[2]
    for name in PRESETS:
        assert f"## {name} — " in doc


@pytest.mark.parametrize("name", list(PRESETS))
def test_explanation_numbers_come_from_the_generated_docs(name):
    """Every measured number in the "Here (seed 0)" part is in docs/presets.md."""
    doc = DOCS.read_text(encoding="utf-8")
    here = here_part(catalog("en")[f"preset.{name}.explain"])
    missing = [n for n in NUMBER.findall(here) if n not in doc]
    assert not missing, f"{name}: {missing} not in docs/presets.md"


# ------------------------------------------------------------------ the Compare page


@pytest.mark.slow  # a short preset comparison through AppTest
def test_compare_page_ticks_the_preset_checks():
    from conftest import stop_all_runs, wait_until
    from streamlit.testing.v1 import AppTest

    from gandemo.i18n import t
    from gandemo.runner import FINISHED, get_scheduler

    app = AppTest.from_file(str(DOCS.parents[1] / "app.py"), default_timeout=60)
    try:
        app.run()
        app.switch_page("views/compare.py").run()
        app.selectbox(key="cmp_preset").set_value("vanishing-gradient").run()
        app.number_input(key="cmp_steps").set_value(60).run()
        app.button(key="cmp_start").click().run()
        run = get_scheduler().get(app.session_state["cmp_run_id"])
        assert wait_until(lambda: run.state == FINISHED)
        app.run()
        assert not app.exception, [e.message for e in app.exception]
        texts = [md.value for md in app.markdown]
        assert f"**{t('lesson.title', 'en')}**" in texts
        checks = next(x for x in texts if "JS reads" in x)
        assert checks.count("\n- ") == 2 and ":green[✓]" in checks  # G frozen: JS unchanged
        assert ":red[✗ not in this run:]" in checks  # 60 steps: the 100× gap is not there yet
        # a different target: the checks do not speak about that run
        app.selectbox(key="cmp_target").set_value("bimodal").run()
        app.button(key="cmp_start").click().run()
        run = get_scheduler().get(app.session_state["cmp_run_id"])
        assert run.configs[0].target == "bimodal"
        assert wait_until(lambda: run.state == FINISHED)
        app.run()
        assert f"**{t('lesson.title', 'en')}**" not in [md.value for md in app.markdown]
    finally:
        stop_all_runs()
