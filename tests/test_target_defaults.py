"""Per-target starting settings (``Target.defaults``): valid, applied by the CLI and by the Train
page when a target is picked, carried by the URL / JSON, and (slow) converging on ring8."""

from __future__ import annotations

import pytest
import torch

from gandemo import cli
from gandemo.config import (
    RunConfig,
    from_dict,
    from_json,
    from_query,
    target_defaults,
    to_json,
    to_query,
    with_target_defaults,
)
from gandemo.metrics import mode_stats
from gandemo.nets import sample_noise
from gandemo.targets import TARGETS, custom_target
from gandemo.trainer import Trainer


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_target_default_is_a_valid_setting_that_differs_from_runconfig(name):
    defaults = target_defaults(name)
    cfg = RunConfig(target=name, **defaults)  # raises ConfigError for an invalid value
    base = RunConfig()
    for key, value in defaults.items():
        assert getattr(cfg, key) == value
        assert value != getattr(base, key), f"{name}: {key} repeats RunConfig's default"


def test_the_two_slow_2d_targets_have_defaults_and_the_registry_entry_is_read_only():
    assert target_defaults("ring8") and target_defaults("grid25")
    assert target_defaults("gaussian") == {}
    with pytest.raises(TypeError):
        TARGETS["ring8"].defaults["lr_d"] = 1.0  # type: ignore[index]


def test_given_settings_win_and_custom_or_unknown_targets_have_none():
    ring8 = target_defaults("ring8")
    key = next(iter(ring8))
    assert with_target_defaults({"target": "ring8"}) == {"target": "ring8", **ring8}
    assert with_target_defaults({"target": "ring8", key: "0.01"})[key] == "0.01"
    assert with_target_defaults({"steps": 10}) == {"steps": 10}
    assert target_defaults(custom_target([[0.0, 1.0], [2.0, 3.0]]).name) == {}
    assert target_defaults("no-such-target") == {} and target_defaults(None) == {}


def _cli_config(*argv: str) -> RunConfig:
    return cli._settings(cli.build_parser().parse_args(["train", "--out", "x", *argv]))


def test_cli_applies_a_targets_defaults_only_where_no_setting_is_given():
    grid = target_defaults("grid25")
    cfg = _cli_config("--target", "grid25")
    assert all(getattr(cfg, k) == v for k, v in grid.items())
    assert _cli_config("--target", "grid25", "--batch", "64").batch == 64
    assert _cli_config("--target", "grid25", "--set", "steps=300").steps == 300
    assert _cli_config("--target", "grid25", "--width", "32").g_width == 32
    assert _cli_config("--target", "bimodal") == RunConfig(target="bimodal")
    # a preset is a complete config: the target's defaults do not overwrite it
    assert _cli_config("--preset", "d-strength").lr_d == RunConfig().lr_d


def test_url_and_json_round_trip_a_config_with_target_defaults():
    cfg = from_dict(with_target_defaults({"target": "ring8", "seed": 2}))
    query = to_query(cfg)
    assert set(target_defaults("ring8")) <= set(query)  # the link spells them out
    assert from_query(query) == cfg
    assert from_json(to_json(cfg)) == cfg
    # a link without them means RunConfig's defaults, as it always did
    assert from_query({"target": "ring8"}) == RunConfig(target="ring8")


def test_train_page_applies_the_defaults_when_the_target_is_picked_and_keeps_user_changes(at):
    at.run()
    at.number_input(key="batch").set_value(128).run()  # the user's own batch size
    at.selectbox(key="target").set_value("grid25").run()
    grid = target_defaults("grid25")
    for key, value in grid.items():
        if key != "batch":
            assert at.number_input(key=key).value == value, key
    assert at.number_input(key="batch").value == 128  # a changed setting stays
    assert any("grid25" in m.value for m in at.info)  # the page says what it set
    at.selectbox(key="target").set_value("bimodal").run()  # back to RunConfig's defaults
    base = RunConfig()
    for key in (k for k in grid if k != "batch"):
        assert at.number_input(key=key).value == getattr(base, key)
    assert at.number_input(key="batch").value == 128


@pytest.mark.slow
def test_ring8_defaults_cover_all_eight_modes_by_the_end():
    cfg = from_dict(with_target_defaults({"target": "ring8", "seed": 0}))
    trainer = Trainer(cfg)
    trainer.run()
    assert trainer.diverged_at is None
    covered = trainer.history.columns["modes_covered"]
    assert covered[-1] == 8
    # and on fresh noise, not only on the fixed evaluation batch
    z = sample_noise(cfg.noise, 2000, cfg.noise_dim, torch.Generator().manual_seed(123))
    target = TARGETS["ring8"]
    stats = mode_stats(trainer.generate(z).numpy(), target.modes, target.mode_std)
    assert stats["modes_covered"] == 8
