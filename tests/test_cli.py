"""`python -m gandemo`: the contract in DESIGN.md (files, columns, exit codes, one-line errors)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gandemo.losses import LOSSES
from gandemo.presets import PRESETS
from gandemo.targets import TARGETS

pytestmark = pytest.mark.slow  # each test starts a Python process that imports torch

CONTRACT_COLUMNS = {"step", "d_loss", "g_loss", "g_grad_norm", "d_grad_norm", "js", "w1"}


def gandemo(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "gandemo", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_list_names_every_target_loss_and_preset():
    out = gandemo("list")
    assert out.returncode == 0
    for name in [*TARGETS, *LOSSES, *PRESETS]:
        assert f"  {name} " in out.stdout


def test_train_writes_the_contract_files(tmp_path):
    out = gandemo("train", "--target", "ring8", "--loss", "hinge", "--steps", "40", "--seed", "1",
                  "--out", str(tmp_path / "r"), "--d-steps", "2", "--width", "32",
                  "--set", "log_every=10", "--set", "spectral_norm=true")
    assert out.returncode == 0, out.stderr
    d = tmp_path / "r"
    cfg = (d / "config.json").read_text()
    assert '"d_steps": 2' in cfg and '"spectral_norm": true' in cfg and '"g_width": 32' in cfg
    metrics = pd.read_csv(d / "metrics.csv")
    assert CONTRACT_COLUMNS <= set(metrics.columns)
    assert list(metrics["step"]) == [10, 20, 30, 40]
    samples = np.load(d / "samples.npy")
    assert samples.shape[0] >= 2000 and samples.shape[1] == 2 and np.isfinite(samples).all()
    assert (d / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plotly" in (d / "figure.html").read_text()


@pytest.mark.parametrize("args,setting", [
    (["--loss", "no-such-loss"], "loss"),
    (["--steps", "-5"], "steps"),
    (["--set", "lr_g=abc"], "lr_g"),
    (["--set", "bogus=1"], "bogus"),
    (["--set", "batch=1e9"], "batch"),
    (["--target", "../../etc"], "target"),
    (["--steps", "ten"], "steps"),
])
def test_invalid_input_exits_2_with_one_line(tmp_path, args, setting):
    out = gandemo("train", "--out", str(tmp_path / "x"), *args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0]


def test_diverged_run_exits_3_and_writes_its_files(tmp_path):
    out = gandemo("train", "--target", "gaussian", "--loss", "wgan", "--steps", "300", "--out",
                  str(tmp_path / "d"), "--set", "clip=0", "--set", "lr_d=1", "--set", "lr_g=1",
                  "--set", "opt_d=sgd", "--set", "opt_g=sgd", "--set", "log_every=1")
    assert out.returncode == 3
    assert "diverged at step" in out.stderr
    metrics = pd.read_csv(tmp_path / "d" / "metrics.csv")
    assert 0 < len(metrics) < 300
    for name in ("config.json", "samples.npy", "figure.html"):
        assert (tmp_path / "d" / name).exists()


def test_compare_writes_summary_and_long_metrics(tmp_path):
    out = gandemo("compare", "--target", "bimodal", "--losses", "minimax,hinge", "--d-steps", "1,2",
                  "--steps", "30", "--seed", "0", "--out", str(tmp_path / "c"),
                  "--set", "log_every=10")
    assert out.returncode == 0, out.stderr
    summary = pd.read_csv(tmp_path / "c" / "summary.csv")
    assert list(summary["variant"]) == ["minimax (saturating) + k = 1",
                                          "minimax (saturating) + k = 2",
                                          "hinge + k = 1", "hinge + k = 2"]
    metrics = pd.read_csv(tmp_path / "c" / "metrics.csv")
    assert metrics.columns[0] == "variant" and CONTRACT_COLUMNS <= set(metrics.columns)
    assert metrics.groupby("variant").size().to_dict() == {v: 3 for v in summary["variant"]}
    assert (tmp_path / "c" / "figure.png").stat().st_size > 10_000


def test_bench_prints_the_three_figures_against_the_lean_loop_and_every_preset():
    """``bench --presets``: the Trainer, 8 stacked variants and a comparison as ratios to the lean
    loop measured in the same process, one thread; every preset's speed-up (rates are printed,
    never asserted: only that they were measured)."""
    import json

    out = gandemo("bench", "--seconds", "0.6", "--presets", "--json", timeout=400)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch_threads"] == 1 and result["compare_k"] == 8
    for key in ("train_vs_plain", "stacked_vs_plain", "compare_vs_plain", "plain_iters_per_s"):
        assert np.isfinite(result[key]) and result[key] > 0, key
    assert set(result["preset_speedups"]) == set(PRESETS)
    assert all(v > 0 for v in result["preset_speedups"].values())
    assert "8 variants stacked, training" in out.stdout and "d-strength" in out.stdout
