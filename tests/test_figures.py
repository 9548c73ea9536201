"""Figure builders: trace structure, fixed ranges, log axes, languages (synthetic data only)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gandemo import figures as F
from gandemo.snapshot import SCALAR_COLUMNS, History, Snapshot

BOUNDS_1D = ((-5.0, 5.0),)
BOUNDS_2D = ((-3.0, 3.0), (-3.0, 3.0))
CJK = re.compile(r"[\u4e00-\u9fff]")


def _normal(x, mu, sd):
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def make_snapshot_1d(step=120, seed=0, shift=0.0, d_star=True) -> Snapshot:
    """Bimodal target, generator stuck between the modes, a sigmoid-ish D."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-5, 5, 801)
    p_r = 0.5 * _normal(x, -2, 0.5) + 0.5 * _normal(x, 2, 0.5)
    p_g = _normal(x, 0.8 + shift, 0.9)
    ds = p_r / (p_r + p_g + 1e-12)
    fake = rng.normal(0.8 + shift, 0.9, (500, 1))
    return Snapshot(
        step=step, dim=1, axes=(x,), p_r=p_r, p_g=p_g, d_out=0.15 + 0.7 * ds,
        d_star=ds if d_star else None, real=rng.normal(2, 0.5, (500, 1)), fake=fake,
        fake_push=np.sign(2 - fake), metrics={},
    )


def make_snapshot_2d(step=300, seed=0, spread=0.3) -> Snapshot:
    """Ring of 8 Gaussians, fakes clumped near two modes, D high near the ring."""
    rng = np.random.default_rng(seed)
    gx = np.linspace(-3, 3, 80)
    gy = np.linspace(-3, 3, 70)
    xx, yy = np.meshgrid(gx, gy)  # shape (ny, nx)
    ang = np.arange(8) * np.pi / 4
    centres = 2 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    dist = np.min(np.hypot(xx[..., None] - centres[:, 0], yy[..., None] - centres[:, 1]), axis=-1)
    p_r = np.exp(-0.5 * (dist / 0.2) ** 2)
    real = centres[rng.integers(0, 8, 400)] + rng.normal(0, 0.05, (400, 2))
    fake = centres[rng.integers(0, 2, 300)] * 0.8 + rng.normal(0, spread, (300, 2))
    return Snapshot(
        step=step, dim=2, axes=(gx, gy), p_r=p_r, p_g=np.exp(-0.5 * (xx**2 + yy**2)),
        d_out=1 / (1 + np.exp(4 * (dist - 0.6))), d_star=None, real=real, fake=fake,
        fake_push=centres[rng.integers(0, 8, 300)] - fake, metrics={},
    )


def make_history(n=2000, seed=0, decay=1.0) -> dict[str, np.ndarray]:
    """A plausible run: JS falling from near ln 2, metrics measured every 10th step only."""
    rng = np.random.default_rng(seed)
    hist = History()
    for step in range(n):
        js = math.log(2) * math.exp(-decay * step / 600) + 1e-3
        measured = step % 10 == 0
        nan = float("nan")
        hist.append({
            "step": step, "d_loss": 1.2 + 0.1 * rng.normal(), "g_loss": 0.8 + 0.1 * rng.normal(),
            "g_grad_norm": 10 ** (-1 - decay * step / 1000) * (1 + 0.2 * rng.random()),
            "d_grad_norm": 0.5 + 0.1 * rng.random(), "x_grad_norm": 0.0 if step < 5 else 0.3,
            "js": js if measured else nan, "kl_rg": 3 * js if measured else nan,
            "kl_gr": 2 * js if measured else nan, "w1": 1.5 * js**0.5 if measured else nan,
            "v_opt": 2 * js - 2 * math.log(2) if measured else nan, "wall_s": step / 100,
        })
    return hist.as_arrays()


def _names(fig):
    return [tr.name for tr in fig.data]


def _by_name(fig, name):
    found = [tr for tr in fig.data if tr.name == name]
    assert found, f"no trace named {name!r} in {_names(fig)}"
    return found[0]


def _all_text(fig) -> str:
    """Every visible string of a figure: title, axis titles, annotations, legend names."""
    lay = fig.layout
    parts = [lay.title.text or ""] + [a.text or "" for a in lay.annotations]
    parts += [lay[k].title.text or "" for k in lay if k.startswith(("xaxis", "yaxis"))]
    parts += [tr.name or "" for tr in fig.data]
    return "\n".join(parts)


