"""A Plotly chart that stays mounted and is updated in place (Streamlit Components v2, no iframe).

``live_chart(fig, key=...)`` draws a figure from ``gandemo.figures`` (the one source of how a
chart looks) in the page's own DOM with the plotly.js that ships in the ``plotly`` package,
served by this server (offline; loaded once per page). Each rerun sends one message:

* **full** (a keyframe) — the figure's *skeleton* (layout and every trace attribute that is
  not a data array) plus all data arrays; sent first, when the structure changed (trace types,
  which arrays) or a delta would be nearly as large, or when the browser asks for it
  (``need``: it got a delta it cannot apply, e.g. after a reload);
* **delta** — against the last keyframe (``base`` = its ``seq``): the data arrays that differ
  from the keyframe's — of an array that only grew (a curve's history) only the new tail,
  marked ``from`` — and a small ``patch`` of other values that differ (a title's step, an axis
  range), a few kB. Streamlit hands a component only the newest data it has when the browser
  is busy, so a delta must not depend on the ones before it. An unchanged figure sends the
  previous message again (the browser that drew it does nothing).

The browser keeps the figure per key and applies every message with ``Plotly.react``, at most
once per animation frame, keeping ``layout.uirevision`` so a user's zoom survives updates; the
modebar (zoom, PNG download) is Plotly's own.

Data arrays travel as base64: float32 (7 significant digits), or for grids of ≥ GRID_CELLS cells
16-bit steps of the array's range [lo, hi] (error ≤ (hi − lo)/131070; 65535 marks NaN).

The assets (``ui/live_chart/``) and ``plotly/package_data/plotly.min.js`` are served under
``/_stcore/bidi-components/<name>/`` by registering them as manifest components with Streamlit's
component manager (an internal API of Streamlit 1.67, pinned in requirements.txt).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import plotly.graph_objects as go
import streamlit as st

from gandemo.figures import PLOTLY_CONFIG

NAME = "gandemo.live_chart"
PLOTLY_NAME = "gandemo.plotlyjs"  # serves plotly/package_data/ (plotly.min.js)
ASSETS = Path(__file__).with_name("live_chart")
GRID_CELLS = 1000  # arrays at least this long are sent as 16-bit steps
MAX_PATCH_CHARS = 4000  # larger skeleton changes send the whole figure
KEYFRAME_SHARE = 0.8  # a delta larger than this share of its keyframe: a new keyframe instead
KEYFRAME_REPEAT = 3  # after a change of structure, this many more keyframes before deltas
STATE_KEY = "_live_charts"  # st.session_state: per chart key, what was last sent

_renderer: Any = None


# --------------------------------------------------------------------------- payload (pure)


def _as_array(value: Any) -> np.ndarray | None:
    """``value`` as a float array if it is a data array — a numeric ndarray, plotly's typed-array
    spec ``{"dtype", "bdata"[, "shape"]}`` or a non-empty list of plain numbers — else None."""
    if isinstance(value, Mapping) and {"dtype", "bdata"} <= value.keys():
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return (flat.reshape(shape) if shape else flat).astype(float)
    if isinstance(value, np.ndarray):
        return value.astype(float) if value.dtype.kind in "biuf" else None
    if (isinstance(value, (list, tuple)) and value
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        return np.asarray(value, dtype=float)
    return None


def split_figure(fig: go.Figure | Mapping) -> tuple[dict, dict[str, np.ndarray]]:
    """``(skeleton, arrays)``: the figure without its trace data arrays, and those arrays keyed
    ``"<trace index>.<dotted path>"`` (e.g. ``"0.y"``, ``"3.marker.size"``)."""
    spec = fig.to_plotly_json() if isinstance(fig, go.Figure) else dict(fig)
    arrays: dict[str, np.ndarray] = {}

    def strip(node: Mapping, prefix: str) -> dict:
        out = {}
        for name, value in node.items():
            path = f"{prefix}.{name}"
            array = _as_array(value)
            if array is not None:
                arrays[path] = array
            elif isinstance(value, Mapping):
                out[name] = strip(value, path)
            else:
                out[name] = value
        return out

    data = [strip(trace, str(i)) for i, trace in enumerate(spec.get("data", []))]
    layout = spec.get("layout", {})
    if hasattr(layout, "to_plotly_json"):
        layout = layout.to_plotly_json()
    return {"data": data, "layout": _plain(layout)}, arrays


def _plain(value: Any) -> Any:
    """JSON-ready copy: plotly objects to dicts, numpy to lists/floats."""
    if hasattr(value, "to_plotly_json"):
        value = value.to_plotly_json()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode_array(values: np.ndarray) -> dict:
    """base64 float32, or 16-bit steps of [lo, hi] for grids of ≥ GRID_CELLS (see module doc)."""
    values = np.asarray(values, dtype=float)
    enc: dict[str, Any] = {}
    if values.ndim == 2:
        enc["shape"] = list(values.shape)
    flat = values.ravel()
    finite = flat[np.isfinite(flat)]
    if flat.size >= GRID_CELLS and finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        span = hi - lo if hi > lo else 1.0
        q = np.where(np.isfinite(flat), np.rint((flat - lo) / span * 65534), 65535)
        enc.update(u2=base64.b64encode(q.astype("<u2").tobytes()).decode(), lo=lo, hi=lo + span)
    else:
        enc["f4"] = base64.b64encode(flat.astype("<f4").tobytes()).decode()
    return enc


def decode_array(enc: Mapping) -> np.ndarray:
    """Inverse of ``encode_array`` (what the browser does), for tests and size checks."""
    if "f4" in enc:
        flat = np.frombuffer(base64.b64decode(enc["f4"]), dtype="<f4").astype(float)
    else:
        q = np.frombuffer(base64.b64decode(enc["u2"]), dtype="<u2")
        flat = np.where(q == 65535, np.nan, enc["lo"] + q * (enc["hi"] - enc["lo"]) / 65534)
    return flat.reshape(enc["shape"]) if "shape" in enc else flat


def _digest(text: str | bytes) -> str:
    return hashlib.blake2b(text.encode() if isinstance(text, str) else text,
                           digest_size=12).hexdigest()


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"layout.title.text": ..., "data.0.line.color": ...}``: every leaf of a skeleton (lists
    are leaves)."""
    if isinstance(node, Mapping):
        items = node.items()
    elif prefix in ("", "data") and isinstance(node, list):  # the traces
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        return {prefix: node}
    out: dict[str, Any] = {}
    for name, value in items:
        out.update(_flatten(value, f"{prefix}.{name}" if prefix else str(name)))
    return out


