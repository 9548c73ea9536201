"""Classroom input hardening: what a student can send the server, and what it refuses.

Covers the gaps found reviewing RunConfig validation and ``Limits.check``: the cost of one
(uninterruptible) training step, run ids taken from the URL, the GANDEMO_* variables, hostile
uploaded JSON, URL values, download file names, and the status page not leaking run ids.
"""

from __future__ import annotations

import pytest

from gandemo.config import ConfigError, RunConfig, from_json, from_query
from gandemo.runner import Limits, Scheduler, step_work

CAPS = {"batch": 1024, "g_width": 256, "d_width": 256, "g_depth": 6, "d_depth": 6}


# ------------------------------------------------------------------------ cost of one step


def test_reference_step_costs_one_unit():
    assert step_work(RunConfig(batch=256, g_width=64, d_width=64, g_depth=2, d_depth=2,
                               d_steps=1, eval_samples=2000, log_every=10)) == pytest.approx(1.0)


@pytest.mark.parametrize("changes, name", [
    ({**CAPS, "d_steps": 100}, "d_steps"),  # measured: ~13-17 s for ONE step
    ({"minibatch_disc": True, "batch": 1024}, "batch"),  # O(batch²): ~2.4 s per step
    ({**CAPS, "d_steps": 20, "unrolled": 20}, "d_steps"),
])
def test_one_step_may_not_block_a_worker_for_long(changes, name):
    cfg = RunConfig(**changes)
    assert all(getattr(cfg, k) <= v for k, v in CAPS.items() if k in changes)  # each size legal
    with pytest.raises(ConfigError) as err:
        Limits(max_step_work=250).check(cfg)
    assert err.value.name == name and "250" in str(err.value)


def test_every_preset_and_strength_level_fits_the_default_step_budget():
    from gandemo.compare import STRENGTHS, apply_strength
    from gandemo.presets import PRESETS

    limits = Limits(max_step_work=250)
    for preset in PRESETS.values():
        for cfg in preset.configs():
            limits.check(cfg)
    for level in STRENGTHS:
        limits.check(apply_strength(RunConfig(), level))
    limits.check(RunConfig(**CAPS))  # every size at its cap, k = 1


def test_step_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("GANDEMO_MAX_STEP_WORK", "5")
    with pytest.raises(ConfigError):
        Limits().check(RunConfig(d_steps=20))


# ------------------------------------------------------------------------ run ids


def test_run_ids_from_urls_are_checked_and_never_replace_a_run():
    sched = Scheduler(Limits(workers=1))
    try:
        run = sched.create(RunConfig(steps=5))
        assert run.id and len({sched.create(RunConfig(steps=5)).id for _ in range(20)}) == 20
        with pytest.raises(ConfigError) as err:
            sched.create(RunConfig(steps=5), run_id=run.id)
        assert err.value.name == "run"
        assert sched.get(run.id) is run
        for bad in ("", "../x", "a" * 65, "id with space", "<script>", "ä"):
            with pytest.raises(ConfigError):
                sched.create(RunConfig(steps=5), run_id=bad)
        assert sched.create(RunConfig(steps=5), run_id="Ab_9-z").id == "Ab_9-z"
        assert sched.get("unknown") is None and sched.get("") is None and sched.get(None) is None
    finally:
        sched.shutdown()


# ------------------------------------------------------------------------ environment


@pytest.mark.parametrize("value, expected", [("abc", 64), ("0", 1), ("-5", 1), ("12", 12)])
def test_garbage_in_the_environment_falls_back_safely(monkeypatch, value, expected):
    monkeypatch.setenv("GANDEMO_MAX_RUNNING", value)
    assert Limits().max_running == expected


# ------------------------------------------------------------------------ uploaded JSON, URLs