KW1 = {"d_label": "D(x) = σ(logit)", "d_range": (0.0, 1.0), "bounds": BOUNDS_1D}
KW2 = {"d_label": "D(x) = σ(logit)", "d_range": (0.0, 1.0), "bounds": BOUNDS_2D}


def test_density_panel_traces_axes_and_dash():
    fig = F.density_panel(make_snapshot_1d(step=42), **KW1)
    names = _names(fig)
    assert names == [F.t("fig.legend.p_r"), F.t("fig.legend.p_g"), "D(x) = σ(logit)",
                     F.t("fig.legend.d_star"), F.t("fig.legend.fakes")]
    p_r, p_g, d, d_star, rug = fig.data
    assert p_r.fill == "tozeroy" and p_r.line.color == F.COLORS["real"]
    assert p_g.line.color == F.COLORS["fake"]
    assert d.yaxis == "y2" and d_star.yaxis == "y2" and p_r.yaxis in (None, "y")
    assert d_star.line.dash == "dash" and d.line.dash == "solid"
    assert d.line.color == d_star.line.color == F.COLORS["d"]
    assert all(len(tr.x) <= F.MAX_CURVE_POINTS for tr in fig.data)
    assert 0 < len(rug.x) <= F.MAX_RUG
    assert tuple(fig.layout.xaxis.range) == BOUNDS_1D[0]
    top = 1.6 * make_snapshot_1d().p_r.max()
    assert fig.layout.yaxis.range[1] == pytest.approx(top)
    lo, hi = fig.layout.yaxis2.range  # D's fixed [0, 1] plus room for the rug and headroom
    assert lo < 0 < 1 < hi < 1.05 and fig.layout.yaxis2.tickmode == "auto"
    assert "42" in fig.layout.title.text
    assert fig.layout.template.layout.paper_bgcolor == "white"
    assert fig.layout.height == F.HEIGHTS["density"]


def test_density_panel_fixed_density_max_and_no_d_star():
    fig = F.density_panel(make_snapshot_1d(d_star=False), density_max=2.0, **KW1)
    assert F.t("fig.legend.d_star") not in _names(fig)
    assert fig.layout.yaxis.range[1] == 2.0


def test_unbounded_critic_gets_symmetric_nice_range():
    snap = make_snapshot_1d()
    wild = snap.d_out * 7.3 - 1.0
    wild[3] = 1e6  # one wild grid point must not blow the axis up
    rng = F.d_axis_range(None, wild)
    assert rng[0] == -rng[1] and 6.3 <= rng[1] <= 10
    assert F.d_axis_range((0.0, 1.0), wild) == (0.0, 1.0)
    assert F.d_axis_range(None, np.full(5, np.nan)) == (-1.0, 1.0)


def test_samples_panel_heatmap_scatter_arrows_equal_aspect():
    fig = F.samples_panel(make_snapshot_2d(), **KW2)
    heat, real, fake, arrows = fig.data
    assert heat.type == "heatmap" and heat.colorbar.title.text == "D(x) = σ(logit)"
    assert (heat.zmin, heat.zmax) == (0.0, 1.0) and heat.z.shape == (70, 80)
    assert real.marker.color == F.COLORS["real"] and fake.marker.color == F.COLORS["fake"]
    assert len(real.x) <= F.MAX_SCATTER and len(fake.x) <= F.MAX_SCATTER
    # arrows: one trace of (start, tip, gap) triples, arrowheads only at the tips
    assert arrows.name == F.t("fig.legend.push") and arrows.mode == "lines+markers"
    xs = np.asarray(arrows.x, dtype=float)
    assert len(xs) % 3 == 0 and np.isnan(xs[2::3]).all() and len(xs) // 3 <= F.MAX_ARROWS
    assert list(arrows.marker.size[:3]) == [0, 8, 0] and arrows.marker.symbol == "arrow"
    lengths = np.hypot(xs[1::3] - xs[::3], np.asarray(arrows.y, float)[1::3] - arrows.y[::3])
    assert lengths.max() <= F.ARROW_FRACTION * 6.0 + 1e-9 and lengths.max() > 0.1
    assert tuple(fig.layout.xaxis.range) == BOUNDS_2D[0]
    assert tuple(fig.layout.yaxis.range) == BOUNDS_2D[1]
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1


