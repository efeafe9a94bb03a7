"""The lab handle the scenario runner drives (implemented by ``lblab.lab.instance.Lab``; this
Protocol is the contract, and the only way scenarios reach a lab).

Threading: the runner calls ``route_nexthops`` from a poller thread while the main thread may be
inside ``fault``/``popen``; implementations must allow that (e.g. each call runs its own
subprocess and shares no unguarded state).
"""
from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from lblab.faults.base import FaultSkipped  # noqa: F401 - raised by Lab.fault, caught by the runner
from lblab.kinds.base import Hazard
from lblab.topology.model import Topology


@runtime_checkable
class Lab(Protocol):
    name: str                 # lab name (shown in results)
    topology: str             # topology name the lab was built from (checked against the scenario)
    dns_vip: str              # resolver address the clients use (e.g. "192.168.1.100")
    python: str               # interpreter that runs `-m scenarios.traffic` inside a namespace

    def node_names(self, role: str | None = None) -> list[str]:
        """Every node, or those of one role (the roles of ``lblab.kinds``). Standby LBs are
        included in "lb": a check that expects every LB to serve should list them."""
        ...

    def fault_targets(self, node: str) -> list[str]:
        """The daemons of the node that daemon faults (kill, stop, ...) may target."""
        ...

    @property
    def lans(self) -> list[str]:
        """LAN names (a link fault's peer may be one)."""
        ...

    def popen(self, node: str, argv: Sequence[str], stdout_path: str) -> subprocess.Popen:
        """Start argv inside the node's network namespace, stdout+stderr to stdout_path."""
        ...

    def run(self, node: str, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
        ...

    def fault(self, action: str, **params: Any) -> Any:
        """Inject one fault (a fault of ``lblab.faults``, with its parameters as a scenario gives
        them); return a JSON-able record of what was done; raise FaultSkipped if impossible here,
        any other exception if it failed."""
        ...

    def heal_all(self) -> Any:
        """Undo every fault still active: SIGCONT stopped processes, restart killed daemons,
        links up, remove nftables rules and qdiscs, undrain. Idempotent."""
        ...

    def route_nexthops(self, router: str, prefix: str) -> list[str]:
        """Nexthop addresses of the router's kernel route to prefix ([] when there is none)."""
        ...

    def orchestrator_histories(self) -> dict[str, str]:
        """Orchestrator member -> the file its check history is appended to (JSONL,
        lbapp.orchestrator.history); {} for a lab without orchestrators. The runner copies
        what each member appends during the run."""
        ...


@runtime_checkable
class ChaosLab(Lab, Protocol):
    """What the chaos soak (scenarios.chaos) needs beyond a scenario's lab handle."""

    topo: Topology            # the lab's topology (the service name the clients ask for)

    def wait_converged(self, timeout: float) -> float:
        """Wait until every node kind's convergence checks pass; seconds taken (raises LabError
        naming what did not converge)."""
        ...

    def hazards(self) -> list[tuple[str, str, Hazard]]:
        """(role, node, hazard): every fault the design survives, as the node kinds declare."""
        ...

    def fault_budgets(self) -> dict[str, int]:
        """Role -> how many of its nodes may be faulted at once."""
        ...

    def fault_nodes(self, action: str, params: dict) -> list[str]:
        """The nodes a fault names."""
        ...

    def heal_fault(self, record: Any) -> list[str]:
        """Undo one fault (the record ``fault`` returned) and restart what it left dead."""
        ...

    def write_config(self, changes: dict) -> dict:
        """Change the service's LB config as the console does: {revision, committed_at}."""
        ...

    def config_at(self, revision: int | None = None) -> dict | None:
        """{mod_revision, config} of the service's LB config at an etcd revision (None: now)."""
        ...

    def lb_status(self, node: str, timeout: float = 1.0) -> dict:
        """The LB server's /-/status document (config version and applied_at, pid, ...)."""
        ...

    def daemon_states(self) -> dict[str, str]:
        """'node/daemon' -> running, stopped, dead or never started."""
        ...