@pytest.mark.parametrize("text", [
    "[]", "null", '"x"', "{", '{"steps": NaN}', '{"lr_g": Infinity}', '{"steps": 1e400}',
    '{"target": ["gaussian"]}', '{"target": {"a": 1}}', '{"steps": true}', '{"nope": 1}',
    '{"steps": 999999999}', "\ufeff{}", '{"seed": -1}', '{"batch": 4.5}',
])
def test_bad_uploads_are_config_errors(text):
    with pytest.raises(ConfigError):
        from_json(text)


def test_deeply_nested_upload_is_a_config_error():
    with pytest.raises(ConfigError):
        from_json("[" * 100_000 + "]" * 100_000)  # 200 kB: well under the 1 MB upload cap


def test_huge_integer_upload_is_a_config_error():
    with pytest.raises(ConfigError):
        from_json('{"steps": ' + "9" * 5000 + "}")


def test_error_messages_stay_short_whatever_the_input():
    with pytest.raises(ConfigError) as err:
        from_json('{"target": "' + "x" * 100_000 + '"}')
    assert len(str(err.value)) < 1000


@pytest.mark.parametrize("params", [
    {"steps": "1e9"}, {"steps": "nan"}, {"lr_g": "inf"}, {"steps": "0x10"}, {"seed": "-1"},
    {"target": "ring8\x00"}, {"target": "../../etc/passwd"}, {"spectral_norm": "yes"},
    {"steps": "9" * 5000},
])
def test_bad_url_values_are_config_errors(params):
    with pytest.raises(ConfigError):
        from_query(params)


def test_url_keys_that_are_not_settings_are_ignored():
    cfg = from_query({"run": "abc", "lang": "zh", "utm_source": "x", "steps": "300"})
    assert cfg.steps == 300


# ------------------------------------------------------------------------ download names


@pytest.mark.parametrize("parts", [
    ("../../etc/passwd",), ("a/b\\c",), ("\x00x",), ("..",), (".",), ("",), ("x" * 500,),
    ("训练", "ring8"), ('a b*?<>|:"',), (".hidden",),
])
def test_download_names_are_plain_and_short(parts):
    from gandemo.export import MAX_NAME, safe_filename

    name = safe_filename(*parts)
    assert name and len(name) <= MAX_NAME
    assert "/" not in name and "\\" not in name and ".." not in name
    assert not name.startswith(".") and name.isascii() and name.isprintable()


# ------------------------------------------------------------------------ the status page


def test_status_page_shows_runs_but_not_their_ids():
    """An id in ?run= attaches to a run, so the teacher's page must not list them."""
    from streamlit.testing.v1 import AppTest

    from gandemo.runner import get_scheduler

    sched = get_scheduler()
    run = sched.create(RunConfig(steps=5, seed=7), run_id="secretRunId42")
    try:
        at = AppTest.from_file("../views/status.py", default_timeout=60).run()
        assert not at.exception
        kept = next(m for m in at.metric if m.label == "Runs kept")
        assert int(kept.value) >= 1  # the scheduler is process-wide: other tests' runs count too
        table = at.dataframe[0].value.to_string()
        assert "gaussian" in table
        texts = [table] + [str(e.value) for e in at.json] + [m.value for m in at.markdown]
        assert not any("secretRunId42" in t for t in texts)
        at.session_state["lang"] = "zh"
        at.run()
        assert not at.exception and at.title[0].value == "服务器状态"
    finally:
        sched.remove(run)


def test_the_default_memory_budget_leaves_room_for_the_worker_processes(monkeypatch):
    """Without GANDEMO_MEMORY_MB the runs' budget is what is free less the worker processes'
    own memory (they start after the budget is read); an explicit budget is kept as given."""
    import gandemo.limits as limits_module

    monkeypatch.setattr(limits_module, "memory_budget_mb", lambda reserve_mb=0: 5000 - reserve_mb)
    reserve = 2 * limits_module.WORKER_RESIDENT_MB
    assert Limits(workers=2, processes=True).memory_mb == 5000 - reserve
    assert Limits(workers=2, processes=False).memory_mb == 5000
    assert Limits(workers=2, processes=True, memory_mb=123).memory_mb == 123