def test_samples_panel_zero_push_draws_no_arrows():
    snap = make_snapshot_2d()
    snap = Snapshot(**{**snap.__dict__, "fake_push": np.zeros_like(snap.fake)})
    arrows = F.samples_panel(snap, **KW2).data[3]
    xs = np.asarray(arrows.x, dtype=float)
    np.testing.assert_allclose(xs[1::3], xs[::3])  # zero-length: nothing visible, no crash


def test_live_detail_draws_fewer_plainer_marks_and_says_how_many():
    snap = make_snapshot_2d()  # 400 reals, 300 fakes
    full = F.samples_panel(snap, **KW2)
    live = F.samples_panel(snap, detail=F.LIVE, **KW2)
    assert F.samples_panel(snap, detail=F.FULL, **KW2) == full  # FULL is the default look
    heat, real, fake, arrows = live.data
    assert full.data[0].zsmooth == "best" and heat.zsmooth == F.LIVE.smooth == "fast"
    np.testing.assert_array_equal(heat.z, full.data[0].z)  # the same D, drawn more cheaply
    assert len(real.x) <= F.LIVE.reals < len(full.data[1].x)
    assert len(fake.x) <= F.LIVE.fakes < len(full.data[2].x)
    assert len(arrows.x) // 3 <= F.LIVE.arrows < len(full.data[3].x) // 3
    assert full.data[1].marker.line.width == 0.6 and real.marker.line.width is None
    # every drawn sample is one of the snapshot's: a thinning, not a resampling
    assert set(map(tuple, np.c_[fake.x, fake.y])) <= set(map(tuple, snap.fake))
    assert full.data[1].name == "real samples"
    assert real.name == f"real samples ({len(real.x)} of 400 drawn)"
    assert fake.name == f"generated samples ({len(fake.x)} of 300 drawn)"
    zh = F.samples_panel(snap, detail=F.LIVE, lang="zh", **KW2)
    assert f"{len(zh.data[2].x)}/300" in zh.data[2].name and CJK.search(zh.data[2].name)


def test_tile_detail_thins_1d_curves_and_rug_only():
    snap = make_snapshot_1d()  # 801 grid points, 500 fakes
    full = F.density_panel(snap, **KW1)
    tile = F.frame_panel(snap, detail=F.TILE, density_max=None, **KW1)
    assert [tr.name for tr in tile.data[:4]] == [tr.name for tr in full.data[:4]]
    for thin, whole in zip(tile.data[:4], full.data[:4], strict=True):
        assert len(thin.x) <= F.TILE.curve < len(whole.x)
        assert thin.x[0] == whole.x[0] and set(thin.y) <= set(whole.y)
    rug = tile.data[-1]
    assert len(rug.x) <= F.TILE.rug
    assert rug.name == f"generated samples ({len(rug.x)} of 500 drawn)"
    assert full.data[-1].name == "generated samples" and len(full.data[-1].x) == F.MAX_RUG - 25
    assert F.frame_panel(snap, detail=F.LIVE, density_max=None, **KW1) == full  # 1D live: all


@pytest.mark.parametrize("make", [make_snapshot_1d, make_snapshot_2d])
def test_panels_survive_an_empty_or_broken_frame(make):
    snap = make()
    empty = np.zeros((0, snap.dim))
    broken = Snapshot(**{**snap.__dict__, "real": empty, "fake": empty, "fake_push": empty,
                         "p_r": np.full_like(snap.p_r, np.nan),
                         "d_out": np.full_like(snap.d_out, np.inf)})
    kw = KW1 if snap.dim == 1 else KW2
    fig = F.frame_panel(broken, **{**kw, "d_range": None})
    assert len(fig.data) >= 4


def test_frame_panel_dispatches_on_dim():
    f1 = F.frame_panel(make_snapshot_1d(), density_max=None, **KW1)
    f2 = F.frame_panel(make_snapshot_2d(), density_max=3.0, **KW2)
    assert f1.data[0].type == "scatter" and f2.data[0].type == "heatmap"


