"""Faults of a backend's behaviour, through its run-time knobs (``lbapp.backend.knobs``, set on
the control LAN, never on the port the LBs use): a sick health endpoint, a flapping one,
latency, errors, a hang. Each is one partial knobs update; undoing any of them (heal,
``backend_ok``) puts every knob of that backend back to its default."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lblab.faults.base import FaultError, RoleFault
from lblab.faults.params import FaultDuration, NodeName

Scope = Literal["serve", "health", "all"]
ACTIONS = ("backend_health", "backend_latency", "backend_errors", "backend_hang")


def scopes(scope: Scope) -> tuple[str, ...]:
    return ("serve", "health") if scope == "all" else (scope,)


class _BackendFault(RoleFault):
    node: NodeName
    role = "backend"

    def backend(self, lab):
        return self.daemon_of(lab, "backend")

    def update(self) -> dict:
        """The partial knobs document this fault sets."""
        raise NotImplementedError

    def apply(self, lab) -> dict:
        try:
            knobs = self.backend(lab).knobs("PATCH", self.update())
        except OSError as exc:
            raise FaultError(f"{self.action_name()} {self.node}: {exc}") from None
        return self.record(lab, knobs=knobs)

    def undo(self, lab, record: dict) -> None:
        reset(lab, self.backend(lab))


def reset(lab, backend) -> None:
    try:
        backend.knobs("DELETE")
    except OSError as exc:
        if lab.daemon_state(backend) == "running":   # a dead backend starts with the defaults
            raise FaultError(f"backend knobs of {backend.ctx.node}: {exc}") from None


class BackendHealth(_BackendFault):
    """The backend's /health answers `status` while it still serves (every=N: only every N-th check, a flapping backend)."""

    action: Literal["backend_health"] = "backend_health"
    status: int = Field(default=503, ge=100, le=599)
    every: int = Field(default=0, ge=0, le=1000, description="0: every check; N: every N-th one")

    def update(self) -> dict:
        if self.every:
            return {"health": {"fail_every": self.every, "fail_status": self.status}}
        return {"health": {"status": self.status}}


class BackendLatency(_BackendFault):
    """Add this latency before each answer of the backend (scope: serve, health or all)."""

    action: Literal["backend_latency"] = "backend_latency"
    latency: FaultDuration
    scope: Scope = "serve"

    def update(self) -> dict:
        return {name: {"latency_ms": round(self.latency * 1000)} for name in scopes(self.scope)}


class BackendErrors(_BackendFault):
    """The backend answers client requests with `status` at this ratio, or every N-th one."""

    action: Literal["backend_errors"] = "backend_errors"
    ratio: float = Field(default=0.0, ge=0, le=1)
    every: int = Field(default=0, ge=0, le=1000)
    status: int = Field(default=500, ge=100, le=599)

    @model_validator(mode="after")
    def _some_errors(self) -> "BackendErrors":
        if not self.ratio and not self.every:
            raise ValueError("give ratio or every (or both)")
        return self

    def update(self) -> dict:
        return {"serve": {"fail_ratio": self.ratio, "fail_every": self.every, "fail_status": self.status}}


class BackendHang(_BackendFault):
    """The backend accepts and reads requests but never answers (scope: serve, health or all)."""

    action: Literal["backend_hang"] = "backend_hang"
    scope: Scope = "all"

    def update(self) -> dict:
        return {name: {"hang": True} for name in scopes(self.scope)}


class BackendOk(_BackendFault):
    """Every knob of the backend back to its default (ends backend_health, _latency, _errors, _hang)."""

    action: Literal["backend_ok"] = "backend_ok"

    def apply(self, lab) -> dict:
        reset(lab, self.backend(lab))
        self.forget(lab, self.recorded(lab, ACTIONS, node=self.node))
        return self.done()
