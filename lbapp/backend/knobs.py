"""Run-time knobs of the backend app: how it answers health checks and client requests.

Two scopes, each with the same faults: ``health`` (``GET /health``) and ``serve`` (every other
data-plane route except ``/metrics``)::

    {"health": {"status": 200, "latency_ms": 0, "fail_ratio": 0.0, "fail_every": 0,
                "fail_status": 503, "hang": false},
     "serve":  {"latency_ms": 0, "fail_ratio": 0.0, "fail_every": 0, "fail_status": 500,
                "hang": false}}

- ``status``: what a healthy ``/health`` answers (a sick-but-serving backend: 503).
- ``latency_ms``: added before each answer.
- ``fail_ratio``: this share of answers (random) carry ``fail_status`` instead.
- ``fail_every``: every N-th answer carries ``fail_status`` (2: every other one; 0: off).
- ``hang``: read the request, never answer (the connection stays open).

They are set over the control listener only (``lbapp.backend.control``), never on the port
clients use.
"""
from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from lbapp.validation import describe


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ServeKnobs(_Strict):
    latency_ms: StrictInt = Field(default=0, ge=0, le=600_000)
    fail_ratio: float = Field(default=0.0, ge=0.0, le=1.0, strict=False)
    fail_every: StrictInt = Field(default=0, ge=0, le=1_000_000)
    fail_status: StrictInt = Field(default=500, ge=100, le=599)
    hang: StrictBool = False


class HealthKnobs(ServeKnobs):
    status: StrictInt = Field(default=200, ge=100, le=599)
    fail_status: StrictInt = Field(default=503, ge=100, le=599)


class Knobs(_Strict):
    health: HealthKnobs = HealthKnobs()
    serve: ServeKnobs = ServeKnobs()


class KnobsError(ValueError):
    """A knobs update that fails the schema; the message names each bad field."""


def apply_update(current: Knobs, update: object) -> Knobs:
    """``current`` with the fields of ``update`` (a partial Knobs document) replaced.

    Nothing is applied unless the whole update is valid."""
    if not isinstance(update, dict):
        raise KnobsError("knobs: expected a JSON object such as {\"health\": {\"status\": 503}}")
    merged = current.model_dump()
    for scope, fields in update.items():
        if scope in merged and isinstance(fields, dict):
            merged[scope].update(fields)
        else:
            merged[scope] = fields  # let validation name the bad scope or shape
    try:
        return Knobs.model_validate(merged)
    except ValidationError as exc:
        raise KnobsError(describe(exc, "knobs: invalid update")) from None


class Fault:
    """What one answer in a scope must do, decided from that scope's knobs and counter."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def decide(self, knobs: ServeKnobs, rng: random.Random) -> tuple[bool, int | None]:
        """-> (hang, failure status or None) for the next answer."""
        self.count += 1
        if knobs.hang:
            return True, None
        if knobs.fail_every and self.count % knobs.fail_every == 0:
            return False, knobs.fail_status
        if knobs.fail_ratio and rng.random() < knobs.fail_ratio:
            return False, knobs.fail_status
        return False, None


class Faults:
    """The knobs in force and what they make of each request (``plan``)."""

    def __init__(self) -> None:
        self.rng = random.Random()
        self.set(Knobs())

    def set(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.active = knobs != Knobs()   # fast path: nothing to decide with the defaults
        self.health, self.serve = Fault(), Fault()

    def plan(self, path: bytes) -> tuple[bool, int | None, int] | None:
        """For a request to ``path``: (hang, failure status or None, added latency ms), or
        None to answer normally (every knob at its default, or ``/metrics``)."""
        if not self.active or path == b"/metrics":
            return None
        if path == b"/health":
            knobs, fault = self.knobs.health, self.health
        else:
            knobs, fault = self.knobs.serve, self.serve
        hang, fail_status = fault.decide(knobs, self.rng)
        return hang, fail_status, knobs.latency_ms