def test_loss_and_grad_curves():
    hist = make_history()
    loss = F.loss_curves(hist)
    assert _names(loss) == [F.t("fig.loss.d"), F.t("fig.loss.g")]
    assert all(0 < len(tr.x) <= F.MAX_CURVE_POINTS for tr in loss.data)
    assert loss.data[0].x[-1] == hist["step"][-1]  # the newest point is never thinned away
    grad = F.grad_norm_curves(hist)
    assert grad.layout.yaxis.type == "log" and len(grad.data) == 3
    x_grad = _by_name(grad, F.t("fig.grad.x"))
    assert min(x_grad.y) > 0 and len(x_grad.x) == min(F.MAX_CURVE_POINTS, 1995)


def test_divergence_curves_ln2_line_and_v_opt_overlap():
    hist = make_history()
    fig = F.divergence_curves(hist)
    ln2 = _by_name(fig, F.t("fig.div.ln2"))
    assert ln2.y == (pytest.approx(0.6931, abs=1e-4),) * 2 and ln2.line.dash == "dash"
    assert fig.layout.yaxis.type == "log"
    js = _by_name(fig, F.t("fig.div.js"))
    assert len(js.x) == 200  # NaN (unmeasured) steps are dropped, not drawn as gaps
    v_opt = _by_name(fig, F.t("fig.div.v_opt"))
    v_js = _by_name(fig, F.t("fig.div.v_js"))
    assert v_opt.mode == "markers" and v_js.mode == "lines" and v_opt.xaxis == "x2"
    np.testing.assert_allclose(v_opt.y, v_js.y, atol=1e-9)
    assert {"KL(p_r‖p_g)", "KL(p_g‖p_r)"} <= set(_names(fig))


def test_curves_survive_empty_history():
    empty = History().as_arrays()
    for build in (F.loss_curves, F.grad_norm_curves, F.divergence_curves):
        fig = build(empty)
        assert all(len(tr.x) in (0, 2) for tr in fig.data)


@pytest.mark.parametrize("dim", [1, 2])
def test_comparison_grid_panels_curves_caption(dim):
    variants = ["minimax", "nonsaturating", "wgan-gp", "hinge"]
    make = make_snapshot_1d if dim == 1 else make_snapshot_2d
    frames = [(v, make(step=1000, seed=i)) for i, v in enumerate(variants)]
    hists = {v: make_history(seed=i, decay=0.5 + i) for i, v in enumerate(variants)}
    labels = {v: "critic f(x)" if v == "wgan-gp" else "D(x) = σ(logit)" for v in variants}
    ranges = {v: None if v == "wgan-gp" else (0.0, 1.0) for v in variants}
    caption = "target: bimodal · seed 0 · 1000 steps\nminimax: k=1 · wgan-gp: λ=10"
    bounds = BOUNDS_1D if dim == 1 else BOUNDS_2D
    fig = F.comparison_grid(frames, hists, d_labels=labels, d_ranges=ranges, bounds=bounds,
                            caption=caption, lang="en")
    titles = [a.text for a in fig.layout.annotations]
    for i, v in enumerate(variants):
        assert titles[i].startswith(f"<b>{v} · step 1000")
        assert fig.layout.annotations[i].font.color == F.variant_text_color(i)
    assert "target: bimodal · seed 0 · 1000 steps<br>minimax: k=1" in titles[-1]
    assert fig.layout.height >= F.PANEL_ROW_PX * 2
    # one heatmap / D curve per variant, every panel on the same fixed axes
    if dim == 2:
        assert sum(tr.type == "heatmap" for tr in fig.data) == 4
        assert "critic f(x) ∈ [" in titles[2]
    else:
        assert sum(tr.name == "D(x) = σ(logit)" for tr in fig.data) == 3
        assert "right axis: critic f(x)" in titles[2]
    panel_axes = {tr.xaxis for tr in fig.data if tr.type == "heatmap" or tr.fill == "tozeroy"}
    assert len(panel_axes) == 4
    for ax in panel_axes:
        assert tuple(fig.layout["xaxis" + ax[1:]].range) == bounds[0]
    # bottom row: JS, W1, ‖∇θ_G‖ (log) for each variant, same colour everywhere
    for i, v in enumerate(variants):
        curves = [tr for tr in fig.data if tr.name == v]
        assert len(curves) == 3 and {tr.line.color for tr in curves} == {F.VARIANT_COLORS[i]}
        assert sum(bool(tr.showlegend) for tr in curves) == 1
    grad_axis = [tr for tr in fig.data if tr.name == variants[0]][2].yaxis
    assert fig.layout["yaxis" + grad_axis[1:]].type == "log"


