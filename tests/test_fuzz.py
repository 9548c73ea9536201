"""Property-based fuzzing of every config parser: URL strings, JSON values, CLI flags.

Whatever comes in, the answer is a valid RunConfig or ConfigError(s) naming the setting (and
its range) — never another exception; valid configs survive the JSON and URL round trips.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gandemo import cli
from gandemo.config import (
    ConfigError,
    RunConfig,
    field_specs,
    from_dict,
    from_json,
    from_query,
    parse_json,
    parse_settings,
    show_name,
    to_json,
    to_query,
)

SPECS = field_specs()
NAMES = st.sampled_from(list(SPECS))
FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# Text a person or a hostile link could send: anything, plus the edge cases written out.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from([
        "9" * 400, "-" + "9" * 400, "1e309", "-1e309", "1e400", "1e-400", "nan", "NaN", "inf",
        "-Infinity", "0x10", "1_000", "٣", "１２", "", " ", "+", ".", "1e", "5" * 5000,
        "**bold** [link](http://evil.example)", "<script>alert(1)</script>", "\u202e1", "\x00",
        "true", "False", "1", "0", "-0", "0.5", "2147483647", "2147483648", " 300 ", "1e3",
    ]),
    st.integers().map(str),
    st.floats().map(repr),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**500, max_value=10**500)
    | st.floats() | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=3),
    max_leaves=8,
)


def _one_line(err: ConfigError) -> None:
    text = str(err)
    assert "\n" not in text and "\r" not in text
    for e in err.errors:
        assert len(str(e)) < 1000, str(e)[:200]


def _names_range(err: ConfigError, name: str) -> None:
    """The single error names ``name`` and, for a numeric field, prints its range."""
    assert err.name == name and str(err).startswith(f"{name}:")
    spec = SPECS[name]
    if spec["lo"] is not None:
        lo, hi = ((str(spec["lo"]), str(spec["hi"])) if isinstance(spec["default"], int)
                  else (f"{spec['lo']:g}", f"{spec['hi']:g}"))
        assert f"[{lo}, {hi}]" in str(err), str(err)
    elif spec["choices"]:
        assert all(c in str(err) for c in spec["choices"])


@FUZZ
@given(name=NAMES, text=HOSTILE_TEXT)
def test_any_url_text_for_any_setting_is_a_value_or_an_error_naming_it(name, text):
    try:
        cfg = from_query({name: text, "run": text, "lang": text})
    except ConfigError as err:
        _one_line(err)
        assert len(err.errors) == 1
        _names_range(err, name)
    else:
        assert isinstance(cfg, RunConfig)
        assert from_query(to_query(cfg)) == cfg


@FUZZ
@given(name=NAMES, value=JSON_VALUES)
def test_any_json_value_for_any_setting_is_a_value_or_an_error_naming_it(name, value):
    try:
        text = json.dumps({name: value})
    except ValueError:  # an integer Python itself will not print
        return
    try:
        cfg = from_json(text)
    except ConfigError as err:
        _one_line(err)
        assert err.name in (name, "config")
        if err.name == name:
            _names_range(err, name)
    else:
        assert isinstance(cfg, RunConfig)
        assert from_json(to_json(cfg)) == cfg


@FUZZ
@given(data=st.dictionaries(NAMES | st.text(max_size=8), HOSTILE_TEXT | JSON_VALUES,
                            max_size=12))
def test_whole_mappings_report_every_invalid_setting_and_keep_the_valid_ones(data):
    cfg, errors = parse_settings(data)
    named = [e.name for e in errors]
    assert len(named) == len(set(named))  # one error per setting
    for key, value in data.items():
        if key not in SPECS:
            assert show_name(key) in named or "config" in named  # unknown: named (or counted)
            continue
        if key in named:
            assert getattr(cfg, key) == getattr(RunConfig(), key)  # invalid: the default
            continue
        one, alone = parse_settings({key: value})  # valid: kept exactly as read alone
        assert not alone and getattr(cfg, key) == getattr(one, key)
    if errors:
        with pytest.raises(ConfigError) as raised:
            from_dict(data)
        assert [e.name for e in raised.value.errors] == named
        _one_line(raised.value)
    else:
        assert from_dict(data) == cfg


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=50).map(lambda b: b.decode("latin-1")))
def test_any_upload_text_is_a_config_or_errors(text):
    cfg, errors = parse_json(text)
    assert isinstance(cfg, RunConfig)
    for err in errors:
        _one_line(err)


@FUZZ
@given(items=st.lists(st.tuples(NAMES | st.text(max_size=6), HOSTILE_TEXT), max_size=6),
       flags=st.dictionaries(st.sampled_from(["--steps", "--seed", "--batch", "--width",
                                              "--depth", "--lr-g", "--lr-d", "--d-steps",
                                              "--target", "--loss"]),
                             HOSTILE_TEXT.filter(lambda s: not s.startswith("-")), max_size=4))
def test_cli_flags_give_a_config_or_config_errors(items, flags):
    argv = ["train", "--out", "x"]
    for flag, value in flags.items():
        argv += [flag, value]
    for key, value in items:
        argv += ["--set", f"{key}={value}"]
    try:
        args = cli.build_parser().parse_args(argv)
    except cli.UsageError:
        return
    try:
        cfg = cli._settings(args)
    except ConfigError as err:
        _one_line(err)
        given_names = {show_name(k.strip()) for k, _ in items} | {
            "g_width", "d_width", "g_depth", "d_depth", "lr_g", "lr_d", "d_steps", "steps",
            "seed", "batch", "target", "loss", "set", "config"}
        assert {e.name for e in err.errors} <= given_names
    else:
        assert isinstance(cfg, RunConfig)


def _value(name: str, spec: dict):
    if spec["choices"]:
        return st.sampled_from(list(spec["choices"]))
    if isinstance(spec["default"], bool):
        return st.booleans()
    if isinstance(spec["default"], int):
        return st.integers(spec["lo"], spec["hi"])
    number = st.floats(spec["lo"], spec["hi"], allow_nan=False, allow_infinity=False)
    return st.none() | number if spec["optional"] else number


VALID_CONFIGS = st.fixed_dictionaries(
    {}, optional={n: _value(n, s) for n, s in SPECS.items()}).map(lambda d: RunConfig(**d))


@FUZZ
@given(cfg=VALID_CONFIGS)
def test_valid_configs_round_trip_through_json_and_url(cfg):
    assert from_json(to_json(cfg)) == cfg
    query = to_query(cfg)
    assert from_query(query) == cfg
    assert all(isinstance(v, str) for v in query.values())
    cfg2, errors = parse_settings(query, ignore_unknown=True)
    assert not errors and cfg2 == cfg


def test_the_reported_cases_answer_with_the_range():
    """Issue 10 problem 2 and 4 at the parser: 400 digits, 1e309, 1e400; integer ranges."""
    for params in ({"seed": "9" * 400}, {"steps": "1e309"}, {"seed": "1e400"}):
        with pytest.raises(ConfigError) as err:
            from_query(params)
        assert "[0, 2147483647]" in str(err.value) or "[1, 200000]" in str(err.value)
    assert not math.isnan(from_query({"lr_g": "0.5"}).lr_g)
