"""Clients: where traffic generators run (HTTP by name through the lab's DNS, DNS lookups)."""
from __future__ import annotations

from typing import Literal

from lblab.kinds.base import NodeKind
from lblab.kinds.registry import register
from lblab.topology.model import NodeOptions

# clients open many short connections
MANY_CONNECTIONS = {"net.ipv4.ip_local_port_range": "1024 65000", "net.ipv4.tcp_tw_reuse": 1}


class ClientOptions(NodeOptions):
    role: Literal["client"]


@register
class Client(NodeKind):
    role = "client"
    options = ClientOptions
    summary = "sends traffic (HTTP by name, DNS) and records every outcome"
    sysctls = MANY_CONNECTIONS