def test_comparison_grid_five_variants_wraps_to_two_rows():
    frames = [(f"v{i}", make_snapshot_1d(seed=i)) for i in range(5)]
    fig = F.comparison_grid(frames, {}, d_labels={}, d_ranges={}, bounds=BOUNDS_1D,
                            caption="c", lang="en")
    assert fig.layout.height >= F.PANEL_ROW_PX * 3
    assert sum(tr.fill == "tozeroy" for tr in fig.data) == 10  # p_r and p_g per variant


@pytest.mark.parametrize("build", ["density", "samples", "loss", "grad", "div", "grid"])
def test_titles_follow_language(build):
    snap1, snap2, hist = make_snapshot_1d(), make_snapshot_2d(), make_history(n=50)
    makers = {
        "density": lambda lang: F.density_panel(snap1, lang=lang, **KW1),
        "samples": lambda lang: F.samples_panel(snap2, lang=lang, **KW2),
        "loss": lambda lang: F.loss_curves(hist, lang),
        "grad": lambda lang: F.grad_norm_curves(hist, lang),
        "div": lambda lang: F.divergence_curves(hist, lang),
        "grid": lambda lang: F.comparison_grid(
            [("a", snap1)], {"a": hist}, d_labels={"a": "D"}, d_ranges={"a": (0, 1)},
            bounds=BOUNDS_1D, caption="seed 0", lang=lang),
    }
    en, zh = makers[build]("en"), makers[build]("zh")
    assert not CJK.search(_all_text(en))
    assert CJK.search(zh.layout.title.text) and CJK.search(_all_text(zh))
    assert len(en.data) == len(zh.data)


def test_history_arrays_match_snapshot_columns():
    assert set(make_history(n=3)) == set(SCALAR_COLUMNS)


def test_plotly_config():
    assert F.PLOTLY_CONFIG["displaylogo"] is False
    opts = F.PLOTLY_CONFIG["toImageButtonOptions"]
    assert opts == {"format": "png", "scale": 3, "filename": "gandemo"}


def test_divergence_curves_name_the_estimator_and_mark_infinite_kl():
    hist = make_history()
    kl = np.asarray(hist["kl_rg"], dtype=float).copy()
    finite_steps = np.isfinite(kl)
    kl[np.flatnonzero(finite_steps)[:3]] = np.inf
    hist = {**hist, "kl_rg": kl}
    fig = F.divergence_curves(hist, info={"bandwidth": 0.05, "w1_method": "exact OT on n = 500"})
    assert "JS (smoothed, h = 0.05)" in _names(fig)
    assert "W1 (exact OT on n = 500)" in _names(fig)
    curve = _by_name(fig, "KL(p_r‖p_g)")
    assert np.all(np.isfinite(curve.y)) and len(curve.y) == finite_steps.sum() - 3  # gaps
    marks = _by_name(fig, "KL(p_r‖p_g) = ∞")
    assert list(marks.text) == ["∞"] * 3 and len(marks.x) == 3
    assert marks.y[0] > max(v for tr in fig.data if tr.yaxis == "y" and tr.name != marks.name
                            for v in tr.y if np.isfinite(v))
    fig.to_json()  # serialises: no inf reaches plotly


# --------------------------------------------------------------------------- readability


def _peaked(snap: Snapshot, peak: float) -> Snapshot:
    """``snap`` with p_g a narrow bump of height ``peak`` at x = 2 (a collapsed generator)."""
    import dataclasses

    x = snap.axes[0]
    return dataclasses.replace(snap, p_g=peak * np.exp(-0.5 * ((x - 2) / 0.2) ** 2))


def test_density_axis_holds_the_tallest_p_g_with_headroom():
    snap = make_snapshot_1d()
    base = 1.6 * snap.p_r.max()  # ≈ 0.64: p_r alone
    collapsed = _peaked(snap, 0.8)  # one mode holds all the mass: ≈ 2 × p_r's peak
    top = F.density_panel(collapsed, **KW1).layout.yaxis.range[1]
    assert top >= F.DENSITY_HEADROOM * 0.8 > base
    assert top == pytest.approx(base * F.DENSITY_GROW ** 2)  # grown in steps, not per frame
    drawn = max(max(tr.y) for tr in F.density_panel(collapsed, **KW1).data if tr.fill)
    assert drawn < top
    # a spike beyond the largest step is clipped there, not followed
    spike = F.density_top([_peaked(snap, 5.0)])
    assert spike == pytest.approx(base * F.DENSITY_GROW ** F.DENSITY_MAX_STEPS)
    assert spike < 5.0


