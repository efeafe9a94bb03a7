"""Durations as scenario files write them: "500ms", "2s", "1.5s", "1m", "1m30s" -> seconds (float).

A bare number is accepted only when it is 0 (a non-zero duration must say its unit, so that
``timeout: 500`` is never silently read as 500 seconds).
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(us|ms|s|m|h)")
_WHOLE = re.compile(r"(?:(?:\d+(?:\.\d+)?|\.\d+)(?:us|ms|s|m|h))+")


class DurationError(ValueError):
    pass


def parse_duration(value: Any) -> float:
    """Parse a duration into seconds; raise DurationError with a readable message."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration like '500ms' or '2s', got {value!r}")
    if isinstance(value, (int, float)):
        if value == 0:
            return 0.0
        raise DurationError(
            f"a duration needs a unit, e.g. '{value}s' or '{value}ms' (got the bare number {value!r})")
    if not isinstance(value, str):
        raise DurationError(f"expected a duration like '500ms' or '2s', got {type(value).__name__}")
    text = value.strip().replace(" ", "")
    if text in ("0", "0.0"):
        return 0.0
    if text.startswith("-"):
        raise DurationError(f"a duration cannot be negative: {value!r}")
    if not text or not _WHOLE.fullmatch(text):
        raise DurationError(
            f"not a duration: {value!r} (write e.g. '500ms', '2s', '1.5s', '1m', '1m30s'; "
            f"units: {', '.join(UNITS)})")
    seconds = sum(float(num) * UNITS[unit] for num, unit in _PART.findall(text))
    if not math.isfinite(seconds):
        raise DurationError(f"duration too large: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form: 0.35 -> '350ms', 12 -> '12s', 90 -> '1m30s'."""
    if seconds is None:
        return "-"
    if seconds == 0:
        return "0s"
    if abs(seconds) < 1:
        ms = seconds * 1000
        return f"{ms:.0f}ms" if abs(ms) >= 10 or ms == int(ms) else f"{ms:.1f}ms"
    if abs(seconds) < 60:
        return f"{seconds:.3g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s" if rest else f"{int(minutes)}m"


def parse_duration_field(value: Any) -> float:
    """parse_duration for a pydantic validator (a ValueError names the problem)."""
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


# A pydantic field type: accepts "500ms" etc., stores float seconds, dumps as float seconds.
Duration = Annotated[float, BeforeValidator(parse_duration_field), PlainSerializer(float, return_type=float)]
