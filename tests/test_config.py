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
            assert f"{spec['lo']:g}" in str(err.value) and f"{spec['hi']:g}" in str(err.value)


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