def test_density_axis_only_grows_over_the_frames():
    snap = make_snapshot_1d()
    frames = [_peaked(snap, h) for h in (0.3, 0.75, 0.2)]
    tops, top = [], 0.0
    for frame in frames:  # what the live view does: the top drawn so far is the floor
        top = F.density_top([frame], floor=top)
        tops.append(top)
    assert tops == sorted(tops) and tops[-1] == tops[1] > tops[0]
    assert tops[-1] == pytest.approx(F.density_top(frames))  # = the max over the frames
    assert tops[-1] >= F.DENSITY_HEADROOM * 0.75


def test_comparison_grid_density_axis_holds_every_variant_p_g():
    snap = make_snapshot_1d()
    frames = [("a", snap), ("b", _peaked(snap, 0.8))]
    fig = F.comparison_grid(frames, {}, d_labels={}, d_ranges={}, bounds=BOUNDS_1D,
                            caption="c", lang="en")
    tops = {fig.layout[k].range[1] for k in fig.layout if k.startswith("yaxis")
            and fig.layout[k].range is not None and fig.layout[k].range[0] < 0
            and fig.layout[k].title.text != "D(x)"}
    assert min(tops) >= F.DENSITY_HEADROOM * 0.8


@pytest.mark.parametrize("name,width,font", [
    ("WGAN-GP (gradient penalty), k = 5", 300, 22),
    ("WGAN-GP（梯度惩罚），k = 5", 260, 22),
    ("WGAN-GP（梯度惩罚），k = 5", 300, 22),
    ("谱归一化 + hinge 损失", 150, 22),
    ("minibatch discrimination", 200, 16),
])
def test_wrap_text_fits_the_width_and_keeps_every_character(name, width, font):
    lines = F.wrap_text(name, width, font)
    assert len(lines) >= 2  # too long for one line: wrapped, not cut
    assert all(F.text_width(line, font) <= width for line in lines), lines
    assert "".join(lines).replace(" ", "") == name.replace(" ", "")
    assert not any(line[0] in "）)，," for line in lines)  # no line starts with closing marks
    assert not any(line[-1] in "（(" for line in lines)
    assert not any(line.startswith("=") or line.endswith("=") for line in lines)  # "k = 5"


def test_wrap_text_short_name_and_overlong_word():
    assert F.wrap_text("plain", 300, 22) == ["plain"]
    assert F.wrap_text("", 300, 22) == [""]
    # a word wider than the line keeps a line of its own rather than being cut
    assert F.wrap_text("a supercalifragilistic b", 100, 22) == ["a", "supercalifragilistic",
                                                                 "b"]


def test_title_block_makes_room_for_every_line():
    one, t1 = F.title_block(["plain"], 22)
    three, t3 = F.title_block(["<b>WGAN-GP (gradient</b>", "<b>penalty)</b>", "step 5"], 22)
    assert three["text"].count("<br>") == 2 and three["font"]["size"] == 22
    # a multi-line title's first baseline sits at pad.t: one line's ascent lower than a
    # one-line title's (which plotly.js shifts down by itself), so it is not cut at the top
    assert three["pad"]["t"] >= one["pad"]["t"] + 0.8 * 22
    assert t3 - t1 >= 2 * F.LINE_SPACING * 22 - 1 and t1 >= 22 + F.TITLE_PAD
    assert t3 >= three["pad"]["t"] + 2 * F.LINE_SPACING * 22  # the last line is inside


@pytest.mark.parametrize("style", [F.STYLE, F.PRESENT], ids=["normal", "present"])
def test_log_axis_titles_get_their_margin(style):
    for fig in (F.grad_norm_curves(make_history(), "zh", style=style),
                F.divergence_curves(make_history(), "zh", style=style)):
        assert fig.layout.yaxis.automargin is True and fig.layout.yaxis.title.text
