"""The console: web UI, JSON API and CLI through which operators change LB configs."""
from __future__ import annotations

from typing import Literal

from lblab.kinds.base import NodeKind
from lblab.kinds.registry import register
from lblab.topology.model import NodeOptions


class ConsoleOptions(NodeOptions):
    role: Literal["console"]


@register
class Console(NodeKind):
    role = "console"
    options = ConsoleOptions
    summary = "web UI + JSON API to view and change LB configs"
