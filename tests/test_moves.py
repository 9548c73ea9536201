"""One player at a time: Trainer.step_d / step_g, their book-keeping, the move summary and the
Train page's Step D / Step G buttons."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from gandemo import export, moves
from gandemo.config import ConfigError, RunConfig
from gandemo.i18n import t
from gandemo.runner import PAUSED, Scheduler
from gandemo.snapshot import SCALAR_COLUMNS
from gandemo.trainer import MOVE_COLUMNS, Trainer

SMALL = dict(steps=200, batch=64, eval_samples=400, log_every=5)


def trained(steps: int = 4, **kw) -> Trainer:
    tr = Trainer(RunConfig(**{**SMALL, **kw}))
    for _ in range(steps):  # optimizer states exist from here on
        tr.step()
    return tr


def params(net) -> torch.Tensor:
    """A copy of every parameter of one stacked network (``stack.G`` or ``stack.D``)."""
    return net.params.flat.detach().clone()


def d_state(tr: Trainer) -> dict[str, torch.Tensor]:
    """D's parameters and spectral norm's power-iteration vectors u, v (copies)."""
    sn = tr.stack.D.sn
    return {"flat": params(tr.stack.D), **{f"u.{n}": sn.u[n].clone() for n in sn.names},
            **{f"v.{n}": sn.v[n].clone() for n in sn.names}}


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def opt_state(opt) -> dict[str, torch.Tensor]:
    """Every entry of a stacked optimizer's state (step count t; Adam m, v; RMSProp sq; SGD
    buf) as tensors (copies)."""
    return {k: torch.as_tensor(copy.deepcopy(v)) for k, v in opt.state.items()}


CASES = [dict(), dict(loss="wgan", clip=0.05, opt_d="rmsprop", opt_g="rmsprop"),
         dict(spectral_norm=True, d_steps=2), dict(target="ring8")]


@pytest.mark.parametrize("kw", CASES, ids=["default", "wgan-clip", "spectral", "2d"])
def test_a_d_step_changes_only_d(kw):
    tr = trained(**kw)
    stack = tr.stack
    g0, d0 = params(stack.G), d_state(tr)
    og0, od0 = opt_state(stack.opt_g), opt_state(stack.opt_d)
    streams0 = [st.gen.get_state() for st in stack.streams]
    move = tr.step_d()
    assert move["player"] == "d" and np.isfinite(move["loss"])
    assert torch.equal(params(stack.G), g0), "G's parameters must be bit-identical"
    assert same_tensors(opt_state(stack.opt_g), og0), "G's optimizer state must not move"
    d1 = d_state(tr)
    assert not torch.equal(d1["flat"], d0["flat"]), "D's parameters must change"
    assert not same_tensors(opt_state(stack.opt_d), od0), "D's optimizer state must advance"
    assert opt_state(stack.opt_d)["t"] == od0["t"] + 1
    if kw.get("spectral_norm"):  # one D update: one power-iteration step
        assert any(not torch.equal(d1[k], d0[k]) for k in d0 if k != "flat")
    assert stack.iteration == 4 and tr.step_count == 4  # a lone move is not an iteration
    assert not all(torch.equal(st.gen.get_state(), s0)  # fresh batches were drawn
                   for st, s0 in zip(stack.streams, streams0, strict=True))


@pytest.mark.parametrize("kw", CASES, ids=["default", "wgan-clip", "spectral", "2d"])
def test_a_g_step_changes_only_g(kw):
    tr = trained(**kw)
    stack = tr.stack
    g0, d0 = params(stack.G), d_state(tr)
    og0, od0 = opt_state(stack.opt_g), opt_state(stack.opt_d)
    move = tr.step_g()
    assert move["player"] == "g" and np.isfinite(move["loss"])
    assert same_tensors(d_state(tr), d0), "D's parameters (and spectral norm's u, v) must stay"
    assert same_tensors(opt_state(stack.opt_d), od0), "D's optimizer state must not move"
    assert not torch.equal(params(stack.G), g0), "G's parameters must change"
    assert not same_tensors(opt_state(stack.opt_g), og0), "G's optimizer state must advance"
    assert opt_state(stack.opt_g)["t"] == og0["t"] + 1
    assert stack.iteration == 4 and tr.step_count == 4


def test_d_steps_with_a_frozen_g_move_d_toward_d_star():
    tr = trained(steps=3)
    gaps = [moves.d_gap(tr.snapshot())]
    for _ in range(8):
        tr.step_d()
        gaps.append(moves.d_gap(tr.snapshot()))
    assert gaps[-1] < gaps[0] - 0.01, gaps  # mean |D − D*| shrinks
    assert sum(b < a for a, b in zip(gaps, gaps[1:])) >= 6, gaps  # and almost every step


def test_lone_moves_are_not_iterations_and_the_csv_says_so():
    tr = trained(steps=5)  # one row at step 5
    assert list(tr.history.columns) == list(SCALAR_COLUMNS)  # no lone move: columns as always
    rows = len(tr.history)
    tr.step_d()
    tr.step_d()
    tr.step_g()
    assert tr.step_count == 5 and len(tr.history) == rows  # not iterations, no row
    assert tr.lone_moves == {"d": 2, "g": 1}
    for _ in range(5):
        tr.step()
    cols = tr.history.columns
    assert cols["step"] == [5.0, 10.0]
    assert (cols["d_moves"], cols["g_moves"]) == ([0.0, 2.0], [0.0, 1.0])
    header = export.history_csv(tr.history.as_arrays()).splitlines()[0].split(",")
    assert header == [*SCALAR_COLUMNS, *MOVE_COLUMNS]
    plain = export.history_csv(trained(steps=5).history.as_arrays()).splitlines()[0]
    assert plain.split(",") == list(SCALAR_COLUMNS)


def test_the_frame_after_a_lone_move_shows_the_new_networks():
    tr = trained()
    before = tr.snapshot()
    tr.step_g()  # same step count: the cached evaluation must not be reused
    after = tr.snapshot()
    assert after.step == before.step
    assert not np.array_equal(after.fake, before.fake)


def test_a_lone_move_on_a_finished_run_does_nothing_and_a_bad_player_is_named():
    tr = Trainer(RunConfig(**{**SMALL, "steps": 2}))
    tr.run()
    g0 = params(tr.stack.G)
    assert tr.step_g() is None and torch.equal(params(tr.stack.G), g0)
    with pytest.raises(ValueError, match="player"):
        Trainer(RunConfig(**SMALL)).lone_move("both")


def test_summary_sentences_carry_the_numbers_in_both_languages():
    tr = trained(steps=10)
    s0 = tr.snapshot()
    tr.step_d()
    s1 = tr.snapshot()
    tr.step_g()
    s2 = tr.snapshot()
    d = moves.summarize("d", s0, s1)
    assert d.js[0] == d.js[1] and d.moved == 0.0  # G did not move
    assert d.d_gap[1] < d.d_gap[0]
    for lang in ("en", "zh"):
        text = moves.sentence(d, lang)
        for v in (d.js[0], *d.d_gap, d.d_gap[0] - d.d_gap[1]):
            assert f"{v:.3f}" in text, (v, text)
    assert moves.sentence(d).startswith("D step: JS estimate unchanged")
    g = moves.summarize("g", s1, s2)
    assert g.d_change == 0.0 and g.moved > 0  # D did not move, the samples did
    assert g.shift > 0, "a G step moves the samples uphill on D"
    for lang in ("en", "zh"):
        text = moves.sentence(g, lang)
        assert f"{g.shift:+.3f}" in text
        assert moves._pair(*g.w1)[0] in text and moves._pair(*g.w1)[1] in text


def test_wgan_has_no_d_star_and_says_how_much_the_critic_changed():
    tr = trained(loss="wgan-gp")
    s0 = tr.snapshot()
    tr.step_d()
    s = moves.summarize("d", s0, tr.snapshot())
    assert s.d_gap is None and s.d_change > 0
    text = moves.sentence(s)
    assert f"{s.d_change:.3f}" in text and "no closed-form D*" in text


def test_uphill_follows_the_slope_of_d():
    """A D that rises to the right (1D) / along y (2D): the unit slope is +x / +y."""
    tr = trained(steps=1)
    snap = tr.snapshot()
    x = snap.axes[0]
    ramp = snap.__class__(**{**snap.__dict__, "d_out": 0.5 * x})
    u, inside = moves.uphill(ramp, np.array([[0.0], [x[-1] + 5.0]]))
    assert inside.tolist() == [True, False] and u[0, 0] == pytest.approx(1.0)
    tr2 = trained(steps=1, target="ring8")
    s2 = tr2.snapshot()
    yy = np.broadcast_to(s2.axes[1][:, None], s2.d_out.shape)
    ramp2 = s2.__class__(**{**s2.__dict__, "d_out": yy.copy()})
    u2, inside2 = moves.uphill(ramp2, np.array([[0.3, -0.2]]))
    assert inside2[0] and np.allclose(u2[0], [0.0, 1.0])


def test_the_scheduler_steps_one_player_of_a_paused_run():
    sched = Scheduler(threads=False)
    try:
        run = sched.create(RunConfig(**SMALL))
        sched.step_once(run)
        before = run.latest()
        g0 = params(run.trainer.stack.G)
        assert sched.step_once(run, "d") == 1 and run.state == PAUSED
        after = run.latest()
        assert after is not before and after.step == 1
        assert not np.array_equal(after.d_out, before.d_out)
        assert torch.equal(params(run.trainer.stack.G), g0)
        sched.step_once(run, "g")
        assert run.trainer.lone_moves == {"d": 1, "g": 1}
        comparison = sched.create_comparison([RunConfig(**SMALL)] * 2)
        with pytest.raises(ConfigError, match="player"):
            sched.step_once(comparison, "d")
    finally:
        sched.shutdown()


def test_locale_keys_exist_in_both_languages():
    import ui  # noqa: F401  (registers the pages' locale root: the button labels live there)

    for key in ("moves.js.same", "moves.js.change", "moves.d.toward", "moves.d.away",
                "moves.d.no_star", "moves.g", "ui.controls.step_d", "ui.controls.step_g",
                "moves.ghost.p_g", "moves.ghost.d", "moves.ghost.fakes", "moves.caption"):
        assert t(key, "en") != key and t(key, "zh") != t(key, "en"), key


@pytest.mark.parametrize("kw", [dict(), dict(target="ring8")], ids=["1d", "2d"])
def test_the_frame_figure_draws_the_previous_frame_faintly_behind(kw):
    from gandemo.figures import GHOST_OPACITY, frame_panel

    tr = trained(**kw)
    before = tr.snapshot()
    tr.step_g()
    after = tr.snapshot()
    args = dict(d_label="D(x)", d_range=(0.0, 1.0), bounds=tr.target.bounds)
    plain = frame_panel(after, **args)
    ghost = frame_panel(after, previous=before, **args)
    extra = [tr for tr in ghost.data if tr.legendgroup == "before"]
    assert len(ghost.data) == len(plain.data) + len(extra) and extra
    assert all(tr.opacity == GHOST_OPACITY for tr in extra)
    if before.dim == 1:  # p_g and D of the frame before, drawn first (behind)
        assert ghost.data[0].legendgroup == "before" and len(extra) == 2
        assert np.allclose(extra[0].y, before.p_g[:: len(before.p_g) // len(extra[0].y)])
    else:  # the samples before, above the heatmap
        assert ghost.data[0].type == "heatmap" and ghost.data[1].legendgroup == "before"
        assert np.allclose(np.sort(extra[0].x), np.sort(before.fake[:, 0]))


def test_step_d_and_step_g_on_the_train_page_say_what_happened():
    from conftest import stop_all_runs
    from streamlit.testing.v1 import AppTest

    from gandemo.runner import get_scheduler

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                           default_timeout=30)
    try:
        at.run()
        assert not at.exception

        def press(key: str):
            at.session_state["_control_clicks"] = {}  # a deliberate click, not a duplicate
            at.button(key=key).click().run()
            assert not at.exception, [e.message for e in at.exception]
            return [i.value for i in at.info]

        press("step")
        run = get_scheduler().get(at.session_state["run_id"])
        infos = press("step_d")
        said = [v for v in infos if v.startswith("D step:")]
        assert said and run.step == 1 and run.lone_moves == {"d": 1, "g": 0}
        gap0, gap1 = at.session_state["_last_move"]["summary"].d_gap
        assert moves._pair(gap0, gap1)[1] in said[0]
        infos = press("step_g")
        assert any(v.startswith("G step:") for v in infos)
        assert run.step == 1 and run.lone_moves == {"d": 1, "g": 1}
        press("step")  # a full iteration: the sentence is gone with the lone move's frame
        assert run.step == 2 and not any("step:" in v for v in [i.value for i in at.info])
    finally:
        stop_all_runs()
