"""RunConfig: every field validated with a message naming it; JSON and URL round-trips."""

import json
import math

import pytest

from gandemo.config import (
    ConfigError,
    RunConfig,
    field_specs,
    from_dict,
    from_json,
    from_query,
    to_dict,
    to_json,
    to_query,
)

SPECS = field_specs()


def _bad_values(name, spec):
    if spec["choices"]:
        return ["no-such-choice", 3]
    if isinstance(spec["default"], bool):
        return ["maybe", 2]
    bad = [spec["lo"] - 1, spec["hi"] * 2 + 1, math.nan, math.inf, "abc", [1]]
    if isinstance(spec["default"], int):
        bad.append(1.5)
    return bad


@pytest.mark.parametrize("name", list(SPECS))
def test_every_field_rejects_bad_values_naming_itself(name):
    spec = SPECS[name]
    for value in _bad_values(name, spec):
        with pytest.raises(ConfigError) as err:
            from_dict({name: value})
        assert err.value.name == name
        assert str(err.value).startswith(f"{name}:")
        assert "\n" not in str(err.value)
        if spec["lo"] is not None:
            assert f"[{_bound(spec, 'lo')}, {_bound(spec, 'hi')}]" in str(err.value)


def _bound(spec, key) -> str:
    """Integer fields print their bounds as integers: '2147483647', never '2.14748e+09'."""
    return str(spec[key]) if isinstance(spec["default"], int) else f"{spec[key]:g}"


@pytest.mark.parametrize("name", list(SPECS))
def test_every_field_accepts_its_bounds(name):
    spec = SPECS[name]
    values = spec["choices"] or (
        [True, False] if isinstance(spec["default"], bool) else [spec["lo"], spec["hi"]]
    )
    for value in values:
        assert getattr(from_dict({name: value}), name) == value


def test_unknown_setting_is_refused():
    with pytest.raises(ConfigError, match="lr_gen: unknown setting"):
        from_dict({"lr_gen": 0.1})


def test_json_round_trip_keeps_every_field():
    cfg = RunConfig(target="ring8", loss="wgan-gp", lr_g=3e-4, gp_lambda=2.5, spectral_norm=True,
                    noise="uniform", steps=777)
    text = to_json(cfg)
    assert json.loads(text)["gp_lambda"] == 2.5
    assert from_json(text) == cfg
    assert from_json(to_json(RunConfig())) == RunConfig()


def test_query_round_trip_only_carries_changes():
    cfg = RunConfig(target="bimodal", d_steps=5, clip=0.02, feature_matching=True)
    q = to_query(cfg)
    assert q == {"target": "bimodal", "d_steps": "5", "clip": "0.02", "feature_matching": "true"}
    assert from_query({**q, "lang": "zh", "run": "abc"}) == cfg
    assert to_query(RunConfig()) == {}


def test_query_strings_are_validated():
    with pytest.raises(ConfigError, match=r"lr_g: cannot read 'fast': must be a number in \["):
        from_query({"lr_g": "fast"})
    with pytest.raises(ConfigError, match=r"batch: must be an integer in \[8, 4096\]"):
        from_query({"batch": "100000"})


def test_bad_json_gives_one_line():
    with pytest.raises(ConfigError, match="config: not valid JSON"):
        from_json("{not json")
    with pytest.raises(ConfigError, match="config: must be a JSON object"):
        from_json("[1, 2]")


def test_optional_fields_fall_back_to_loss_defaults():
    assert RunConfig(loss="wgan").effective_clip() == pytest.approx(0.01)
    assert RunConfig(loss="wgan", clip=0.05).effective_clip() == pytest.approx(0.05)
    assert RunConfig(loss="wgan-gp").effective_gp() > 0
    assert RunConfig(loss="nonsaturating").effective_gp() == 0
    assert to_dict(RunConfig())["clip"] is None


def test_with_validates():
    with pytest.raises(ConfigError, match="d_steps"):
        RunConfig().with_(d_steps=0)


def test_every_invalid_setting_is_reported_and_the_valid_ones_kept():
    from gandemo.config import ConfigErrors, parse_settings

    data = {"steps": "1e309", "seed": "9" * 400, "lr_g": "nan", "target": "ring8",
            "batch": "64", "spectral_norm": "maybe", "nope": 1}
    cfg, errors = parse_settings(data)
    assert [e.name for e in errors] == ["nope", "steps", "seed", "lr_g", "spectral_norm"]
    assert (cfg.target, cfg.batch, cfg.steps) == ("ring8", 64, RunConfig().steps)
    assert "[0, 2147483647]" in str(errors[2]) and "2.14748e+09" not in str(errors[2])
    with pytest.raises(ConfigErrors) as err:
        from_dict(data)
    assert [e.name for e in err.value.errors] == [e.name for e in errors]
    assert "\n" not in str(err.value) and len(str(err.value)) < 2000


def test_server_caps_narrow_the_range_in_the_message():
    from gandemo.config import parse_settings

    _, errors = parse_settings({"steps": "6000", "batch": "64"}, caps={"steps": 5000})
    assert [str(e) for e in errors] == [
        "steps: must be an integer in [1, 5000] (this server allows at most 5000); got 6000"]


def test_cross_field_checks_are_collected_in_one_place(monkeypatch):
    """CROSS_CHECKS is the single hook every input path runs (URL, upload, CLI, from_dict)."""
    from gandemo import config

    def no_hinge_with_k5(cfg):
        return [("d_steps", "k = 5 is not allowed with hinge")] if (
            cfg.loss == "hinge" and cfg.d_steps == 5) else []

    monkeypatch.setattr(config, "CROSS_CHECKS", [no_hinge_with_k5])
    cfg, errors = config.parse_settings({"loss": "hinge", "d_steps": "5", "seed": "-3"})
    assert [(e.name, e.combination) for e in errors] == [("seed", False), ("d_steps", True)]
    assert cfg.d_steps == 5  # each value is valid on its own: kept, the combination refused
    with pytest.raises(ConfigError, match="hinge"):
        RunConfig().with_(loss="hinge", d_steps=5)
    assert RunConfig().with_(loss="hinge", d_steps=4).d_steps == 4
