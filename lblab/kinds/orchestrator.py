"""Orchestrators: the control-plane cluster (leader election, health checks, scaling)."""
from __future__ import annotations

from typing import Literal

from lblab.kinds.base import NodeKind
from lblab.kinds.registry import register
from lblab.topology.model import NodeOptions


class OrchestratorOptions(NodeOptions):
    role: Literal["orchestrator"]


@register
class Orchestrator(NodeKind):
    role = "orchestrator"
    options = OrchestratorOptions
    summary = "control-plane member: leader election, health checks, scaling"
