"""What each LB server serves (its ``/-/status``), and the time a config change took to be served
by every running LB server: the LB's ``applied_at`` minus the time the write was committed (every
namespace of a lab shares one clock)."""
from __future__ import annotations

import json
import time

from lblab.lab.errors import LabError


class PropagationError(LabError):
    pass


def running_lbs(lab) -> list[str]:
    """LB nodes whose LB server process is running (a drained or killed one serves nothing)."""
    return [n for n in lab.node_names("lb") if lab.daemon_state(lab.daemon(n, "lbserver")) == "running"]


def lb_status(lab, lb_node: str, timeout: float = 1.0) -> dict:
    """The LB server's own view (/-/status): config version, applied_at, draining, ..."""
    status, _, body = lab.daemon(lb_node, "lbserver").admin_request("GET", "/-/status", timeout)
    if status != 200:
        raise PropagationError(f"{lb_node}: /-/status answered {status}")
    return json.loads(body)


def wait_applied(lab, lb_nodes: list[str], version: int, committed_at: float,
                 timeout: float = 30.0) -> dict[str, float]:
    """Wait until every LB serves config version >= ``version``; LB -> seconds from the commit
    to the LB serving it."""
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(latencies) < len(lb_nodes):
        for node in lb_nodes:
            if node in latencies:
                continue
            try:
                config = lb_status(lab, node).get("config") or {}
            except (OSError, ValueError, PropagationError):
                continue
            if (config.get("version") or 0) >= version:
                latencies[node] = max(0.0, config["applied_at"] - committed_at)
        time.sleep(0.005)
    missing = [n for n in lb_nodes if n not in latencies]
    if missing:
        raise PropagationError(f"config version {version} not served within {timeout:.0f}s by "
                               f"{', '.join(missing)}")
    return latencies
