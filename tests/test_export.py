"""Exports: PNG/SVG through kaleido + Chromium, HTML, CSV, file names, zip bundles."""

from __future__ import annotations

import io
import struct
import threading
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from gandemo import export as E
from gandemo.snapshot import SCALAR_COLUMNS, History

needs_browser = pytest.mark.skipif(
    E.find_browser() is None, reason="no Chromium/Chrome found (set BROWSER_PATH)"
)


def _probe_figure() -> go.Figure:
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[0.25, 0.75, 0.5], name="probe-trace"))
    fig.update_layout(title="probe title", width=300, height=200)
    return fig


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the PNG signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@needs_browser
@pytest.mark.browser  # kaleido drives Debian's Chromium
def test_png_has_the_requested_pixel_size():
    png = E.figure_png(_probe_figure(), width=320, height=180, scale=2)
    assert _png_size(png) == (640, 360)
    assert png.rstrip().endswith(b"IEND\xaeB`\x82")


@needs_browser
@pytest.mark.browser  # kaleido drives Debian's Chromium
def test_png_defaults_to_the_layout_size_and_survives_a_restart():
    E.shutdown()  # the next export starts a fresh browser
    assert _png_size(E.figure_png(_probe_figure(), scale=1)) == (300, 200)
    assert _png_size(E.figure_png(_probe_figure(), scale=1)) == (300, 200)


@needs_browser
@pytest.mark.browser  # kaleido drives Debian's Chromium
def test_concurrent_exports_are_serialised():
    results: list[bytes] = []

    def work():
        results.append(E.figure_png(_probe_figure(), width=200, height=100, scale=1))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert [_png_size(png) for png in results] == [(200, 100)] * 3


@pytest.mark.slow  # kaleido starts a Chromium
@needs_browser
def test_svg_is_text_with_the_title():
    svg = E.figure_svg(_probe_figure()).decode("utf-8")
    assert "<svg" in svg and "probe title" in svg


def test_missing_browser_raises_a_helpful_error(monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setattr(E, "find_browser", lambda: None)
    with pytest.raises(E.ExportError, match="install the 'chromium' package or set BROWSER_PATH"):
        E.figure_png(_probe_figure(), width=100, height=100)


def _broken_browser(monkeypatch, tmp_path):
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    E.shutdown()
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    with pytest.raises(E.ExportError, match="could not start"):  # an error, not a hang
        E.figure_png(_probe_figure(), width=100, height=100)


@pytest.mark.browser  # kaleido drives Debian's Chromium
def test_a_browser_that_cannot_start_fails_fast(monkeypatch, tmp_path):
    _broken_browser(monkeypatch, tmp_path)


@needs_browser
@pytest.mark.browser  # kaleido drives Debian's Chromium
def test_export_recovers_after_a_browser_failure(monkeypatch, tmp_path):
    real = E.find_browser()
    _broken_browser(monkeypatch, tmp_path)
    monkeypatch.setenv("BROWSER_PATH", real)
    assert _png_size(E.figure_png(_probe_figure(), scale=1)) == (300, 200)


def test_find_browser_prefers_the_environment(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/opt/custom/chrome")
    assert E.find_browser() == "/opt/custom/chrome"


def test_html_is_self_contained_and_carries_the_data():
    html = E.figure_html(_probe_figure())
    assert html.lstrip().lower().startswith("<!doctype html>") and "plotly" in html.lower()
    assert "<meta charset=\"utf-8\"" in html  # CJK titles survive
    assert "probe-trace" in html and "0.75" in html
    assert 'src="https://cdn.plot.ly' not in html  # plotly.js is inlined: works offline
    assert len(html) > 1_000_000
    assert '"displaylogo": false' in html or '"displaylogo":false' in html


def _history(n=7) -> dict[str, np.ndarray]:
    hist = History()
    for step in range(0, 10 * n, 10):
        js = 0.1 if step else float("nan")
        hist.append({"step": step, "d_loss": 1.0 + step, "g_loss": 0.5, "js": js,
                     "wall_s": step / 10})
    return hist.as_arrays()


def test_history_csv_round_trips_through_pandas():
    arrays = _history()
    text = E.history_csv(arrays, {"variant": "wgan-gp, k=5", "seed": 3})
    frame = pd.read_csv(io.StringIO(text))
    assert list(frame.columns) == ["variant", "seed", *SCALAR_COLUMNS]
    assert len(frame) == 7 and (frame["variant"] == "wgan-gp, k=5").all()
    assert frame["step"].tolist() == list(range(0, 70, 10))
    assert frame["step"].dtype.kind == "i"
    np.testing.assert_allclose(frame["d_loss"], arrays["d_loss"])
    assert np.isnan(frame["js"].iloc[0]) and frame["js"].iloc[1] == 0.1
    assert frame["kl_rg"].isna().all()


def test_history_csv_of_an_empty_history_is_just_the_header():
    text = E.history_csv(History().as_arrays())
    assert text.strip() == ",".join(SCALAR_COLUMNS)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("gandemo", "ring8", "wgan-gp", "seed 3"), "gandemo_ring8_wgan-gp_seed-3"),
        (("../../etc/passwd",), "etc-passwd"),
        (("..", "a/b\\c", "figure.png"), "a-b-c_figure.png"),
        (("损失", "...", ""), "gandemo"),
        (("run  (copy) #2",), "run-copy-2"),
    ],
)
def test_safe_filename(parts, expected):
    assert E.safe_filename(*parts) == expected


def test_safe_filename_caps_length_and_keeps_the_extension():
    name = E.safe_filename("x" * 500, "metrics.csv")
    assert len(name) <= E.MAX_NAME and name.endswith(".csv")
    assert all(c.isalnum() or c in "._-" for c in name)


def test_bundle_zip_contains_the_files_and_is_reproducible():
    files = {"metrics.csv": "step,js\n0,0.5\n", "figure.png": b"\x89PNG fake", "../evil.txt": "x"}
    blob = E.bundle_zip(files)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert sorted(zf.namelist()) == ["evil.txt", "figure.png", "metrics.csv"]
        assert zf.read("metrics.csv").decode() == files["metrics.csv"]
        assert zf.read("figure.png") == files["figure.png"]
        assert zf.testzip() is None
    assert E.bundle_zip(files) == blob


def test_bundle_zip_refuses_names_that_collide_after_cleaning():
    with pytest.raises(E.ExportError, match="a-b.txt"):
        E.bundle_zip({"a b.txt": "1", "a/b.txt": "2"})
