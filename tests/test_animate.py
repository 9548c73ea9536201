"""Animations of the replay frames: frame choice, the step label, Plotly frames + slider, the
GIF/MP4 files (type, size, frame count) and ``--animate`` on the command line."""

from __future__ import annotations

import base64
import io
import tempfile

import numpy as np
import pytest

from gandemo import animate, cli, export
from gandemo.compare import Comparison
from gandemo.config import RunConfig
from gandemo.trainer import Trainer

needs_browser = pytest.mark.skipif(export.find_browser() is None, reason="no Chromium")


def _array(value) -> np.ndarray:
    """A trace array as NumPy, also when plotly stored it as ``{"dtype", "bdata"}``."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def _record(job, steps: int, keep: int):
    rec = animate.Recorder(steps, 10, keep=keep)
    rec(job)
    while not job.done:
        job.step()
        rec(job)
    return rec


@pytest.fixture(scope="module")
def solo():
    cfg = RunConfig(steps=60, batch=64, eval_samples=400, seed=3)
    return cfg, _record(Trainer(cfg), cfg.steps, keep=120)


@pytest.fixture(scope="module")
def grid():
    cfgs = [RunConfig(steps=30, batch=64, eval_samples=400, loss=loss)
            for loss in ("nonsaturating", "wgan-gp")]
    return cfgs, _record(Comparison(cfgs), 30, keep=120)


def test_pick_spaces_evenly_and_keeps_both_ends():
    items = list(range(101))
    chosen = animate.pick(items, 11)
    assert chosen == list(range(0, 101, 10))
    assert animate.pick(items[:5], 11) == items[:5]
    assert animate.pick(items, 1) == [100]
    assert animate.pick(items, 2) == [0, 100]
    with pytest.raises(animate.AnimationError, match="frames"):
        animate.pick(items, 0)


def test_recorder_keeps_a_frame_every_log_interval_and_the_last(solo):
    _, rec = solo
    assert [s.step for s in rec.frames] == [0, 10, 20, 30, 40, 50, 60]
    thin = animate.Recorder(2000, 10, keep=100)
    assert thin.every == 20  # a multiple of log_every, ≤ keep frames


def test_solo_animation_frames_size_and_step_label(solo):
    cfg, rec = solo
    anim = animate.solo_animation(rec.frames, cfg, max_frames=4)
    assert anim.steps == [0, 20, 40, 60]
    assert len(anim.figures) == 4
    assert anim.raster_size == (animate.SOLO_WIDTH[1], anim.height)
    labels = [fig["layout"]["annotations"][-1]["text"] for fig in anim.figures]
    assert "step 0 / 60" in labels[0] and "step 60 / 60" in labels[-1]
    assert "第 60 / 60 步" in animate.solo_animation(rec.frames, cfg, lang="zh", max_frames=2
                                                   ).figures[-1]["layout"]["annotations"][-1]["text"]
    # the frames are the live view's figure: its title carries the step too
    assert "step 60" in anim.figures[-1]["layout"]["title"]["text"]


def test_html_has_one_plotly_frame_and_one_slider_step_per_frame(solo):
    cfg, rec = solo
    anim = animate.solo_animation(rec.frames, cfg, max_frames=5)
    fig = animate.to_figure(anim)
    assert [f.name for f in fig.frames] == [str(s) for s in anim.steps]
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == [str(s) for s in anim.steps]
    assert [list(s.args[0]) for s in steps] == [[str(s)] for s in anim.steps]
    # the densities change between frames, so every frame carries p_g; the corner label moves
    assert all(len(f.data) == len(fig.data) for f in fig.frames)
    assert "step 60 / 60" in fig.frames[-1].layout.annotations[-1].text
    assert {b.label.split()[-1] for b in fig.layout.updatemenus[0].buttons} == {"Play", "Pause"}
    html = animate.to_html(anim)
    assert html.count('"name":"') >= len(anim.steps) and '"sliders"' in html
    assert "Plotly.addFrames" in html or '"frames"' in html


def test_grid_animation_cuts_the_curves_at_each_frame(grid):
    cfgs, rec = grid
    hist = {lb: tr.history.as_arrays() for lb, tr in zip(rec._job.labels, rec._job.trainers)}
    anim = animate.grid_animation(rec.frames, hist, cfgs, max_frames=3)
    assert anim.steps in ([0, 10, 30], [0, 20, 30])
    assert anim.raster_size == (1200, round(anim.height * animate.GRID_SCALE / 2) * 2)
    for spec, step in zip(anim.figures, anim.steps):
        xs = [float(np.max(_array(tr["x"]))) for tr in spec["data"]
              if str(tr.get("legendgroup", "")).startswith("variant-") and len(_array(tr["x"]))]
        assert len(xs) == (0 if step == 0 else 3 * len(cfgs))  # JS, W1, ‖∇G‖ per variant
        assert all(x <= step for x in xs) and (step == 0 or max(xs) == step)


def test_bad_formats_are_named_with_the_allowed_values():
    assert animate.parse_formats("GIF, html,gif") == ("gif", "html")
    for bad in ("webm", "", "gif,avi"):
        with pytest.raises(animate.AnimationError, match=r"--animate: .*gif,mp4,html"):
            animate.parse_formats(bad)


def test_cli_rejects_a_bad_animate_value(tmp_path, capsys):
    code = cli.main(["train", "--steps", "10", "--out", str(tmp_path / "r"),
                     "--animate", "gif,webm"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "--animate" in err[0] and "gif,mp4,html" in err[0]
    assert not (tmp_path / "r").exists()  # refused before training


@pytest.mark.slow
@needs_browser
def test_gif_and_mp4_have_the_frames_the_size_and_the_magic_bytes(solo):
    import imageio_ffmpeg
    from PIL import Image

    cfg, rec = solo
    anim = animate.solo_animation(rec.frames, cfg, max_frames=4)
    frames = animate.render_frames(anim)
    assert len(frames) == 4 and frames[0].shape == (anim.height, animate.SOLO_WIDTH[1], 3)
    assert not np.array_equal(frames[0], frames[-1])  # the run moved
    gif = animate.gif_bytes(anim, frames)
    assert gif[:6] == b"GIF89a"
    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames == 4 and im.size == anim.raster_size
    mp4 = animate.mp4_bytes(anim, frames)
    assert mp4[4:8] == b"ftyp"
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(mp4)
        f.flush()
        n, _ = imageio_ffmpeg.count_frames_and_secs(f.name)
    assert n == 4 + int(np.ceil(animate.HOLD_LAST_S * anim.fps)) - 1


@pytest.mark.slow
@needs_browser
def test_cli_writes_the_animation_files(tmp_path, capsys):
    out = tmp_path / "r"
    code = cli.main(["train", "--steps", "40", "--batch", "64", "--out", str(out),
                     "--set", "eval_samples=400", "--animate", "gif,mp4,html"])
    assert code == 0, capsys.readouterr().err
    assert (out / "animation.gif").read_bytes()[:6] == b"GIF89a"
    assert (out / "animation.mp4").read_bytes()[4:8] == b"ftyp"
    html = (out / "animation.html").read_text(encoding="utf-8")
    assert '"sliders"' in html and "step 40 \\u002f 40" in html  # plotly escapes "/"


@pytest.mark.slow
def test_train_page_builds_the_html_animation_on_click():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import stop_all_runs
    from tests.test_app import APP, click

    at = AppTest.from_file(APP, default_timeout=60)
    try:
        at.run()
        click(at, "step")
        click(at, "step")  # a paused run with replay frames at steps 0, 1, 2
        assert at.button(key="anim_train_html") is not None
        assert "anim_dl_train_html" not in {w.key for w in at.get("download_button")}
        at.button(key="anim_train_html").click().run()  # built on click, not before
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert "anim_dl_train_html" in {w.key for w in at.get("download_button")}
    finally:
        stop_all_runs()
