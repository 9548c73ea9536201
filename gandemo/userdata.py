"""Your own points as the real distribution: read a CSV file, check drawn or stored points, and
write a small set into a link.

A file is one point per line: one number (1D) or two (2D) separated by a comma, semicolon, tab
or spaces; one header line of names is skipped, as are blank lines and ``#`` comments. Every
problem is one ``ConfigError`` on the setting ``data`` whose message says what is wrong and
what is allowed; nothing else is ever raised for any input.

Caps: a file of at most ``MAX_BYTES`` bytes (refused before parsing), at most ``MAX_POINTS``
points, every value in [−MAX_ABS, MAX_ABS]. A set of at most ``LINK_POINTS`` points whose text
is at most ``LINK_CHARS`` characters travels in the URL (``x,y;x,y;…``, each number in the
shortest form that reads back exactly); a larger one is named there as ``uploaded-N-<digest>``
(this server finds it again while a run or a page still holds it; elsewhere: upload again).
"""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from .config import _NUMBER, MAX_TEXT, ConfigError, show_value

MAX_BYTES = 512_000
MAX_POINTS = 2000
MAX_ABS = 1000.0
LINK_POINTS = 200
LINK_CHARS = 4000

SETTING = "data"
_NON_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
_UPLOADED = re.compile(r"uploaded-(\d{1,6})-([0-9a-f]{10})")
_COLUMNS = "a file needs 1 column (1D) or 2 columns (2D)"


def _err(message: str) -> ConfigError:
    return ConfigError(SETTING, message)


# --------------------------------------------------------------------------- CSV


def _decode(content) -> str:
    """Text of ``content`` (str or bytes), checked for size and encoding before any parsing."""
    if isinstance(content, (bytes, bytearray, memoryview)):
        raw = bytes(content)
        if len(raw) > MAX_BYTES:
            raise _err(f"the file has {len(raw):,} bytes; at most {MAX_BYTES:,} are read "
                       f"(up to {MAX_POINTS:,} points)")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _err("not a UTF-8 text file; a CSV of numbers is expected") from None
    elif isinstance(content, str):
        if len(content) > MAX_BYTES:
            raise _err(f"the text has {len(content):,} characters; at most {MAX_BYTES:,} are "
                       f"read (up to {MAX_POINTS:,} points)")
        text = content.removeprefix("\ufeff")
    else:
        raise _err(f"expected the text of a CSV file, got {type(content).__name__}")
    if "\x00" in text:
        raise _err("not a text file (it contains NUL bytes); a CSV of numbers is expected")
    return text


def _split(line: str) -> list[str]:
    """Fields of one line: by comma, else semicolon, else tab, else runs of spaces; a pair of
    double quotes around a field is dropped."""
    for sep in (",", ";", "\t"):
        if sep in line:
            parts = line.split(sep)
            break
    else:
        parts = line.split()
    return [p.strip().removeprefix('"').removesuffix('"').strip() for p in parts]


def _number(text: str) -> float | None:
    """The value of a plain decimal number (ASCII, at most MAX_TEXT characters; NaN/Inf spelled
    out give nan/inf so they can be named), else None."""
    if len(text) > MAX_TEXT:
        return None
    if _NUMBER.fullmatch(text):
        return float(text)  # 1e999 reads as inf: refused below as not finite
    return float(text) if _NON_FINITE.fullmatch(text) else None


def parse_points(content) -> np.ndarray:
    """The points of a CSV file (str or bytes) as an (n, dim) float64 array, dim 1 or 2, or one
    ``ConfigError`` on ``data`` naming the line and the problem (empty, not text, not a number,
    NaN/Inf, 3+ columns, ragged rows, too many rows, values out of range, too large)."""
    text = _decode(content)
    rows: list[list[float]] = []
    first = header = None  # line numbers of the first data row and of the header
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = _split(line)
        values = [_number(f) for f in fields]
        if first is None and header is None and all(v is None for v in values):
            header = lineno  # names such as "x,y"
            continue
        if len(fields) > 2 and any(v is not None for v in values):  # all text: named below
            raise _err(f"line {lineno} has {len(fields)} values; {_COLUMNS}")
        for field, value in zip(fields, values, strict=True):
            if value is None:
                what = "an empty value" if not field else f"{show_value(field)} is not a number"
                raise _err(f"line {lineno}: {what}; every value must be a plain number")
            if not math.isfinite(value):
                raise _err(f"line {lineno}: {show_value(field)} is not a finite number "
                           "(NaN and Inf are not allowed)")
            if abs(value) > MAX_ABS:
                raise _err(f"line {lineno}: {show_value(field)} is outside "
                           f"[{-MAX_ABS:g}, {MAX_ABS:g}]")
        if first is None:
            first = lineno
        elif len(values) != len(rows[0]):
            raise _err(f"line {lineno} has {len(values)} value(s) but line {first} has "
                       f"{len(rows[0])}: every row needs the same number of columns")
        if len(rows) == MAX_POINTS:
            raise _err(f"more than {MAX_POINTS:,} points; keep at most {MAX_POINTS:,} rows")
        rows.append(values)
    if not rows:
        raise _err("the file has only a header line and no points" if header
                   else "the file has no points (it is empty)")
    return _canonical(np.array(rows, dtype=float))