def next_message(fig: go.Figure | Mapping, key: str, previous: Mapping | None, *,
                 uirevision: str, config: Mapping | None = None,
                 need: str | None = None) -> tuple[dict, dict]:
    """The message for this rerun and the state to keep for the next one.

    ``previous`` is the state returned last time for ``key`` (None at first); ``need`` the
    browser's latest request for a whole figure. A *full* message (a keyframe) when there is no
    previous state, the figure's structure (``rev``: trace types, which arrays, config) changed,
    a new ``need`` arrived, or the delta would be large: its patch over MAX_PATCH_CHARS or the
    message over KEYFRAME_SHARE of the keyframe's size; after a change of structure, also the
    next KEYFRAME_REPEAT changed figures (a busy browser that skipped one keyframe gets the
    next instead of a delta it cannot apply — a ``need`` round trip, a stall). Otherwise a
    *delta* against the last keyframe (``base`` = its ``seq``): every array that differs from
    the keyframe's (an array that only grew: its tail) and a ``patch`` of the skeleton leaves
    that differ (None = removed). A browser that missed messages (Streamlit renders only the
    newest data of a component) can apply any delta on top of the keyframe it holds. Nothing
    changed since the previous message: ``same_message``."""
    skeleton, arrays = split_figure(fig)
    skeleton["layout"]["uirevision"] = uirevision
    # plotly.js 3 shows a "Share chart" (upload to Plotly Cloud) button unless told not to.
    config = dict(PLOTLY_CONFIG if config is None else config, responsive=True,
                  showSendToCloud=False)
    flat = _flatten(skeleton)
    structure = [[tr.get("type") for tr in skeleton["data"]], sorted(arrays), config]
    rev = _digest(json.dumps(structure, sort_keys=True, default=str))
    digests = {p: _digest(np.ascontiguousarray(a, dtype=float).tobytes() + str(a.shape).encode())
               for p, a in arrays.items()}
    seq = previous["seq"] + 1 if previous else 1
    asked = need is not None and previous is not None and need != previous.get("need")
    need = need if need is not None else (previous or {}).get("need")
    left = (previous or {}).get("repeat", 0)  # keyframes still to repeat
    new_structure = previous is not None and previous["rev"] != rev
    repeat = KEYFRAME_REPEAT if new_structure else max(0, left - 1)
    same_structure = previous is not None and not new_structure and not asked
    if same_structure and digests == previous["digests"] and flat == previous["flat"]:
        return same_message(previous), dict(previous)
    if same_structure and not left:
        kf = previous["kf"]
        patch = {p: v for p, v in flat.items() if p not in kf["flat"] or kf["flat"][p] != v}
        patch.update({p: None for p in kf["flat"] if p not in flat})
        msg = {"key": key, "rev": rev, "seq": seq, "base": kf["seq"],
               "arrays": {p: encode_change(kf["arrays"].get(p), arrays[p])
                          for p, d in digests.items() if kf["digests"].get(p) != d}}
        if patch:
            msg["patch"] = patch
        if (len(json.dumps(patch, default=str)) <= MAX_PATCH_CHARS
                and _size(msg) <= KEYFRAME_SHARE * kf["size"]):
            return msg, {"rev": rev, "seq": seq, "digests": digests, "flat": flat, "msg": msg,
                         "need": need, "kf": kf}
    msg = {"key": key, "rev": rev, "seq": seq, "full": skeleton, "config": config,
           "arrays": {p: encode_array(a) for p, a in arrays.items()}}
    kf = {"seq": seq, "flat": flat, "digests": digests, "size": _size(msg),
          "arrays": {p: a for p, a in arrays.items() if a.ndim == 1}}
    return msg, {"rev": rev, "seq": seq, "digests": digests, "flat": flat, "msg": msg,
                 "need": need, "kf": kf, "repeat": repeat}


