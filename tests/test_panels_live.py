"""The live view's panels (ui/panels.py): the live 2D frame draws ``figures.LIVE`` while the
exports draw ``figures.FULL``, and the frame chart keeps its place in the page when the
preview's target note goes away on Start (a chart that moves is remounted by the browser)."""

from __future__ import annotations

from gandemo import figures as F
from gandemo.config import RunConfig
from gandemo.trainer import Trainer
from ui import panels


def test_live_frame_is_thinned_exported_frame_is_whole():
    cfg = RunConfig(target="ring8")
    snap = Trainer(cfg).snapshot()
    whole = panels.build_figure("frame", cfg, snap, {}, "en")
    _, live = panels.live_figure("frame", cfg, snap, {}, "en")
    assert whole.data[0].zsmooth == "best" and live.data[0].zsmooth == F.LIVE.smooth
    assert [len(tr.x) for tr in whole.data[1:3]] == [len(snap.real), len(snap.fake)]
    assert [len(tr.x) for tr in live.data[1:3]] == [F.LIVE.reals, F.LIVE.fakes]
    assert live.data[2].name == F.t("fig.legend.shown", name=F.t("fig.legend.fakes"),
                                    shown=F.LIVE.fakes, n=len(snap.fake))


def _path(node, key: str, path: tuple = ()) -> tuple | None:
    """Index path of the block with container key ``key`` in an AppTest element tree."""
    for i, child in getattr(node, "children", {}).items():
        proto = getattr(child, "proto", None)
        if proto is not None and getattr(proto, "id", "").endswith(f"-{key}"):
            return (*path, i)
        found = _path(child, key, (*path, i))
        if found:
            return found
    return None


def test_ring8_frame_keeps_its_place_when_the_target_note_goes(at):
    at.query_params.update(target="ring8", steps="500")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.button(key="target_fix")  # the preview shows the note (ring8's own settings)
    before = _path(at._tree, "panel_frame")
    at.session_state["_control_clicks"] = {}  # AppTest clicks faster than the debounce allows
    at.button(key="start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not [b for b in at.button if b.key == "target_fix"]  # a run: no note
    assert before is not None and _path(at._tree, "panel_frame") == before
