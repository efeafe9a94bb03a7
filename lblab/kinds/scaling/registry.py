"""The one list of scaling modes. Mode modules register themselves on import
(``lblab.kinds.scaling`` imports them all)."""
from __future__ import annotations

from lblab.kinds.scaling.base import ScalingMode

_MODES: dict[str, ScalingMode] = {}


def register(cls: type[ScalingMode]) -> type[ScalingMode]:
    """Class decorator: make the mode known under its name."""
    if cls.name in _MODES and type(_MODES[cls.name]) is not cls:
        raise ValueError(f"scaling mode {cls.name!r} is registered twice")
    _MODES[cls.name] = cls()
    return cls


def mode_names() -> tuple[str, ...]:
    return tuple(_MODES)


def modes() -> list[ScalingMode]:
    return list(_MODES.values())


def mode_of(name: str) -> ScalingMode:
    try:
        return _MODES[name]
    except KeyError:
        raise KeyError(f"unknown scaling mode {name!r} (expected one of {', '.join(_MODES)})") from None
