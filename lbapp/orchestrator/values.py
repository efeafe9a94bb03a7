"""The JSON values the orchestrator cluster and the LB node agents keep in etcd (keys:
``lbapp.keys``), one schema each. Every reader parses with ``parse_value``: a malformed value
raises ValueError naming the key and the fields, and the reader logs it and skips it."""
from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from lbapp.validation import parse_json

NodeState = Literal["active", "standby"]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class MemberInfo(_Value):
    """/lblab/orch/members/<name>, on the member's lease."""

    name: str = Field(min_length=1, max_length=64)
    pid: int = Field(ge=0)
    started_at: float


class Target(_Value):
    """What to check for one (LB, backend): HTTP GET http://address:port/path."""

    address: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    path: str = Field(min_length=1, max_length=2048)


class Shard(_Value):
    """/lblab/orchestrator/shards/<member>: the targets one member checks, as the leader of
    ``term`` assigned them (every live member has one, possibly empty)."""

    term: int = Field(ge=1)
    leader: str = Field(min_length=1, max_length=64)
    at: float
    members: list[str]
    targets: dict[str, Target]    # 'lb_id/backend' -> target

    def same_as(self, other: "Shard") -> bool:
        """Equal but for the time it was written."""
        return self.model_dump(exclude={"at"}) == other.model_dump(exclude={"at"})


class HealthValue(_Value):
    """/lblab/lb/<id>/health/<backend>: read by the LB servers (``healthy`` only)."""

    healthy: bool
    term: int = Field(ge=0)
    reason: str = Field(max_length=200)
    checker: str = Field(max_length=64)
    at: float


class DesiredState(_Value):
    """/lblab/desired/<node>: what the orchestrator leader wants the LB node to run."""

    state: NodeState
    term: int = Field(ge=0)
    reason: str = Field(max_length=500)
    lb_id: str | None = Field(default=None, min_length=1, max_length=64)   # whose tier
    at: float


AgentPhase = Literal["active", "standby", "activating", "draining"]


class AgentInfo(_Value):
    """/lblab/agents/<node>, on the agent's lease: what the node runs now."""

    node: str = Field(min_length=1, max_length=64)
    lb_id: str = Field(min_length=1, max_length=64)
    phase: AgentPhase
    desired: NodeState
    drained: bool = False         # an operator's drain key holds the node stopped
    children: dict[str, int]      # child name -> pid (running children only)
    at: float

    @property
    def serving(self) -> bool:
        """Counts as an active LB for scaling: running or on its way there."""
        return self.phase in ("active", "activating")


V = TypeVar("V", bound=_Value)


def parse_value(model: type[V], raw: bytes | str, source: str) -> V:
    """Decode and validate one etcd value; ValueError naming ``source`` and each bad field."""
    return parse_json(model, raw, source, model.__name__)


def dump_value(value: _Value) -> str:
    return value.model_dump_json()
