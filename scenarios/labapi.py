"""The lab handle the scenario runner drives (implemented by topo/; this Protocol is the contract).

Threading: the runner calls ``route_nexthops`` from a poller thread while the main thread may be
inside ``fault``/``popen``; implementations must allow that (e.g. each call runs its own
subprocess and shares no unguarded state).
"""
from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

# Fault actions the runner may pass to Lab.fault, with their keyword parameters (all plain
# JSON-able values; durations in seconds). See scenarios.spec for their meaning.
FAULT_PARAMS: dict[str, tuple[str, ...]] = {
    "kill": ("node", "daemon"),          # SIGKILL (every process of the daemon)
    "term": ("node", "daemon"),          # SIGTERM (graceful stop)
    "stop": ("node", "daemon"),          # SIGSTOP
    "cont": ("node", "daemon"),          # SIGCONT
    "restart": ("node", "daemon"),       # (kill if running, then) start again and wait until ready
    "node_down": ("node",),              # every link of the node down (a dead, silent host)
    "node_up": ("node",),
    "link_down": ("node", "peer"),
    "link_up": ("node", "peer"),
    "partition": ("groups",),            # list[list[str]]: no traffic between groups (nftables)
    "heal": ("groups?",),                # remove that partition, or all partitions and loss rules
    "loss": ("node", "percent", "peer?"),  # nftables random drop; percent 0 removes it
    "delay": ("node", "delay", "jitter", "peer?"),  # netem; raise FaultSkipped without netem
    "drain": ("node",),                  # an LB: stop announcing, finish in-flight requests
    "undrain": ("node",),
    "config": ("lb_id", "set"),          # change an LB's config through the console/etcd path
    "announce": ("node", "prefix"),      # a (rogue) BGP announcement from node
    "withdraw": ("node", "prefix"),
}


class FaultSkipped(Exception):
    """Raised by Lab.fault when this machine cannot inject the fault (e.g. no netem);
    str() is the reason. The runner records the fault as skipped and goes on."""


@runtime_checkable
class Lab(Protocol):
    name: str                 # lab name (shown in results)
    topology: str             # topology name the lab was built from (checked against the scenario)
    dns_vip: str              # resolver address the clients use (e.g. "192.168.1.100")
    python: str               # interpreter that runs `-m scenarios.traffic` inside a namespace

    def node_names(self, role: str | None = None) -> list[str]:
        """Every node, or those of one role ("client", "dns", "router", "lb", "backend", "etcd",
        "redis", "orchestrator", "prometheus", "console"). Standby LBs are included in "lb":
        a check that expects every LB to serve should list them (all_lbs_served.expected)."""
        ...

    def popen(self, node: str, argv: Sequence[str], stdout_path: str) -> subprocess.Popen:
        """Start argv inside the node's network namespace, stdout+stderr to stdout_path."""
        ...

    def run(self, node: str, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
        ...

    def fault(self, action: str, **params: Any) -> Any:
        """Inject one fault (FAULT_PARAMS); return a JSON-able record of what was done; raise
        FaultSkipped if impossible here, any other exception if it failed."""
        ...

    def heal_all(self) -> Any:
        """Undo every fault still active: SIGCONT stopped processes, restart killed daemons,
        links up, remove nftables rules and qdiscs, undrain. Idempotent."""
        ...

    def route_nexthops(self, router: str, prefix: str) -> list[str]:
        """Nexthop addresses of the router's kernel route to prefix ([] when there is none)."""
        ...


LabHandle = Lab   # the name topo/lab.py refers to
