"""The one list of node kinds. Kind modules register themselves on import (``lblab.kinds``
imports them all); a test may register a throw-away kind with ``registered``."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lblab.kinds.base import NodeKind

_KINDS: dict[str, NodeKind] = {}


def register(cls: type[NodeKind]) -> type[NodeKind]:
    """Class decorator: make the kind known under its role."""
    role = cls.role
    if role in _KINDS and type(_KINDS[role]) is not cls:
        raise ValueError(f"node kind {role!r} is registered twice ({type(_KINDS[role]).__name__}, {cls.__name__})")
    if cls.options.model_fields["role"].annotation.__args__ != (role,):
        raise ValueError(f"{cls.__name__}.options must declare role: Literal[{role!r}]")
    _KINDS[role] = cls()
    return cls


@contextmanager
def registered(cls: type[NodeKind]) -> Iterator[NodeKind]:
    register(cls)
    try:
        yield _KINDS[cls.role]
    finally:
        _KINDS.pop(cls.role, None)


def roles() -> tuple[str, ...]:
    return tuple(_KINDS)


def kinds() -> list[NodeKind]:
    return list(_KINDS.values())


def kind_of(role: str) -> NodeKind:
    try:
        return _KINDS[role]
    except KeyError:
        raise KeyError(f"unknown role {role!r} (expected one of {', '.join(_KINDS)})") from None