def _size(msg: Mapping) -> int:
    return len(json.dumps(msg, default=str))


def encode_change(old: np.ndarray | None, new: np.ndarray) -> dict:
    """``new`` encoded; when it only grew (a curve's history: ``old`` is its start) just the new
    tail, marked ``"from": len(old)`` — the browser appends it to the array it holds."""
    if (old is not None and new.ndim == old.ndim == 1 and new.size > old.size
            and np.array_equal(new[:old.size], old, equal_nan=True)):
        return {**encode_array(new[old.size:]), "from": int(old.size)}
    return encode_array(new)


def apply_change(held: np.ndarray | None, enc: Mapping) -> np.ndarray:
    """The array the browser holds after ``enc`` (``decode_array``, appended when it has
    ``from``), for tests and size checks."""
    values = decode_array(enc)
    if "from" not in enc:
        return values
    if held is None or held.size < enc["from"]:
        raise ValueError("an appended tail needs the array it continues")
    return np.concatenate([held[:enc["from"]], values])


def same_message(previous: Mapping) -> dict:
    """Nothing changed: the previous message again, verbatim. The browser that applied it does
    nothing; one that never saw it (Streamlit passed it over for newer data) applies it now.
    Repeats of 10 kB and more travel as a reference to Streamlit's message cache."""
    return previous["msg"]


# --------------------------------------------------------------------------- Streamlit side


def _noop() -> None:
    """The ``need`` state only has to exist (Components v2 keeps states with a callback)."""


def _register_assets(manager: Any) -> None:
    """Let this server serve ui/live_chart/ and plotly's plotly.min.js (once per manager)."""
    if manager.get_component_asset_root(NAME) is not None:
        return
    from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest

    manager.register_from_manifest(
        ComponentManifest("gandemo", "1", [ComponentConfig("live_chart", ASSETS.name)]),
        ASSETS.parent)
    manager.register_from_manifest(
        ComponentManifest("gandemo", "1", [ComponentConfig("plotlyjs", "package_data")]),
        Path(plotly.__file__).parent)


def _mount_function():
    """The component's mount callable, registered on the running app's component manager."""
    global _renderer
    from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager

    manager = get_bidi_component_manager()
    _register_assets(manager)
    definition = manager.get(NAME)
    if _renderer is None or definition is None or definition.is_placeholder:
        _renderer = st.components.v2.component(
            NAME, js="live_chart.js", css="live_chart.css", isolate_styles=False)
    return _renderer


def live_chart(fig: go.Figure, *, key: str, uirevision: str | None = None,
               config: Mapping | None = None) -> dict:
    """Draw ``fig`` under ``key`` (stable across reruns: the chart is updated in place).

    ``uirevision``: the user's zoom and pan are kept while it stays the same (default: the
    key). Returns the message sent (for tests and byte counts)."""
    store = st.session_state.setdefault(STATE_KEY, {})
    browser = st.session_state.get(key)
    need = browser.get("need") if isinstance(browser, Mapping) else None
    previous = store.get(key)
    uirevision = uirevision or key
    if (previous is not None and previous.get("fig") is fig and previous["uirevision"] == uirevision
            and need in (None, previous.get("need"))):
        msg = same_message(previous)  # the very same figure object: nothing to compare
    else:
        msg, state = next_message(fig, key, previous, uirevision=uirevision, config=config,
                                  need=need)
        store[key] = {**state, "fig": fig, "uirevision": uirevision}
    _mount_function()(key=key, data=msg, on_need_change=_noop, width="stretch")
    return msg
