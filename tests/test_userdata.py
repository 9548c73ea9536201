"""Your own points: the CSV parser (fuzzed, plus a corpus of bad files), the custom target, the
config round trips, training on it, the CLI's --data and the Train page's upload box."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gandemo import cli
from gandemo.config import ConfigError, RunConfig, from_json, from_query, to_json, to_query
from gandemo.metrics import divergences
from gandemo.targets import TARGETS, find_custom, get_target, points_bandwidth
from gandemo.trainer import Trainer
from gandemo.userdata import (
    LINK_POINTS,
    MAX_ABS,
    MAX_BYTES,
    MAX_POINTS,
    from_link,
    parse_points,
    to_link,
)

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# (file, words the one-line message must contain)
BAD_FILES = {
    "empty": (b"", "no points"),
    "blank lines": (b"\n \r\n\t\n", "no points"),
    "header only": (b"x,y\n", "only a header"),
    "text": (b"hello world\nthis is not data\n", "not a number"),
    "json": (b'{\n  "x": [1, 2]\n}\n', "not a number"),
    "one line of text": (b"just some words", "only a header"),
    "nan": (b"x\n1.5\nnan\n", "not a finite number"),
    "inf": (b"1,2\n-Inf,3\n", "not a finite number"),
    "overflow": (b"1e999\n", "not a finite number"),
    "three columns": (b"1,2,3\n4,5,6\n", "1 column (1D) or 2 columns (2D)"),
    "ragged": (b"1,2\n3,4\n5\n", "same number of columns"),
    "empty value": (b"1,\n2,3\n", "empty value"),
    "out of range": (b"1\n5000\n", f"[-{MAX_ABS:g}, {MAX_ABS:g}]"),
    "too many rows": (b"0.5\n" * (MAX_POINTS + 1), f"more than {MAX_POINTS:,} points"),
    "megabytes of junk": (b"\x89PNG" + bytes(range(256)) * 8000, "at most"),
    "latin-1": ("1,2\n3,4 é\n".encode("latin-1"), "not a UTF-8 text file"),
    "utf-16": ("1,2\n".encode("utf-16"), "not a UTF-8 text file"),
    "nul bytes": (b"1,2\n\x003,4\n", "NUL"),
    "markdown": (b"1\n**bold** [x](http://evil.example)\n", "not a number"),
    "hex and underscores": (b"0x10\n1_000\n", "not a number"),
}


def _one_clear_error(content) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_points(content)
    text = str(err.value)
    assert err.value.name == "data" and text.startswith("data: ")
    assert "\n" not in text and len(text) < 300, text
    return err.value


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_every_bad_file_gets_one_clear_message(name):
    content, words = BAD_FILES[name]
    assert words in str(_one_clear_error(content))


def test_the_size_cap_applies_before_parsing():
    assert "bytes" in str(_one_clear_error(b"1\n" * (MAX_BYTES // 2 + 1)))
    assert "characters" in str(_one_clear_error("1\n" * (MAX_BYTES // 2 + 1)))


@pytest.mark.parametrize("text, expected", [
    ("x\n1.5\n-2\n3e-1\n", [[1.5], [-2.0], [0.3]]),
    ("x,y\r\n1,2\r\n3,4\r\n", [[1, 2], [3, 4]]),
    ("\ufeff1;2\n# a comment\n\n3;4\n", [[1, 2], [3, 4]]),
    ("1\t2\n3\t4\n", [[1, 2], [3, 4]]),
    ("  1   2\n3 4  \n", [[1, 2], [3, 4]]),
    ('"x","y"\n"1","-0"\n', [[1, 0]]),
    ("1000\n-1000\n", [[1000], [-1000]]),
])
def test_good_files_read_as_points(text, expected):
    for content in (text, text.encode("utf-8")):
        points = parse_points(content)
        assert points.dtype == np.float64 and np.array_equal(points, np.array(expected, float))


def test_the_row_cap_is_inclusive():
    assert parse_points(b"1,2\n" * MAX_POINTS).shape == (MAX_POINTS, 2)


def _is_points_or_one_error(content) -> None:
    try:
        points = parse_points(content)
    except ConfigError as err:
        assert err.name == "data" and "\n" not in str(err)
    else:
        assert points.ndim == 2 and points.shape[1] in (1, 2)
        assert 1 <= len(points) <= MAX_POINTS
        assert np.isfinite(points).all() and np.abs(points).max() <= MAX_ABS


@FUZZ
@given(content=st.binary(max_size=2000))
def test_arbitrary_bytes_are_points_or_one_clear_error(content):
    _is_points_or_one_error(content)


CELL = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(-2000, 2000).map(str),
                 st.sampled_from(["", "x", "nan", "-inf", "1e400", " ", '"1"', "٣", "1,5"]))
LINES = st.lists(st.lists(CELL, min_size=0, max_size=4).map(
    lambda cells: st.sampled_from([",", ";", "\t", " "]).map(lambda sep: sep.join(cells))),
    max_size=30).flatmap(lambda ls: st.tuples(*ls) if ls else st.just(()))


@FUZZ
@given(lines=LINES, newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_like_text_is_points_or_one_clear_error(lines, newline):
    _is_points_or_one_error(newline.join(lines))


@FUZZ
@given(points=st.lists(st.tuples(st.floats(-MAX_ABS, MAX_ABS), st.floats(-MAX_ABS, MAX_ABS)),
                       min_size=1, max_size=50), dim=st.sampled_from([1, 2]))
def test_written_points_read_back_exactly(points, dim):
    a = np.array(points)[:, :dim] + 0.0
    text = "\n".join(",".join(repr(float(v)) for v in row) for row in a)
    assert np.array_equal(parse_points("x,y\n" + text if dim == 2 else text), a)
    assert np.array_equal(from_link(to_link(a)), a)


# --------------------------------------------------------------------------- the target

RNG = np.random.default_rng(5)
POINTS_1D = np.round(RNG.normal(1.0, 0.7, (150, 1)), 3)
POINTS_2D = np.round(np.c_[np.cos(np.linspace(0, 5, 120)), np.sin(np.linspace(0, 5, 120))] * 2
                     + RNG.normal(0, 0.05, (120, 2)), 3)


@pytest.mark.parametrize("points", [POINTS_1D, POINTS_2D], ids=["1D", "2D"])
def test_the_custom_target_is_an_exact_mixture_on_the_points(points):
    cfg = RunConfig(target="custom", data=points.tolist())
    tgt = get_target(cfg.target)
    n, dim = points.shape
    assert cfg.target.startswith("custom-") and tgt.dim == dim and cfg.target not in list(TARGETS)
    assert TARGETS[cfg.target] is tgt  # indexing finds it; listing does not
    scott = points.std(axis=0, ddof=1).mean() * n ** (-1 / (dim + 4))
    dist = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)) + np.diag(np.full(n, np.inf))
    spacing = np.median(dist.min(1))
    assert tgt.std == pytest.approx(np.clip(min(scott, spacing), 0.02, 5)) == tgt.kde_bandwidth
    for d, (lo, hi) in enumerate(tgt.bounds):  # the window holds the points and 0, with margin
        assert lo <= min(points[:, d].min(), 0) - 4 * tgt.std
        assert hi >= max(points[:, d].max(), 0) + 4 * tgt.std
    axes = tgt.grid()
    p = tgt.density_on_grid(axes)
    assert p.sum() * np.prod([a[1] - a[0] for a in axes]) == pytest.approx(1.0)
    x = points[:3]  # exact density at a point: (1/n)·Σ N(x; x_i, h²·I)
    d2 = ((x[:, None, :] - points[None]) ** 2).sum(-1)
    expected = np.exp(-d2 / (2 * tgt.std**2)).mean(1) / (2 * np.pi * tgt.std**2) ** (dim / 2)
    assert np.allclose(np.exp(tgt.log_density(x)), expected)
    sample = tgt.sample(np.random.default_rng(0), 20_000)
    assert np.allclose(sample.mean(0), points.mean(0), atol=0.05)


def test_bandwidth_follows_a_drawn_curve_and_is_clipped():
    assert points_bandwidth(np.array([[1.0, 2.0]])) == 0.02
    assert points_bandwidth(np.zeros((5, 1))) == 0.02  # duplicates: the lower bound
    t = np.linspace(0, 2 * np.pi, 100, endpoint=False)  # a ring of radius 3, spacing 0.188
    ring = 3 * np.c_[np.cos(t), np.sin(t)]
    assert points_bandwidth(ring) == pytest.approx(6 * np.sin(np.pi / 100))
    wide = np.random.default_rng(0).normal(0, 1, (50, 1))  # few points: Scott's rule is smaller
    scott = wide.std(ddof=1) * 50 ** -0.2
    assert points_bandwidth(wide) <= scott
    assert RunConfig(target="custom", data=[[1.0, 2.0]]).data == ((1.0, 2.0),)


@pytest.mark.parametrize("points", [POINTS_1D, POINTS_2D], ids=["1D", "2D"])
def test_a_run_trains_on_custom_points_and_divergences_work(points):
    cfg = RunConfig(target="custom", data=points.tolist(), steps=12, batch=64, log_every=3,
                    eval_samples=500)
    tr = Trainer(cfg)
    for _ in range(cfg.steps):
        tr.step()
    rows = tr.history.as_arrays()
    assert len(rows["step"]) == 4 and np.isfinite(rows["js"]).all()
    snap = tr.snapshot()
    assert snap.p_r.shape == snap.p_g.shape
    perfect = divergences(cfg.target, tr.target.sample(np.random.default_rng(1), 4000))
    bad = divergences(cfg.target, np.full((4000, points.shape[1]), 30.0))
    assert perfect["js"] < 0.01 < bad["js"] and perfect["bandwidth"] == tr.target.std
    assert math.isfinite(perfect["w1"]) and perfect["w1"] < bad["w1"]


# --------------------------------------------------------------------------- config

def test_points_survive_the_json_and_url_round_trips():
    for points in (POINTS_1D, POINTS_2D):
        cfg = RunConfig(target="custom", data=points.tolist(), steps=300)
        assert from_json(to_json(cfg)) == cfg
        assert json.loads(to_json(cfg))["data"] == points.tolist()
        query = to_query(cfg)
        assert query["target"] == "custom" and ";" in query["data"]
        assert from_query(query) == cfg
    assert from_json(to_json(RunConfig())) == RunConfig()


def test_a_large_set_is_named_not_carried_by_the_link():
    points = np.round(np.random.default_rng(2).normal(size=(LINK_POINTS + 1, 2)), 3)
    cfg = RunConfig(target="custom", data=points.tolist())
    query = to_query(cfg)
    assert query["data"] == f"uploaded-{LINK_POINTS + 1}-{cfg.target.removeprefix('custom-')}"
    assert from_query(query) == cfg  # this server still holds it
    with pytest.raises(ConfigError, match="201 uploaded points.*upload the file again"):
        from_query({"target": "custom", "data": f"uploaded-201-{'0' * 10}"})


@pytest.mark.parametrize("settings_, name, words", [
    ({"target": "custom"}, "target", "needs its points"),
    ({"target": "ring8", "data": [[1, 2]]}, "data", "only with target=custom"),
    ({"data": [[1, 2, 3]]}, "data", "[[x, y], …]"),
    ({"data": [[1], [2, 3]]}, "data", "same number of coordinates"),
    ({"data": [[1e400]]}, "data", "finite"),
    ({"data": [True]}, "data", "list of points"),
    ({"data": [[0.5]] * (MAX_POINTS + 1)}, "data", f"at most {MAX_POINTS:,}"),
    ({"data": "1,2;x,3"}, "data", "cannot read the point"),
])
def test_bad_points_in_a_config_are_named(settings_, name, words):
    with pytest.raises(ConfigError) as err:
        from_json(json.dumps(settings_).replace("Infinity", "1e400"))
    assert err.value.name == name and words in str(err.value) and "\n" not in str(err.value)


def test_a_config_keeps_its_target_loaded():
    cfg = RunConfig(target="custom", data=[[3.25], [4.5]])
    assert find_custom(cfg.target) is get_target(cfg.target)
    assert cfg.with_(steps=10).target == cfg.target


# --------------------------------------------------------------------------- CLI

def test_cli_refuses_a_bad_file_with_exit_2_and_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"1,2,3\n")
    for argv in (["train", "--data", str(bad)], ["compare", "--data", str(bad), "--losses",
                                                   "minimax"],
                 ["train", "--data", str(tmp_path / "missing.csv")]):
        assert cli.main([*argv, "--out", str(tmp_path / "o")]) == cli.EXIT_INVALID
        err = capsys.readouterr().err
        assert err.startswith("error: data: ") and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_data_writes_a_config_that_reproduces_the_run(tmp_path):
    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n" + "\n".join(f"{x},{y}" for x, y in POINTS_2D), encoding="utf-8")
    common = ["--steps", "20", "--seed", "3", "--set", "log_every=10", "--batch", "64"]
    assert cli.main(["train", "--data", str(csv), "--out", str(tmp_path / "a"), *common]) == 0
    saved = from_json((tmp_path / "a" / "config.json").read_text(encoding="utf-8"))
    assert np.array_equal(np.array(saved.data), POINTS_2D)
    assert cli.main(["train", "--config", str(tmp_path / "a" / "config.json"), "--out",
                     str(tmp_path / "b")]) == 0
    a, b = (np.load(tmp_path / d / "samples.npy") for d in "ab")
    assert np.array_equal(a, b)
    cols = [c for c in Path(tmp_path / "a" / "metrics.csv").read_text().splitlines()[0].split(",")
            if c != "wall_s"]
    import pandas as pd

    ma, mb = (pd.read_csv(tmp_path / d / "metrics.csv")[cols] for d in "ab")
    pd.testing.assert_frame_equal(ma, mb)


# --------------------------------------------------------------------------- Train page

@pytest.fixture()
def app():
    from conftest import stop_all_runs
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                           default_timeout=30)
    yield at
    stop_all_runs()


def _upload_csv(at, content: bytes, name: str):
    uploader = next(u for u in at.get("file_uploader") if u.key == "data_upload")
    uploader.upload(name, content, "text/csv")
    at.run()
    assert not at.exception, [e.message for e in at.exception]


def test_the_train_page_takes_an_upload_and_names_a_bad_file(app):
    app.query_params["target"] = "custom"
    app.run()
    assert not app.exception and app.selectbox(key="target").value == "custom"
    assert any("needs its points" in e.value for e in app.error)  # nothing to train yet
    _upload_csv(app, b"a,b,c\n1,2,3\n", "bad.csv")
    errors = [e.value for e in app.error]
    assert len([e for e in errors if "bad.csv" in e]) == 1 and "1 column (1D)" in errors[0]
    _upload_csv(app, b"x,y\n" + b"\n".join(b"%g,%g" % tuple(p) for p in POINTS_2D), "ok.csv")
    assert not app.error and any("120 points" in s.value for s in app.success)
    link = app.query_params["data"]
    assert (link if isinstance(link, str) else link[-1]) == to_link(POINTS_2D)
    # the points travel to the worker process that trains the run (the server's default)
    from gandemo.runner import get_scheduler

    app.session_state["_control_clicks"] = {}  # AppTest clicks faster than the debounce allows
    app.button(key="step").click().run()
    assert not app.exception, [e.message for e in app.exception]
    run = get_scheduler().get(app.session_state["run_id"])
    assert run.cfg.target.startswith("custom-") and run.host.remote
    assert run.step == 1 and run.state == "paused" and run.latest().dim == 2