def read_points_file(path) -> np.ndarray:
    """``parse_points`` of a file, reading at most MAX_BYTES + 1 bytes of it."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise _err(f"cannot read {show_value(str(path))}: {e.strerror or 'not a file'}") from None
    if len(raw) > MAX_BYTES:
        raise _err(f"the file is larger than {MAX_BYTES:,} bytes (up to {MAX_POINTS:,} points "
                   "are read)")
    return parse_points(raw)


# --------------------------------------------------------------------------- stored points


def _canonical(a: np.ndarray) -> np.ndarray:
    """Read-only C-ordered float64 with −0.0 written as 0.0 (equal sets, equal bytes)."""
    a = np.ascontiguousarray(a, dtype=float) + 0.0
    a.setflags(write=False)
    return a


def check_points(value) -> np.ndarray:
    """Points given as an array or as rows of numbers (JSON ``[[x, y], …]`` or ``[x, …]`` in
    1D) -> a checked (n, dim) float64 array; ``ConfigError`` on ``data`` otherwise."""
    shape_msg = ("must be a list of points: [x, …] (1D) or [[x, y], …] (2D), "
                 f"1 to {MAX_POINTS:,} of them")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf" or value.ndim not in (1, 2):
            raise _err(f"{shape_msg}; got an array of shape {value.shape}")
        a = value.reshape(len(value), -1) if value.ndim == 1 else value
    elif isinstance(value, (list, tuple)):
        if len(value) > MAX_POINTS:
            raise _err(f"{len(value):,} points; at most {MAX_POINTS:,} are allowed")
        rows = [r if isinstance(r, (list, tuple)) else [r] for r in value]
        if not all(1 <= len(r) <= 2 and all(_is_number(v) for v in r) for r in rows):
            raise _err(f"{shape_msg}; got {show_value(value)}")
        if len({len(r) for r in rows}) > 1:
            raise _err("every point needs the same number of coordinates (1 or 2)")
        try:
            a = np.array(rows, dtype=float).reshape(len(rows), -1)
        except OverflowError:
            raise _err(f"values must lie in [{-MAX_ABS:g}, {MAX_ABS:g}]") from None
    else:
        raise _err(f"{shape_msg}; got {show_value(value)}")
    if not 1 <= len(a) <= MAX_POINTS or a.shape[1] not in (1, 2):
        raise _err(f"{shape_msg}; got {len(a)} points of {a.shape[1]} coordinates")
    if not np.isfinite(a).all():
        raise _err("every value must be a finite number (NaN and Inf are not allowed)")
    if np.abs(a).max() > MAX_ABS:
        raise _err(f"values must lie in [{-MAX_ABS:g}, {MAX_ABS:g}]; got "
                   f"{float(a[np.unravel_index(np.abs(a).argmax(), a.shape)]):g}")
    return _canonical(a)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def as_rows(points: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Hashable rows of plain floats (how ``RunConfig.data`` stores the points)."""
    return tuple(tuple(float(v) for v in row) for row in points)


def digest(points: np.ndarray) -> str:
    """First 10 hex digits of SHA-256 over the dimension and the canonical float64 bytes."""
    a = _canonical(points)
    return hashlib.sha256(f"{a.shape[1]}:".encode() + a.tobytes()).hexdigest()[:10]


# --------------------------------------------------------------------------- the link


def _short(v: float) -> str:
    """Shortest text that reads back to exactly v: '2' for 2.0, else repr ('0.125', '1e-05')."""
    return str(int(v)) if v.is_integer() else repr(v)


def to_link(points) -> str:
    """URL value of a point set: ``x,y;x,y;…`` (1D ``x;x;…``) when it has at most LINK_POINTS
    points and LINK_CHARS characters, else ``uploaded-N-<digest>`` (not in the link)."""
    a = check_points(np.asarray(points, dtype=float))
    if len(a) <= LINK_POINTS:
        text = ";".join(",".join(_short(float(v)) for v in row) for row in a)
        if len(text) <= LINK_CHARS:
            return text
    return f"uploaded-{len(a)}-{digest(a)}"


def uploaded_ref(text) -> tuple[int, str] | None:
    """(N, target name) for a link value ``uploaded-N-<digest>`` (points not in the link)."""
    m = _UPLOADED.fullmatch(text.strip()) if isinstance(text, str) else None
    return (int(m.group(1)), f"custom-{m.group(2)}") if m else None


def from_link(text: str) -> np.ndarray:
    """Inverse of ``to_link`` for a set in the link; ``ConfigError`` on ``data`` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise _err("the link's points are empty; expected x,y;x,y;… or x;x;…")
    if len(text) > LINK_CHARS + 1000:
        raise _err(f"the link's points are longer than {LINK_CHARS:,} characters")
    rows = []
    for part in text.strip().split(";"):
        cells = part.split(",")
        values = [_number(c.strip()) for c in cells]
        if len(cells) > 2 or any(v is None for v in values):
            raise _err(f"cannot read the point {show_value(part)}: expected x or x,y "
                       "(plain numbers)")
        rows.append(values)
    return check_points(rows)


__all__ = ["MAX_BYTES", "MAX_POINTS", "MAX_ABS", "LINK_POINTS", "LINK_CHARS", "parse_points",
           "read_points_file", "check_points", "as_rows", "digest", "to_link", "from_link",
           "uploaded_ref"]
