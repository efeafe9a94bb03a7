"""Parameter types shared by faults."""
from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from lblab.durations import parse_duration_field

from lblab.kinds import known_daemons
from lblab.topology.model import NodeRef

NodeName = NodeRef


def _known_daemon(value: str) -> str:
    if value not in known_daemons():
        raise ValueError(f"unknown daemon {value!r} (expected one of {', '.join(known_daemons())})")
    return value


DaemonName = Annotated[str, AfterValidator(_known_daemon)]


def _prefix(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=True))


Prefix = Annotated[str, AfterValidator(_prefix)]


SECONDS_CONTEXT = {"numbers_are_seconds": True}


def _duration(value, info: ValidationInfo):
    """A person writes "50ms" (a bare number is refused, as in scenario files); the engine passes
    on validated values as seconds, and says so with SECONDS_CONTEXT."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (info.context or {}).get(
            "numbers_are_seconds"):
        return float(value)
    return parse_duration_field(value)


FaultDuration = Annotated[float, BeforeValidator(_duration), Field(ge=0, le=3600)]
